// Package local runs sweep jobs as child processes on this machine.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
)

// Executor starts `BINARY job run FOLDER` for each job attempt, in the
// job's work folder, after Prepare has written the task there: a crash,
// panic, out-of-memory kill or hang of one job is that job's failure, never
// the sweep's.
type Executor struct {
	// Prepare writes the attempt's task (and spec) into its folder.
	Prepare func(t controller.Task) error
	// Binary is the sweep executable (os.Executable() by default).
	Binary string
	// Env is added to the child's environment.
	Env []string
	// Heartbeat kills a job that reports nothing for this long (0: never).
	Heartbeat time.Duration
	// StopGrace is how long a job has to checkpoint after SIGTERM before SIGKILL.
	StopGrace time.Duration
	// GPUIDs maps the controller's GPU slots to device IDs (DiscoverGPUs):
	// under CUDA_VISIBLE_DEVICES=2,3 slot 0 is device "2". Empty: slot i is device i.
	GPUIDs []string
}

var _ controller.Executor = (*Executor)(nil)

// Causes of a stop that the executor reports in the job's error.
var (
	errNoHeartbeat = errors.New("no heartbeat")
	errStopped     = errors.New("stopped")
)

// Run runs one attempt of a job and blocks until the child exits.
func (e *Executor) Run(ctx context.Context, t controller.Task, records func(job.Record)) error {
	dir := t.Dir
	if err := os.MkdirAll(dir.Path(), 0o755); err != nil {
		return environment(fmt.Errorf("job folder: %w", err))
	}
	if err := e.Prepare(t); err != nil {
		return environment(fmt.Errorf("job folder: %w", err))
	}
	bin := e.Binary
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	// The log is best effort: a job whose log cannot be written (a full
	// disk) still tells its last error, from the tail kept in memory.
	tail := &tailBuffer{max: 8 << 10}
	stderr := io.Writer(tail)
	if logf, err := os.OpenFile(dir.Log(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		defer logf.Close()
		stderr = &teeLog{log: logf, tail: tail}
	}
	fmt.Fprintf(stderr, "--- attempt %d at %s\n", t.Attempt, time.Now().Format(time.RFC3339))

	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cmd := exec.CommandContext(jctx, bin, "job", "run", dir.Path())
	cmd.Env = append(append(os.Environ(), e.Env...), e.childEnv(t.Slot)...)
	// The child dies with the controller, even when the controller is SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	// Asked to stop, the job's process group gets SIGTERM and StopGrace to
	// checkpoint, then SIGKILL; a hung job gets SIGKILL at once.
	cmd.Cancel = func() error {
		sig := syscall.SIGTERM
		if errors.Is(context.Cause(jctx), errNoHeartbeat) {
			sig = syscall.SIGKILL
		}
		return syscall.Kill(-cmd.Process.Pid, sig)
	}
	cmd.WaitDelay = e.StopGrace
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 30 * time.Second
	}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start job: %w", err)
	}
	beats := make(chan struct{}, 1)
	reported := make(chan ending, 1)
	go readRecords(out, stderr, t.Attempt, beats, reported, records)
	if e.Heartbeat > 0 {
		go watchHeartbeat(jctx, e.Heartbeat, beats, cancel)
	}
	// Every record is read before Wait, which closes the pipe.
	end := <-reported
	werr := cmd.Wait()
	if werr == nil && end.done {
		return nil
	}
	return failure(jctx, werr, end.err, tail.String())
}

// childEnv gives the child its threads and exactly the GPUs of its slot (a
// CPU job sees none).
func (e *Executor) childEnv(slot controller.Slot) []string {
	ids := make([]string, len(slot.GPUs))
	for i, g := range slot.GPUs {
		ids[i] = strconv.Itoa(g)
		if g < len(e.GPUIDs) {
			ids[i] = e.GPUIDs[g]
		}
	}
	n := strconv.Itoa(max(slot.CPUs, 1))
	return []string{"GOMAXPROCS=" + n, "OMP_NUM_THREADS=" + n, "CUDA_VISIBLE_DEVICES=" + strings.Join(ids, ",")}
}

// ending is how an attempt's records ended: its done record, or its last
// error record.
type ending struct {
	done bool
	err  *job.Record
}

// readRecords passes the child's records on, signals each line on beats, and
// sends how the attempt's records ended on reported when stdout closes.
func readRecords(out io.Reader, log io.Writer, attempt int, beats chan<- struct{}, reported chan<- ending, records func(job.Record)) {
	var end ending
	defer func() { reported <- end }()
	beat := func() {
		select {
		case beats <- struct{}{}:
		default:
		}
	}
	_, _ = job.ReadRecords(out, func(rec job.Record) {
		beat()
		switch {
		case rec.Attempt != attempt:
			return // not this attempt's (a stray child of an earlier one)
		case rec.Type == job.RecError:
			rc := rec
			end.err = &rc
		case rec.Type == job.RecDone:
			end.done = true
		}
		if rec.Type != job.RecBeat {
			records(rec)
		}
	}, func(line []byte) {
		beat()
		fmt.Fprintf(log, "stdout: %s\n", line)
	})
	// Keep draining, so that the child never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, out)
}

// watchHeartbeat cancels the job when it reports nothing for too long.
func watchHeartbeat(ctx context.Context, limit time.Duration, beats <-chan struct{}, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(min(time.Second, limit/2))
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beats:
			last = time.Now()
		case <-tick.C:
			if silent := time.Since(last); silent > limit {
				cancel(fmt.Errorf("%w for %s", errNoHeartbeat, silent.Round(time.Second)))
				return
			}
		}
	}
}

// failure explains why an attempt did not finish: the job's own error
// record, else how the process ended, with the last lines of its stderr;
// prefixed with why the controller stopped it, if it did.
func failure(ctx context.Context, werr error, rep *job.Record, tail string) error {
	msg := ""
	if rep != nil {
		msg = rep.Message
	}
	var ee *exec.ExitError
	switch {
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			msg = strings.TrimSpace(fmt.Sprintf("killed by signal %d (%s) %s", int(ws.Signal()), ws.Signal(), msg))
		} else if msg == "" {
			msg = fmt.Sprintf("exit status %d; last log lines:\n%s", ee.ExitCode(), jobdir.LastLines(tail, 5))
		}
	case werr != nil && msg == "":
		msg = werr.Error()
	case werr == nil && msg == "":
		msg = "exited without finishing"
	}
	if cause := context.Cause(ctx); cause != nil {
		why := cause.Error()
		switch {
		case errors.Is(cause, context.Canceled):
			why = errStopped.Error()
		case errors.Is(cause, context.DeadlineExceeded):
			why = "timed out"
		}
		msg = why + ": " + msg
	}
	return controller.RecordError(errors.New(msg), rep)
}

func environment(err error) error { return &controller.EnvironmentError{Err: err} }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// teeLog writes to the job's log and to the in-memory tail; a failed log
// write (a full disk) loses the log line, never the tail, and never fails
// the child's writes.
type teeLog struct {
	mu   sync.Mutex
	log  io.Writer
	tail *tailBuffer
	bad  bool
}

func (w *teeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tail.Write(p)
	if !w.bad {
		if _, err := w.log.Write(p); err != nil {
			w.bad = true
			w.tail.Write([]byte(fmt.Sprintf("(the job's log cannot be written: %v)\n", err)))
		}
	}
	return len(p), nil
}
