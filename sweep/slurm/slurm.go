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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/sweep/controller"
)

// Executor submits jobs to Slurm.
type Executor struct {
	Settings job.Slurm
	// RunDir is the run folder (absolute: tasks run elsewhere); its slurm/
	// folder holds the scripts, task lists, outputs and submitted.jsonl.
	RunDir string
	// Plan names the arrays.
	Plan string
	// Prepare writes an attempt's task (and spec) into its folder, which is
	// absolute: tasks run elsewhere.
	Prepare func(t controller.Task) error
	// Binary is the absolute path of the sweep executable the tasks run.
	Binary string
	Logger *slog.Logger
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

var _ controller.Executor = (*Executor)(nil)

type request struct {
	job     *job.Job
	attempt int
	dir     jobdir.Dir
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
	Dir     string `json:"dir"`
	Slurm   string `json:"slurm"` // ARRAYID_TASK
	Time    time.Time
}

type taskState struct {
	state    string
	exitCode int
	reason   string
}

var _ controller.Attacher = (*Executor)(nil)

// Run submits one job attempt (in an array with the other jobs ready now),
// or attaches to the task of that attempt submitted before a restart of
// the controller (see Running), and follows it to its end.
func (e *Executor) Run(ctx context.Context, t controller.Task, records func(job.Record)) error {
	if err := os.MkdirAll(t.Dir.Path(), 0o755); err != nil {
		return &controller.EnvironmentError{Err: fmt.Errorf("job folder: %w", err)}
	}
	id := e.live(ctx, t.Job, t.Dir, t.Attempt)
	if id != "" && e.Logger != nil {
		e.Logger.Info("attached to a Slurm task submitted earlier", "job", t.Job.Name, "slurm", id)
	}
	if id == "" {
		if err := e.Prepare(t); err != nil {
			return &controller.EnvironmentError{Err: fmt.Errorf("job folder: %w", err)}
		}
		req := &request{job: t.Job, attempt: t.Attempt, dir: t.Dir, reply: make(chan submission, 1)}
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
	return e.follow(ctx, id, t.Dir, t.Attempt, records)
}

// Running reports the attempt of a job whose Slurm task, submitted before
// this controller (re)started, still runs in the job's folder: the
// controller then attaches to it instead of submitting it again.
func (e *Executor) Running(j *job.Job, dir jobdir.Dir) (int, bool) {
	subs, _ := ReadSubmitted(e.RunDir)
	for i := len(subs) - 1; i >= 0; i-- {
		if subs[i].Job != j.ID || subs[i].Dir != dir.Path() {
			continue
		}
		if st, ok := e.state(context.Background(), subs[i].Slurm); ok && !terminal(st.state) {
			return subs[i].Attempt, true
		}
		return 0, false
	}
	return 0, false
}

// lostAfter is how many polls a task may be missing from squeue, with
// scontrol not knowing it either, before it is taken for lost.
const lostAfter = 5

// follow passes a task's records (those of its attempt, from the job's
// records file) on until Slurm says it ended. A task that leaves squeue
// unseen (purged between two polls) is asked of scontrol, and counted lost
// after lostAfter polls without news: a retryable failure.
func (e *Executor) follow(ctx context.Context, id string, dir jobdir.Dir, attempt int, records func(job.Record)) error {
	tick := time.NewTicker(e.poll())
	defer tick.Stop()
	var reported *job.Record
	done := false
	var offset int64
	read := func() {
		offset, _ = job.TailRecords(dir.Records(), offset, func(rec job.Record) {
			switch {
			case rec.Attempt != attempt || rec.Type == job.RecBeat:
				return
			case rec.Type == job.RecError:
				rc := rec
				reported = &rc
			case rec.Type == job.RecDone:
				done = true
			}
			records(rec)
		})
	}
	missing := 0
	for {
		read()
		st, ok := e.state(ctx, id)
		if !ok {
			missing++
			st, ok = scontrolState(ctx, id)
		}
		if ok && terminal(st.state) {
			read() // what the task wrote after the last poll
			if st.state == "COMPLETED" && done {
				return nil
			}
			return taskError(fmt.Sprintf("slurm task %s %s (exit %d, %s)", id, st.state, st.exitCode>>8, st.reason), reported)
		}
		if ok {
			missing = 0
		} else if missing >= lostAfter {
			return taskError(fmt.Sprintf("slurm task %s is gone: neither squeue nor scontrol has known it for %d polls", id, missing), reported)
		}
		select {
		case <-ctx.Done():
			_ = exec.Command("scancel", id).Run()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// taskError is a task's failure, with the error the job reported, if any.
func taskError(msg string, reported *job.Record) error {
	if reported == nil {
		return errors.New(msg)
	}
	return controller.RecordError(errors.New(msg+": "+reported.Message), reported)
}

func (e *Executor) poll() time.Duration {
	if e.Poll == 0 {
		return time.Second
	}
	return e.Poll
}

// scontrolState asks scontrol for a task squeue did not list.
func scontrolState(ctx context.Context, id string) (taskState, bool) {
	out, err := exec.CommandContext(ctx, "scontrol", "show", "job", "--oneliner", id).Output()
	if err != nil {
		return taskState{}, false // "Invalid job id specified": purged
	}
	return parseScontrol(string(out))
}

// parseScontrol reads JobState, Reason and ExitCode from `scontrol show job
// --oneliner` (ExitCode=3:0 is exit status 3, signal 0).
func parseScontrol(out string) (taskState, bool) {
	var st taskState
	for _, f := range strings.Fields(out) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "JobState":
			st.state = v
		case "Reason":
			st.reason = v
		case "ExitCode":
			code, _, _ := strings.Cut(v, ":")
			n, _ := strconv.Atoi(code)
			st.exitCode = n << 8
		}
	}
	return st, st.state != ""
}

func terminal(s string) bool {
	switch s {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT":
		return false
	}
	return true
}

// live returns the Slurm ID of the task of this attempt of a job, in its
// folder, submitted earlier and still pending or running (after a
// controller restart), or "".
func (e *Executor) live(ctx context.Context, j *job.Job, dir jobdir.Dir, attempt int) string {
	subs, _ := ReadSubmitted(e.RunDir)
	for i := len(subs) - 1; i >= 0; i-- {
		if subs[i].Job != j.ID || subs[i].Dir != dir.Path() || subs[i].Attempt != attempt {
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

func shapeOf(j *job.Job) shape {
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
	dir := filepath.Join(e.RunDir, "slurm")
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
		fmt.Fprintln(&tasks, q.dir.Path())
	}
	taskFile := filepath.Join(dir, name+".tasks")
	if err := atomicfile.Write(taskFile, []byte(tasks.String())); err != nil {
		fail(err)
		return
	}
	script, err := Script(ScriptData{Name: e.Plan, RunDir: e.RunDir, TaskFile: taskFile, Tasks: len(reqs),
		Binary: e.Binary, CPUs: s.cpus, GPUs: s.gpus, MemGB: s.memGB, Output: filepath.Join(dir, name+"-%a.out"), Slurm: e.Settings})
	if err != nil {
		fail(err)
		return
	}
	scriptFile := filepath.Join(dir, name+".sbatch")
	if err := atomicfile.Write(scriptFile, []byte(script)); err != nil {
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
	if err := recordSubmitted(dir, arrayID, reqs); err != nil {
		// A submission a restarted controller cannot find would be submitted
		// again: cancel it, and stop the sweep.
		_ = exec.Command("scancel", arrayID).Run()
		fail(&controller.EnvironmentError{Err: fmt.Errorf("cannot record Slurm array %s in %s (%w); it was cancelled", arrayID, filepath.Join(dir, "submitted.jsonl"), err)})
		return
	}
	for i, q := range reqs {
		q.reply <- submission{id: fmt.Sprintf("%s_%d", arrayID, i)}
	}
}

// recordSubmitted appends an array's tasks to submitted.jsonl and syncs it.
func recordSubmitted(dir, arrayID string, reqs []*request) error {
	f, err := os.OpenFile(filepath.Join(dir, "submitted.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	var b []byte
	for i, q := range reqs {
		line, err := json.Marshal(Submitted{Job: q.job.ID, Attempt: q.attempt, Dir: q.dir.Path(), Slurm: fmt.Sprintf("%s_%d", arrayID, i), Time: time.Now().UTC()})
		if err != nil {
			f.Close()
			return err
		}
		b = append(append(b, line...), '\n')
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// state returns a task's Slurm state, asking squeue at most once per poll
// interval for all the user's jobs.
func (e *Executor) state(ctx context.Context, id string) (taskState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.states == nil || time.Since(e.polled) >= e.poll()/2 {
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

// ScriptData is what an array's sbatch script is made from.
type ScriptData struct {
	Name, RunDir, TaskFile, Binary, Output string
	Tasks, CPUs, GPUs                      int
	MemGB                                  float64
	Slurm                                  job.Slurm
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
# Generated by sweep: each array task runs one job attempt, in the job's
# folder in the store, where the controller wrote its task (task.json).
set -euo pipefail
DIR=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" '{{.TaskFile}}')
export GOMAXPROCS=${SLURM_CPUS_PER_TASK:-{{.CPUs}}}
exec '{{.Binary}}' job run "$DIR"
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

// CheckPlan is Check for every job of a plan.
func CheckPlan(settings job.Slurm, p *job.Plan) error {
	jobs := make([]job.Job, len(p.Jobs))
	for i, j := range p.Jobs {
		jobs[i] = *j
	}
	return Check(settings, jobs)
}

// Check asks sbatch whether jobs of these shapes could run with these
// settings (sbatch --test-only), so that a bad partition or an impossible
// GPU count is reported before the sweep claims to be running.
func Check(settings job.Slurm, shapes []job.Job) error {
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
