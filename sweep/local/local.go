// Package local runs sweep jobs as child processes on this machine.
package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dogo-sweep/sweep/sweep"
)

// Executor starts `BINARY job run --run DIR --job ID --attempt N` for each
// job: a crash, panic, out-of-memory kill or hang of one job is that job's
// failure, never the sweep's.
type Executor struct {
	// Binary is the sweep executable (os.Executable() by default).
	Binary string
	// Args are put before "job run" (tests use them to select a fake job kind).
	Args []string
	// Env is added to the child's environment.
	Env []string
	// Heartbeat kills a job that reports nothing for this long (0: never).
	Heartbeat time.Duration
	// StopGrace is how long a job has to checkpoint after SIGTERM before SIGKILL.
	StopGrace time.Duration
	// GPUIDs maps the controller's GPU slots to device IDs (sweep.DiscoverGPUs):
	// under CUDA_VISIBLE_DEVICES=2,3 slot 0 is device "2". Empty: slot i is device i.
	GPUIDs []string
}

var _ sweep.Executor = (*Executor)(nil)

// Run runs one attempt of j and blocks until the child exits.
func (e *Executor) Run(ctx context.Context, r *sweep.Run, j *sweep.Job, attempt int, slot sweep.Slot, records func(sweep.Record)) error {
	dir := r.JobDir(j)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- attempt %d at %s\n", attempt, time.Now().Format(time.RFC3339))

	bin := e.Binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	args := append(append([]string{}, e.Args...), "job", "run", "--run", r.Dir, "--job", j.ID, "--attempt", strconv.Itoa(attempt))
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), e.Env...)
	cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(max(slot.CPUs, 1)), "OMP_NUM_THREADS="+strconv.Itoa(max(slot.CPUs, 1)))
	// A job sees only the GPUs it was given; a CPU job sees none.
	ids := make([]string, len(slot.GPUs))
	for i, g := range slot.GPUs {
		ids[i] = strconv.Itoa(g)
		if g < len(e.GPUIDs) {
			ids[i] = e.GPUIDs[g]
		}
	}
	cmd.Env = append(cmd.Env, "CUDA_VISIBLE_DEVICES="+strings.Join(ids, ","))
	// The child dies with the controller, even when the controller is SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start job: %w", err)
	}

	var mu sync.Mutex
	last := time.Now()
	var reported *sweep.Record
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			var rec sweep.Record
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				fmt.Fprintf(logf, "stdout: %s\n", sc.Bytes())
				continue
			}
			mu.Lock()
			last = time.Now()
			if rec.Type == sweep.RecError {
				rc := rec
				reported = &rc
			}
			mu.Unlock()
			if rec.Type != sweep.RecBeat {
				records(rec)
			}
		}
		// A line too long for the scanner ends the loop: keep draining, so
		// that the child never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, out)
	}()

	stop := make(chan struct{})
	var why string
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		grace := e.StopGrace
		if grace == 0 {
			grace = 30 * time.Second
		}
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				mu.Lock()
				why = "stopped"
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					why = "timed out"
				}
				mu.Unlock()
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
				select {
				case <-stop:
				case <-time.After(grace):
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				}
				return
			case <-tick.C:
				mu.Lock()
				silent := time.Since(last)
				mu.Unlock()
				if e.Heartbeat > 0 && silent > e.Heartbeat {
					mu.Lock()
					why = fmt.Sprintf("no heartbeat for %s", silent.Round(time.Second))
					mu.Unlock()
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					return
				}
			}
		}
	}()
	<-readDone
	werr := cmd.Wait()
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	if werr == nil && sweep.JobFinished(dir) {
		return nil
	}
	msg := ""
	if reported != nil {
		msg = reported.Message
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			msg = strings.TrimSpace(fmt.Sprintf("killed by signal %d (%s) %s", int(ws.Signal()), ws.Signal(), msg))
		} else if msg == "" {
			msg = fmt.Sprintf("exit status %d; last log lines:\n%s", ee.ExitCode(), sweep.LogTail(filepath.Join(dir, "log"), 5))
		}
	} else if werr == nil && msg == "" {
		msg = "exited without finishing"
	}
	if why != "" {
		msg = why + ": " + msg
	}
	err = errors.New(msg)
	if reported != nil && reported.Permanent {
		return &sweep.PermanentError{Err: err}
	}
	return err
}
