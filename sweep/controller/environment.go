package controller

import (
	"errors"
	"strings"
	"syscall"
)

// IsDiskFull reports whether err is a write that found the disk, or the
// user's quota, full (ENOSPC, EDQUOT), here or in a child job.
func IsDiskFull(err error) bool {
	var env *EnvironmentError
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.As(err, &env) && env.DiskFull
}

// DiskFull marks a child job's error as a full disk: an environment error
// that stops the sweep.
func DiskFull(err error) error { return &EnvironmentError{Err: err, DiskFull: true} }

// DiskFullText reports whether a message (a child's error text) says that a
// disk or quota was full.
func DiskFullText(msg string) bool {
	return strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EDQUOT.Error())
}
