package controller

import (
	"errors"
	"strings"
	"syscall"
)

// IsDiskFull reports whether err is a write that found the disk, or the
// user's quota, full (ENOSPC, EDQUOT).
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// DiskFullText reports whether a message (a child's error text) says that a
// disk or quota was full.
func DiskFullText(msg string) bool {
	return strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EDQUOT.Error())
}
