//go:build !unix

package configedit

// lockDir does nothing where flock(2) does not exist: writers in one
// process are serialized by their caller, and the content comparison
// still catches a writer that finished before it.
func lockDir(string) (func(), error) { return func() {}, nil }
