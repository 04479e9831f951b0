// Package pageout gives the kernel back the resident pages of the
// program's own code and read-only data that only start-up used.
//
// A Go binary's text, rodata and pclntab are file-backed private mappings:
// a page is resident once it has been touched, and stays so until memory
// is short. Starting the gateway touches a great deal that a request never
// runs again: every package's initialisation, the config loader and its
// validation, the templates, the store's opening, the CLI, the Admin API's
// first writes. Under the proxy benchmark's load 15.5 MB of Gatehouse's
// ~36 MB RSS were such file-backed pages, against 14–16 MB of heap and
// stacks. After Executable only the pages that requests touch come back
// (the hot path's code and the tables the runtime reads): RSS under the
// same load fell to 26.6 MB at its peak, 22 MB median (bench/README.md).
// The pages are clean, so nothing is written; a page needed again is read
// back, from the page cache or the file, on its next touch.
package pageout

// Result says what Executable advised.
type Result struct {
	// Mappings is how many read-only mappings of the executable were
	// advised, Bytes their total size (mapped, not resident).
	Mappings int
	Bytes    int64
}
