package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStopLargeGrid: Ctrl-C or SIGTERM stops `sweep validate` and
// `sweep plan` of a 400,000-seed grid (the job limit lifted) within a
// second, whether it comes while the file is read or while the grid is
// expanded.
func TestStopLargeGrid(t *testing.T) {
	dir := t.TempDir()
	quick, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var seeds strings.Builder
	seeds.WriteString("seeds: [1")
	for i := 2; i <= 400_000; i++ {
		fmt.Fprintf(&seeds, ", %d", i)
	}
	seeds.WriteString("]")
	path := filepath.Join(dir, "seeds.yaml")
	src := regexp.MustCompile(`(?m)^seeds:.*$`).ReplaceAll(quick, []byte(seeds.String()))
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd   []string
		sig   syscall.Signal
		after time.Duration
	}{
		{[]string{"validate"}, syscall.SIGINT, 200 * time.Millisecond}, // reading
		{[]string{"validate"}, syscall.SIGINT, 3 * time.Second},        // expanding
		{[]string{"validate"}, syscall.SIGTERM, 3 * time.Second},
		{[]string{"plan", "--runs", filepath.Join(dir, "runs"), "--data-dir", "testdata/data"}, syscall.SIGINT, 3 * time.Second},
	} {
		t.Run(fmt.Sprintf("%s-%v-%v", tc.cmd[0], tc.sig, tc.after), func(t *testing.T) {
			cmd := sweepCmd(t, ".", nil, append(append([]string{}, tc.cmd...), "--max-jobs", "1000000000", path)...)
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// The delay counts from when the command catches the signal: on a
			// loaded machine (make test runs packages side by side) the test
			// binary's start could outlast 200 ms, and a signal before the
			// handler is the default one, which kills without the exit code.
			waitForHandler(t, cmd.Process.Pid, tc.sig, done)
			select {
			case err := <-done:
				t.Fatalf("finished before the signal (%v):\n%s", err, out.String())
			case <-time.After(tc.after):
			}
			_ = cmd.Process.Signal(tc.sig)
			sent := time.Now()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != exitStopped {
					t.Errorf("exit: %v, want code %d:\n%s", err, exitStopped, out.String())
				}
				t.Logf("stopped %v after the signal", time.Since(sent).Round(time.Millisecond))
			case <-time.After(time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running a second after %v", tc.sig)
			}
		})
	}
}

// waitForHandler waits (up to 10 s) until process pid catches sig, as
// /proc/PID/status says (SigCgt); it returns at once where there is no
// /proc, or when the process ended (done is left for the caller).
func waitForHandler(t *testing.T, pid int, sig syscall.Signal, done chan error) {
	t.Helper()
	bit := uint64(1) << (uint(sig) - 1)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "SigCgt:"); ok {
				if mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err == nil && mask&bit != 0 {
					return
				}
			}
		}
		select {
		case err := <-done:
			done <- err
			return
		default:
		}
	}
	t.Fatalf("process %d never caught %v", pid, sig)
}
