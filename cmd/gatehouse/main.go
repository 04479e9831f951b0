// Command gatehouse is the API gateway, OAuth 2.0 authorization server and
// its command-line client in one binary.
//
// main hands every command a cliEnv: where it prints, and os.LookupEnv,
// through which the commands read the environment (so a test passes its
// own). serve runs internal/app; the identity verbs (identity*.go) and the
// config verbs (config_entries.go) talk to the Admin API through
// internal/adminclient, one function per verb. users and apps are one
// implementation over a consumerKind (identity_consumers.go), each kind's
// names, client calls and list columns given as data.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRoot(cliEnv{stdout: os.Stdout, stderr: os.Stderr, lookup: os.LookupEnv}).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}
