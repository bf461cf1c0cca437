// Package slurm runs sweep jobs on a Slurm cluster: jobs whose dependencies
// are met are gathered for a moment and submitted as one job array per
// resource shape (throttled with %N), each array task running
// `sweep job run` for its job in the shared run folder. Tasks are tracked
// with `squeue --json`, stopped with `scancel`, and recorded in
// RUN/slurm/submitted.jsonl so that a restarted controller attaches to the
// tasks it submitted instead of submitting them again.
package slurm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/dogo-sweep/sweep/sweep"
)

// Executor submits jobs to Slurm.
type Executor struct {
	Settings sweep.Slurm
	// Binary is the absolute path of the sweep executable the tasks run.
	Binary string
	// Poll is how often squeue is asked (default 1 s); Window how long ready
	// jobs are gathered into one array (default 300 ms).
	Poll, Window time.Duration

	mu      sync.Mutex
	pending []*request
	timer   *time.Timer
	seq     int
	states  map[string]taskState // by "array_task"
	polled  time.Time
}

var _ sweep.Executor = (*Executor)(nil)

type request struct {
	run     *sweep.Run
	job     *sweep.Job
	attempt int
	reply   chan submission
}

type submission struct {
	id  string // ARRAY_TASK
	err error
}

// Submitted is a line of RUN/slurm/submitted.jsonl.
type Submitted struct {
	Job     string `json:"job"`
	Attempt int    `json:"attempt"`
	Slurm   string `json:"slurm"` // ARRAYID_TASK
	Time    time.Time
}

type taskState struct {
	state    string
	exitCode int
	reason   string
}

// Run submits one job (in an array with the other jobs ready now) and
// follows it to its end.
func (e *Executor) Run(ctx context.Context, r *sweep.Run, j *sweep.Job, attempt int, slot sweep.Slot, records func(sweep.Record)) error {
	dir := r.JobDir(j)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	recPath := filepath.Join(dir, "records.jsonl")
	var offset int64
	if st, err := os.Stat(recPath); err == nil {
		offset = st.Size()
	}
	id := e.live(ctx, r, j)
	if id == "" {
		req := &request{run: r, job: j, attempt: attempt, reply: make(chan submission, 1)}
		e.enqueue(req)
		var sub submission
		select {
		case sub = <-req.reply:
		case <-ctx.Done():
			return ctx.Err()
		}
		if sub.err != nil {
			return sub.err
		}
		id = sub.id
	}
	poll := e.Poll
	if poll == 0 {
		poll = time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var reported *sweep.Record
	for {
		offset = tail(recPath, offset, func(rec sweep.Record) {
			switch rec.Type {
			case sweep.RecBeat:
				return
			case sweep.RecError:
				rc := rec
				reported = &rc
			}
			records(rec)
		})
		st, ok := e.state(ctx, id)
		if ok && terminal(st.state) {
			tail(recPath, offset, records) // what the task wrote after the last poll
			if st.state == "COMPLETED" && sweep.JobFinished(dir) {
				return nil
			}
			msg := fmt.Sprintf("slurm task %s %s (exit %d, %s)", id, st.state, st.exitCode>>8, st.reason)
			if reported != nil {
				msg += ": " + reported.Message
				if reported.Permanent {
					return &sweep.PermanentError{Err: errors.New(msg)}
				}
			}
			return errors.New(msg)
		}
		select {
		case <-ctx.Done():
			_ = exec.Command("scancel", id).Run()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func terminal(s string) bool {
	switch s {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT":
		return false
	}
	return true
}

// live returns the Slurm ID of a task already submitted for this job that is
// still pending or running (after a controller restart), or "".
func (e *Executor) live(ctx context.Context, r *sweep.Run, j *sweep.Job) string {
	subs, _ := ReadSubmitted(r.Dir)
	for i := len(subs) - 1; i >= 0; i-- {
		if subs[i].Job != j.ID {
			continue
		}
		if st, ok := e.state(ctx, subs[i].Slurm); ok && !terminal(st.state) {
			return subs[i].Slurm
		}
		return ""
	}
	return ""
}

// ReadSubmitted lists what a run submitted to Slurm.
func ReadSubmitted(runDir string) ([]Submitted, error) {
	f, err := os.Open(filepath.Join(runDir, "slurm", "submitted.jsonl"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Submitted
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s Submitted
		if json.Unmarshal(sc.Bytes(), &s) == nil {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

func (e *Executor) enqueue(req *request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending = append(e.pending, req)
	if e.timer == nil {
		w := e.Window
		if w == 0 {
			w = 300 * time.Millisecond
		}
		e.timer = time.AfterFunc(w, e.flush)
	}
}

// shape groups jobs that can share an array: same resources.
type shape struct {
	cpus  int
	gpus  int
	memGB float64
}

func shapeOf(j *sweep.Job) shape {
	g := j.GPUs
	if g == 0 && j.GPUFraction > 0 {
		g = 1 // Slurm's gres has no fractions: a shared GPU is a whole one here.
	}
	return shape{cpus: max(j.CPUs, 1), gpus: g, memGB: j.MemoryGB}
}

func (e *Executor) flush() {
	e.mu.Lock()
	reqs := e.pending
	e.pending, e.timer = nil, nil
	e.mu.Unlock()
	groups := map[shape][]*request{}
	var order []shape
	for _, q := range reqs {
		s := shapeOf(q.job)
		if _, ok := groups[s]; !ok {
			order = append(order, s)
		}
		groups[s] = append(groups[s], q)
	}
	for _, s := range order {
		e.submit(s, groups[s])
	}
}

// submit writes the array's task list and script and runs sbatch.
func (e *Executor) submit(s shape, reqs []*request) {
	fail := func(err error) {
		for _, q := range reqs {
			q.reply <- submission{err: err}
		}
	}
	r := reqs[0].run
	dir := filepath.Join(r.Dir, "slurm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(err)
		return
	}
	e.mu.Lock()
	e.seq++
	name := fmt.Sprintf("array-%s-%03d", time.Now().UTC().Format("20060102T150405"), e.seq)
	e.mu.Unlock()
	var tasks strings.Builder
	for _, q := range reqs {
		fmt.Fprintf(&tasks, "%s %d\n", q.job.ID, q.attempt)
	}
	taskFile := filepath.Join(dir, name+".tasks")
	if err := sweep.WriteFileAtomic(taskFile, []byte(tasks.String())); err != nil {
		fail(err)
		return
	}
	script, err := Script(ScriptData{Name: r.Plan.Name, RunDir: r.Dir, TaskFile: taskFile, Tasks: len(reqs),
		Binary: e.Binary, CPUs: s.cpus, GPUs: s.gpus, MemGB: s.memGB, Output: filepath.Join(dir, name+"-%a.out"), Slurm: e.Settings})
	if err != nil {
		fail(err)
		return
	}
	scriptFile := filepath.Join(dir, name+".sbatch")
	if err := sweep.WriteFileAtomic(scriptFile, []byte(script)); err != nil {
		fail(err)
		return
	}
	out, err := exec.Command("sbatch", "--parsable", scriptFile).CombinedOutput()
	if err != nil {
		fail(fmt.Errorf("sbatch %s: %v: %s", scriptFile, err, strings.TrimSpace(string(out))))
		return
	}
	arrayID := strings.TrimSpace(strings.Split(strings.TrimSpace(string(out)), ";")[0])
	if _, err := strconv.Atoi(arrayID); err != nil {
		fail(fmt.Errorf("sbatch printed %q, not a job ID", out))
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, "submitted.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		for i, q := range reqs {
			b, _ := json.Marshal(Submitted{Job: q.job.ID, Attempt: q.attempt, Slurm: fmt.Sprintf("%s_%d", arrayID, i), Time: time.Now().UTC()})
			_, _ = f.Write(append(b, '\n'))
		}
		_ = f.Sync()
		f.Close()
	}
	for i, q := range reqs {
		q.reply <- submission{id: fmt.Sprintf("%s_%d", arrayID, i)}
	}
}

// state returns a task's Slurm state, asking squeue at most once per poll
// interval for all the user's jobs.
func (e *Executor) state(ctx context.Context, id string) (taskState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	poll := e.Poll
	if poll == 0 {
		poll = time.Second
	}
	if e.states == nil || time.Since(e.polled) >= poll/2 {
		states, err := squeue(ctx)
		if err == nil {
			e.states, e.polled = states, time.Now()
		}
	}
	st, ok := e.states[id]
	return st, ok
}

func squeue(ctx context.Context) (map[string]taskState, error) {
	out, err := exec.CommandContext(ctx, "squeue", "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("squeue: %w", err)
	}
	return parseSqueue(out)
}

// parseSqueue maps "ARRAY_TASK" to its state. The tasks of an array that
// have not started yet come as one record whose array_task_string lists them
// ("2-5%2", "3,7"): each gets that record's state.
func parseSqueue(out []byte) (map[string]taskState, error) {
	var resp struct {
		Jobs []struct {
			JobID       int    `json:"job_id"`
			ArrayJobID  int    `json:"array_job_id"`
			ArrayTaskID *int   `json:"array_task_id"`
			TaskString  string `json:"array_task_string"`
			State       string `json:"job_state"`
			ExitCode    int    `json:"exit_code"`
			Reason      string `json:"state_reason"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("squeue --json: %w", err)
	}
	states := map[string]taskState{}
	for _, j := range resp.Jobs {
		if j.ArrayJobID == 0 {
			continue // not an array
		}
		st := taskState{state: j.State, exitCode: j.ExitCode, reason: j.Reason}
		if j.ArrayTaskID != nil && j.TaskString == "" {
			states[fmt.Sprintf("%d_%d", j.ArrayJobID, *j.ArrayTaskID)] = st
			continue
		}
		for _, task := range expandTasks(j.TaskString) {
			states[fmt.Sprintf("%d_%d", j.ArrayJobID, task)] = st
		}
	}
	return states, nil
}

// expandTasks expands an array task list such as "0-3%2", "1,4-5" or "2-8:2".
func expandTasks(s string) []int {
	s, _, _ = strings.Cut(s, "%")
	var out []int
	for _, part := range strings.Split(s, ",") {
		rng, stepS, _ := strings.Cut(part, ":")
		step := 1
		if n, err := strconv.Atoi(stepS); err == nil && n > 0 {
			step = n
		}
		a, b, isRange := strings.Cut(rng, "-")
		lo, err := strconv.Atoi(a)
		if err != nil {
			continue
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil {
				continue
			}
		}
		for i := lo; i <= hi; i += step {
			out = append(out, i)
		}
	}
	return out
}

// tail passes the records appended to path after offset and returns the new offset.
func tail(path string, offset int64, records func(sweep.Record)) int64 {
	f, err := os.Open(path)
	if err != nil {
		return offset
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return offset
	}
	rd := bufio.NewReader(f)
	for {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			return offset // a partial last line is read next time
		}
		offset += int64(len(line))
		var rec sweep.Record
		if json.Unmarshal(bytes.TrimSpace(line), &rec) == nil {
			records(rec)
		}
	}
}

// ScriptData is what an array's sbatch script is made from.
type ScriptData struct {
	Name, RunDir, TaskFile, Binary, Output string
	Tasks, CPUs, GPUs                      int
	MemGB                                  float64
	Slurm                                  sweep.Slurm
}

var scriptTmpl = template.Must(template.New("sbatch").Funcs(template.FuncMap{
	"mem": func(gb float64) string { return fmt.Sprintf("%dM", int(gb*1024)) },
}).Parse(`#!/bin/bash
#SBATCH --job-name=sweep-{{.Name}}
#SBATCH --array=0-{{.LastTask}}{{if gt .Slurm.Throttle 0}}%{{.Slurm.Throttle}}{{end}}
#SBATCH --cpus-per-task={{.CPUs}}
{{- if gt .GPUs 0}}
#SBATCH --gres=gpu:{{.GPUs}}
{{- end}}
{{- if gt .MemGB 0.0}}
#SBATCH --mem={{mem .MemGB}}
{{- else if .Slurm.MemPerCPU}}
#SBATCH --mem-per-cpu={{.Slurm.MemPerCPU}}
{{- end}}
{{- if .Slurm.Partition}}
#SBATCH --partition={{.Slurm.Partition}}
{{- end}}
{{- if .Slurm.Account}}
#SBATCH --account={{.Slurm.Account}}
{{- end}}
{{- if .Slurm.QoS}}
#SBATCH --qos={{.Slurm.QoS}}
{{- end}}
{{- if .Slurm.Time}}
#SBATCH --time={{.Slurm.Time}}
{{- end}}
#SBATCH --output={{.Output}}
{{- range .Slurm.Extra}}
#SBATCH {{.}}
{{- end}}
# Generated by sweep: each array task runs one job of the run folder.
set -euo pipefail
LINE=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" '{{.TaskFile}}')
JOB=${LINE%% *}
ATTEMPT=${LINE##* }
export GOMAXPROCS=${SLURM_CPUS_PER_TASK:-{{.CPUs}}}
exec '{{.Binary}}' job run --run '{{.RunDir}}' --job "$JOB" --attempt "$ATTEMPT"
`))

// Script renders an array's sbatch script.
func Script(d ScriptData) (string, error) {
	if d.Tasks < 1 {
		return "", errors.New("an array needs at least one task")
	}
	var b strings.Builder
	err := scriptTmpl.Execute(&b, struct {
		ScriptData
		LastTask int
	}{d, d.Tasks - 1})
	return b.String(), err
}

// Check asks sbatch whether jobs of these shapes could run with these
// settings (sbatch --test-only), so that a bad partition or an impossible
// GPU count is reported before the sweep claims to be running.
func Check(settings sweep.Slurm, shapes []sweep.Job) error {
	seen := map[shape]bool{}
	var errs []string
	var list []shape
	for i := range shapes {
		s := shapeOf(&shapes[i])
		if !seen[s] {
			seen[s] = true
			list = append(list, s)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].gpus > list[j].gpus || list[i].cpus > list[j].cpus })
	for _, s := range list {
		script, err := Script(ScriptData{Name: "check", RunDir: "/nonexistent", TaskFile: "/dev/null", Binary: "/bin/true",
			Tasks: 1, CPUs: s.cpus, GPUs: s.gpus, MemGB: s.memGB, Output: "/dev/null", Slurm: settings})
		if err != nil {
			return err
		}
		cmd := exec.Command("sbatch", "--test-only")
		cmd.Stdin = strings.NewReader(script)
		out, err := cmd.CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Sprintf("jobs with %d CPUs and %d GPUs: %s", s.cpus, s.gpus, strings.TrimSpace(string(out))))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("slurm refuses the sweep's jobs:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}
