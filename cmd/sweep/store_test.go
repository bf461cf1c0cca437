package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/require"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/results"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
)

// launchGrid launches a grid file's source in dir's workspace (runs/) and
// returns the exit code and output.
func launchGrid(t *testing.T, dir, name, src string, env ...string) (int, string) {
	t.Helper()
	p := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", "--backoff", "50ms", p)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return cmd.ProcessState.ExitCode(), string(out)
	}
	return 0, string(out)
}

// runOf opens the run folder of a grid name.
func runOf(t *testing.T, dir, name string) *workspace.Run {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "runs", name+"-*"))
	if len(m) != 1 {
		t.Fatalf("run folders of %s: %v", name, m)
	}
	r, err := workspace.OpenRun(m[len(m)-1])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ranJobs counts each job's runs in the fake jobs' log.
func ranJobs(t *testing.T, log string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, id := range strings.Fields(string(b)) {
		n[id]++
	}
	return n
}

const growBase = `name: grow
datasets: [fashion-mnist]
pairs: [mlp-s+mlp-s]
seeds: [1, 2]
references: [pixels]
`

// A grown grid runs only what the store lacks: one more noise rate runs only
// the new probes, one more seed only that seed's jobs, and the grown sweep's
// results hold the reused jobs' rows too.
func TestGrownGridRunsOnlyNewJobs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "ran.log")
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms", "SWEEP_FAKE_LOG=" + log}
	if code, out := launchGrid(t, dir, "grow", growBase, env...); code != 0 {
		t.Fatalf("first launch: exit %d\n%s", code, out)
	}
	first := runOf(t, dir, "grow")
	base := len(first.Plan.Jobs)
	if n := len(ranJobs(t, log)); n != base {
		t.Fatalf("%d jobs ran for a %d-job sweep", n, base)
	}
	for _, tc := range []struct {
		name, add string
		newKinds  map[job.Kind]bool
	}{
		{"one more noise rate", "noise: {rates: [0, 0.5]}\n", map[job.Kind]bool{job.KindNoise: true}},
		{"one more seed", "noise: {rates: [0, 0.5]}\nseeds: [1, 2, 3]\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ranJobs(t, log)
			src := strings.Replace(growBase, "seeds: [1, 2]\n", "", 1) + tc.add
			if !strings.Contains(src, "seeds:") {
				src += "seeds: [1, 2]\n"
			}
			start := time.Now()
			code, out := launchGrid(t, dir, "grow", src, env...)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			var grown *workspace.Run
			m, _ := filepath.Glob(filepath.Join(dir, "runs", "grow-*"))
			for _, d := range m { // the newest run folder
				if r, err := workspace.OpenRun(d); err == nil && (grown == nil || len(r.Plan.Jobs) > len(grown.Plan.Jobs)) {
					grown = r
				}
			}
			after := ranJobs(t, log)
			newRuns := 0
			for _, j := range grown.Plan.Jobs {
				ran := after[j.ID] - before[j.ID]
				switch {
				case ran > 1:
					t.Errorf("%s ran %d times", j.Name, ran)
				case ran == 1 && before[j.ID] > 0:
					t.Errorf("%s, in the store already, ran again", j.Name)
				case ran == 1 && tc.newKinds != nil && !tc.newKinds[j.Spec.Kind]:
					t.Errorf("%s (%s) ran: only %v jobs are new", j.Name, j.Spec.Kind, tc.newKinds)
				case ran == 1 && tc.newKinds == nil && j.Spec.Seed != 3 && j.Spec.Method != job.MethodPixels:
					t.Errorf("%s (seed %d) ran: only seed 3's jobs are new", j.Name, j.Spec.Seed)
				}
				newRuns += ran
			}
			if newRuns == 0 || !strings.Contains(out, "reused from the store") {
				t.Fatalf("nothing new ran:\n%s", out)
			}
			t.Logf("%s: %d of %d jobs ran, %s", tc.name, newRuns, len(grown.Plan.Jobs), time.Since(start).Round(time.Millisecond))
			// The grown sweep's results hold every job, the reused ones included.
			tb, err := grown.Tables()
			if err != nil {
				t.Fatal(err)
			}
			done := map[string]bool{}
			for _, row := range tb.Jobs {
				if row.Status == string(job.StateDone) {
					done[row.Job] = true
				}
			}
			if len(done) != len(grown.Plan.Jobs) {
				t.Errorf("results hold %d of %d jobs", len(done), len(grown.Plan.Jobs))
			}
			rep, err := os.ReadFile(filepath.Join(grown.Dir, "report.md"))
			if err != nil || !strings.Contains(string(rep), "50% symmetric label noise") {
				t.Errorf("the grown sweep's report has no noisy-label section: %v", err)
			}
		})
	}
	// A grid with values removed runs nothing.
	before := ranJobs(t, log)
	if code, out := launchGrid(t, dir, "grow", strings.Replace(growBase, "seeds: [1, 2]", "seeds: [2]", 1), env...); code != 0 {
		t.Fatalf("shrunk grid: exit %d\n%s", code, out)
	}
	if after := ranJobs(t, log); len(after) != len(before) || sum(after) != sum(before) {
		t.Errorf("a shrunk grid ran %d jobs", sum(after)-sum(before))
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Two controllers launched together on overlapping grids run every shared
// job once: the other waits for it and reuses it; both finish.
func TestTwoControllersShareJobs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "ran.log")
	env := []string{"SWEEP_FAKE_JOB=sleep=300ms", "SWEEP_FAKE_LOG=" + log}
	a := "name: a\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: [1, 2]\nreferences: []\n"
	b := "name: b\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: [2, 3]\nreferences: []\n"
	var wg sync.WaitGroup
	outs := make([]string, 2)
	codes := make([]int, 2)
	for i, g := range []struct{ name, src string }{{"a", a}, {"b", b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], outs[i] = launchGrid(t, dir, g.name, g.src, env...)
		}()
	}
	wg.Wait()
	for i := range codes {
		if codes[i] != 0 {
			t.Fatalf("controller %d: exit %d\n%s", i, codes[i], outs[i])
		}
	}
	ran := ranJobs(t, log)
	ra, rb := runOf(t, dir, "a"), runOf(t, dir, "b")
	shared := 0
	for _, j := range ra.Plan.Jobs {
		if rb.Plan.Job(j.ID) == nil {
			continue
		}
		shared++
		if ran[j.ID] != 1 {
			t.Errorf("shared job %s ran %d times", j.Name, ran[j.ID])
		}
		// Exactly one journal says it ran; the other says whose it reused.
		runs := 0
		for _, r := range []*workspace.Run{ra, rb} {
			h, err := workspace.ReadJournal(r.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if s := h.States[j.ID]; s == nil || s.State != job.StateDone {
				t.Errorf("%s: %s not done in %s's journal", r.Dir, j.Name, r.Plan.Name)
			} else if s.Attempts > 0 {
				runs++
			}
		}
		if runs != 1 {
			t.Errorf("%s: %d journals say they ran it", j.Name, runs)
		}
	}
	if shared != 11 {
		t.Errorf("%d shared jobs, want 11 (seed 2's)", shared)
	}
	for _, r := range []*workspace.Run{ra, rb} {
		if _, err := os.Stat(filepath.Join(r.Dir, "report.md")); err != nil {
			t.Error(err)
		}
	}
}

// A SIGKILL of the controller (and so of its jobs) at any moment leaves
// nothing in the store that a later sweep takes for finished: every entry
// is complete, with its done marker and its result rows.
func TestKilledAtAnyMomentLeavesNoHalfJob(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a sweep ten times")
	}
	dir := t.TempDir()
	grid := writeGrid(t, dir, ctlGrid)
	env := []string{"SWEEP_FAKE_JOB=sleep=30ms"}
	for i := 0; i < 10; i++ {
		cmd := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", "off", grid)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+97*i) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		checkStoreEntries(t, filepath.Join(dir, "runs", "store"))
	}
	if code, out := launchCtl(t, dir, env); code != 0 || !strings.Contains(out, "22 jobs done") {
		t.Fatalf("the relaunch after the kills: exit %d\n%s", code, out)
	}
	checkStoreEntries(t, filepath.Join(dir, "runs", "store"))
}

// checkStoreEntries fails for a store entry that does not match its
// manifest (hashes included), or has no result row saying it is done, or
// has more than one.
func checkStoreEntries(t *testing.T, store string) {
	t.Helper()
	st, err := workspace.OpenStore(filepath.Dir(store), "")
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := st.Entries()
	for _, id := range ids {
		if _, err := st.Verify(id); err != nil {
			t.Errorf("store entry %s: %v", id, err)
			continue
		}
		tb, err := results.Read(st.Entry(id).Results())
		done := 0
		for _, r := range tb.Jobs {
			if r.Status == string(job.StateDone) {
				done++
			}
		}
		if err != nil || done != 1 {
			t.Errorf("store entry %s has %d result rows saying it is done (%v)", id, done, err)
		}
	}
}

// A run folder made by the release before the workspace store (job folders
// inside the run folder, its own result parts, job IDs without data
// identity) still reports, tells its status, and resumes: its jobs, made
// before store entries had manifests, are not handed back as finished and
// run again.
func TestRunFolderOfTheEarlierReleaseResumes(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", "testdata/v1-workspace", filepath.Join(dir, "runs")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	run := filepath.Join(dir, "runs", "v1-ef1672ea")
	code, out, errs := runCLI(t, "status", run)
	if code != 0 || !strings.Contains(out, "22 jobs, 18 done, 4 to go") || !strings.Contains(out, "made by an earlier release") {
		t.Fatalf("status: exit %d\n%s%s", code, out, errs)
	}
	r, err := workspace.OpenRun(run)
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := r.Store.Entries(); len(stored) != 0 {
		t.Errorf("%d jobs in the store after the migration, want none (work folders)", len(stored))
	}
	if work, _ := r.Store.WorkFolders(); len(work) != 20 {
		t.Errorf("%d work folders after the migration, want the 20 job folders", len(work))
	}
	if code, out, errs := runCLI(t, "report", run); code != 0 {
		t.Fatalf("report: exit %d\n%s%s", code, out, errs)
	}
	cmd := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=10ms"}, "resume", "--cpus", "2", "--metrics-addr", "off", run)
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "22 jobs done (22 run now, 0 reused from the store)") {
		t.Fatalf("resume: %v\n%s", err, b)
	}
	tb, err := r.Tables()
	if err != nil {
		t.Fatal(err)
	}
	if s := results.Summary(tb); len(s) != 12 {
		t.Errorf("%d summary rows after the resume, want 12", len(s))
	}
}

// A job the store lacks is explained: the closest stored job and the
// settings that differ, down the jobs it depends on.
func TestPlanExplainsAMiss(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-r", "testdata/data", data).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	src := "name: why\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: [1]\nreferences: []\npretrain: {kd_weight: 100}\n"
	if code, out := launchGrid(t, dir, "why", src, "SWEEP_FAKE_JOB=sleep=10ms", "SWEEP_DATA_DIR="+data); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	runs := filepath.Join(dir, "runs")
	plan := func(src string, args ...string) string {
		t.Helper()
		p := filepath.Join(dir, "edited.yaml")
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCLI(t, append([]string{"plan", "--runs", runs, "--data-dir", data, p}, args...)...)
		if code != 0 {
			t.Fatalf("plan: exit %d\n%s", code, errs)
		}
		return out
	}
	if out := plan(src); !strings.Contains(out, "0 jobs to run, 11 in the store already") || !strings.Contains(out, "from why-") {
		t.Errorf("the same grid is not all stored:\n%s", out)
	}
	edited := strings.Replace(src, "kd_weight: 100", "kd_weight: 10", 1)
	out := plan(edited)
	// Solo pretraining reads no KD setting: it and its jobs stay stored.
	if !strings.Contains(out, "7 jobs to run, 4 in the store already") {
		t.Fatalf("an edited KD weight:\n%s", out)
	}
	var probe string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == "linear" && f[3] == "dogo" {
			probe = f[0]
			break
		}
	}
	why := plan(edited, "--why", probe)
	for _, want := range []string{probe + " (linear-", "Closest stored linear job", "features job", "Closest stored pretrain job", "kd_weight 10 vs 100"} {
		if !strings.Contains(why, want) {
			t.Errorf("--why lacks %q:\n%s", want, why)
		}
	}
	// Another copy of the data set, one file changed: every job misses, and
	// the explanation says the files differ.
	if err := os.WriteFile(filepath.Join(data, "fashion-mnist", "README"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = plan(src)
	if !strings.Contains(out, "11 jobs to run") {
		t.Fatalf("changed data files reused the stored jobs:\n%s", out)
	}
	var pre string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == "pretrain" {
			pre = f[0]
			break
		}
	}
	if why := plan(src, "--why", pre); !strings.Contains(why, "data set fashion-mnist: files differ") {
		t.Errorf("--why of a changed data set:\n%s", why)
	}
}

// gc removes only what no sweep refers to, asks first, and `sweep runs`
// lists the workspace's sweeps.
func TestGCAndRuns(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms"}
	for _, g := range []struct{ name, seeds string }{{"one", "[1]"}, {"two", "[1, 2]"}} {
		src := "name: " + g.name + "\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: " + g.seeds + "\nreferences: []\n"
		if code, out := launchGrid(t, dir, g.name, src, env...); code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
	}
	code, out, _ := runCLI(t, "runs", "--runs", filepath.Join(dir, "runs"))
	rows := map[string][]string{}
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 6 {
			rows[strings.SplitN(f[0], "-", 2)[0]] = f
		}
	}
	// SWEEP CREATED(2 fields) JOBS DONE FAILED PENDING WALL HEADLINE
	if code != 0 || len(rows["one"]) < 7 || rows["one"][3] != "11" || rows["one"][4] != "11" || rows["two"][3] != "22" || rows["two"][4] != "22" || rows["two"][6] != "0" {
		t.Errorf("runs: exit %d\n%s", code, out)
	}
	// Every job of "one" is also "two"'s: removing "two" frees seed 2's 11 jobs.
	if err := os.RemoveAll(runOf(t, dir, "two").Dir); err != nil {
		t.Fatal(err)
	}
	gc := func(stdin string, args ...string) string {
		cmd := sweepCmd(t, dir, nil, append([]string{"gc", "--runs", "runs"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gc: %v\n%s", err, b)
		}
		return string(b)
	}
	if out := gc("n\n"); !strings.Contains(out, "11 store entries") || !strings.Contains(out, "nothing removed") {
		t.Errorf("gc, answered no:\n%s", out)
	}
	st, _ := workspace.OpenStore(filepath.Join(dir, "runs"), "")
	if ids, _ := st.Entries(); len(ids) != 22 {
		t.Errorf("%d entries after a gc answered no", len(ids))
	}
	if out := gc("", "--yes"); !strings.Contains(out, "freed") {
		t.Errorf("gc --yes:\n%s", out)
	}
	ids, _ := st.Entries()
	one := runOf(t, dir, "one")
	for _, id := range ids {
		if one.Plan.Job(id) == nil {
			t.Errorf("gc kept %s, which no sweep refers to", id)
		}
	}
	if len(ids) != len(one.Plan.Jobs) {
		t.Errorf("%d entries left, want the %d of the remaining sweep", len(ids), len(one.Plan.Jobs))
	}
	// The remaining sweep is whole: relaunching it runs nothing.
	src := "name: one\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: [1]\nreferences: []\n"
	if code, out := launchGrid(t, dir, "one", src, env...); code != 0 || !strings.Contains(out, "11 jobs done (0 run now, 11 reused from the store)") {
		t.Errorf("relaunch after gc: exit %d\n%s", code, out)
	}
}

// workspaceQuery is the README's query over a whole workspace: every job
// once, however many sweeps share it (each job's result parts live in its
// store entry only).
const workspaceQuery = `select j.kind, count(*) as attempts, count(distinct j.job) as jobs
from read_parquet('%[1]s/store/*/results/parts/jobs-*.parquet', union_by_name = true) j
where j.status = 'done' group by all order by j.kind`

// DuckDB reads the whole workspace and finds each job once, although two
// sweeps share a third of their jobs.
func TestWorkspaceQueryCountsEachJobOnce(t *testing.T) {
	nodeModules := os.Getenv("SWEEP_DUCKDB")
	if nodeModules == "" {
		require.Missing(t, "SWEEP_DUCKDB not set (make test sets it after installing DuckDB from npm)")
	}
	dir := t.TempDir()
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms"}
	for _, g := range []struct{ name, seeds string }{{"a", "[1, 2]"}, {"b", "[2, 3]"}} {
		src := "name: " + g.name + "\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: " + g.seeds + "\nreferences: []\n"
		if code, out := launchGrid(t, dir, g.name, src, env...); code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
	}
	cmd := exec.Command("node", "../../scripts/duckdb-query.cjs", "--sql", fmt.Sprintf(workspaceQuery, filepath.Join(dir, "runs")))
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(nodeModules, "node_modules"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, out)
	}
	var rows []struct {
		Kind     string
		Attempts string
		Jobs     string
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	total := 0
	for _, r := range rows {
		if r.Attempts != r.Jobs {
			t.Errorf("%s: %s rows for %s jobs", r.Kind, r.Attempts, r.Jobs)
		}
		n, _ := strconv.Atoi(r.Jobs)
		total += n
	}
	if total != 33 { // 11 jobs per seed, seeds 1, 2 and 3
		t.Errorf("%d jobs in the workspace, want 33: %s", total, out)
	}
}

// An interactive gc cannot race a sweep: it lists what no sweep uses and
// waits for its answer; meanwhile a launch reuses those entries; confirmed,
// gc decides again under the workspace's lock and removes none of them.
func TestGCConfirmedWhileALaunchReusesItsEntries(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms"}
	src := "name: one\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-s]\nseeds: [1]\nreferences: []\n"
	if code, out := launchGrid(t, dir, "one", src, env...); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if err := os.RemoveAll(runOf(t, dir, "one").Dir); err != nil {
		t.Fatal(err)
	}
	gc := sweepCmd(t, dir, nil, "gc", "--runs", "runs")
	stdin, _ := gc.StdinPipe()
	stdout, _ := gc.StdoutPipe()
	if err := gc.Start(); err != nil {
		t.Fatal(err)
	}
	var listed strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(listed.String(), "remove them?") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("gc: %v\n%s", err, listed.String())
		}
		listed.Write(buf[:n])
	}
	if !strings.Contains(listed.String(), "11 store entries") {
		t.Fatalf("gc listed:\n%s", listed.String())
	}
	// A sweep starts meanwhile, and reuses every one of them.
	if code, out := launchGrid(t, dir, "one", src, env...); code != 0 || !strings.Contains(out, "(0 run now, 11 reused") {
		t.Fatalf("launch while gc waits: exit %d\n%s", code, out)
	}
	fmt.Fprintln(stdin, "y")
	rest, _ := io.ReadAll(stdout)
	if err := gc.Wait(); err != nil {
		t.Fatalf("gc: %v\n%s", err, rest)
	}
	if !strings.Contains(string(rest), "freed 0 KiB") {
		t.Errorf("gc, confirmed:\n%s", rest)
	}
	st, _ := workspace.OpenStore(filepath.Join(dir, "runs"), "")
	ids, _ := st.Entries()
	if len(ids) != 11 {
		t.Fatalf("%d entries left, want 11", len(ids))
	}
	checkStoreEntries(t, st.Dir)
	if code, out := launchGrid(t, dir, "one", src, env...); code != 0 || !strings.Contains(out, "(0 run now, 11 reused") {
		t.Errorf("relaunch after gc: exit %d\n%s", code, out)
	}
}
