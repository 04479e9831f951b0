// Command gatehouse is the API gateway, OAuth 2.0 authorization server and
// its command-line client in one binary.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}
