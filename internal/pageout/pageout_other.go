//go:build !linux

package pageout

import "errors"

// Executable does nothing off Linux: MADV_PAGEOUT is Linux's.
func Executable() (Result, error) { return Result{}, errors.ErrUnsupported }
