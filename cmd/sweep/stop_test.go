package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
