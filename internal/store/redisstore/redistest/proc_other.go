//go:build !linux

package redistest

import "os/exec"

func lockThread() {}

func setParentDeathSignal(*exec.Cmd) {}
