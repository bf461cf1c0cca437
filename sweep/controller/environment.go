package controller

import (
	"errors"
	"syscall"

	"github.com/dogo-sweep/dogo-sweep/job"
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

// RecordError gives err, an attempt's failure, the kind its job's last
// error record (rep, possibly nil) says it is: a full disk (also when the
// message says so), a damaged input, or a permanent error.
func RecordError(err error, rep *job.Record) error {
	switch {
	case rep != nil && rep.Fault == job.FaultDiskFull, job.DiskFull(err):
		return DiskFull(err)
	case rep != nil && rep.Fault == job.FaultDamagedInput && rep.Damaged != "":
		return &job.DamagedInputError{Job: rep.Damaged, Err: err}
	case rep != nil && rep.Permanent:
		return job.Permanent(err)
	}
	return err
}
