package metrics

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/golden"
	"github.com/dogo-sweep/dogo-sweep/internal/require"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
)

func testPlan(t *testing.T) *job.Plan {
	t.Helper()
	g, err := grid.Parse("g.yaml", []byte("name: golden\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: [1, 2]\nreferences: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	return grid.NewPlan(g, nil)
}

// Events replays a fixed sequence of job events: the DoGo pretraining job
// fails once and is retried, the solo jobs succeed (two of one group, seeds
// 1 and 2, run at once: the second still runs at the end), a probe reports
// accuracy.
func replay(e *Exporter, p *job.Plan, t0 time.Time) {
	byKind := map[job.Kind][]*job.Job{}
	for _, j := range p.Jobs {
		byKind[j.Spec.Kind] = append(byKind[j.Spec.Kind], j)
	}
	pre := byKind[job.KindPretrain]
	e.JobStarted(pre[0], 1)
	e.JobRecord(pre[0], 1, job.Record{Type: job.RecProgress, Name: "loss", Value: 9.5, ImagesPerSec: 400})
	e.JobEnded(pre[0], 1, job.StateFailed, errors.New("exit status 2"), t0, t0.Add(3*time.Second))
	e.JobStarted(pre[0], 2)
	e.JobRecord(pre[0], 2, job.Record{Type: job.RecProgress, Name: "loss", Value: 8.25, ImagesPerSec: 420})
	e.JobStarted(pre[1], 1)
	e.JobRecord(pre[1], 1, job.Record{Type: job.RecProgress, Name: "loss", Value: 3.5, ImagesPerSec: 1000})
	e.JobStarted(pre[4], 1) // solo cnn-s, seed 2
	e.JobRecord(pre[4], 1, job.Record{Type: job.RecProgress, Name: "loss", Value: 3.25, ImagesPerSec: 300})
	e.JobEnded(pre[1], 1, job.StateDone, nil, t0, t0.Add(40*time.Second))
	e.JobEnded(pre[0], 2, job.StateDone, nil, t0, t0.Add(100*time.Second))
	lin := byKind[job.KindLinear][0]
	e.JobStarted(lin, 1)
	e.JobRecord(lin, 1, job.Record{Type: job.RecMetric, Split: "test", Name: "accuracy_at_best_val", Value: 0.75})
	e.JobRecord(lin, 1, job.Record{Type: job.RecMetric, Split: "test", Name: job.MetricAccSelected, Value: 0.8125})
	e.JobEnded(lin, 1, job.StateDone, nil, t0, t0.Add(2*time.Second))
	// A kNN probe reused from the store: its stored records, then its end.
	knn := byKind[job.KindKNN][0]
	e.JobRecord(knn, 0, job.Record{Type: job.RecMetric, Split: "test", Name: job.MetricKNN, Value: 0.625})
	e.JobEnded(knn, 0, job.StateDone, nil, t0, t0)
}

func scrape(t *testing.T, e *Exporter) string {
	t.Helper()
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExpositionGolden(t *testing.T) {
	p := testPlan(t)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	now := t0
	e := New(p, "golden-1a2b3c4d", func() time.Time { return now })
	now = t0.Add(200 * time.Second)
	replay(e, p, t0)
	got := scrape(t, e)
	golden.Check(t, "exposition.golden", got)
	for _, bad := range []string{"job=", "seed="} {
		if strings.Contains(got, bad) {
			t.Errorf("exposition has unbounded label %q", bad)
		}
	}
}

// promtool (Debian's prometheus package) must find nothing to lint.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		require.Missing(t, "promtool not installed (apt-get install prometheus)")
	}
	p := testPlan(t)
	e := New(p, "run-1a2b3c4d", nil)
	replay(e, p, time.Now())
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape(t, e))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// Names returns every metric name the exporter serves; dashboards are checked against it.
func TestNamesMatchExposition(t *testing.T) {
	p := testPlan(t)
	e := New(p, "run-1a2b3c4d", nil)
	replay(e, p, time.Now())
	got := scrape(t, e)
	for _, n := range Names() {
		if !strings.Contains(got, "\n"+n) && !strings.HasPrefix(got, n) {
			t.Errorf("Names() lists %s, which the exposition lacks", n)
		}
	}
}

// value reads one series of a scrape: the first line that starts with name
// and holds every label given as key="value".
func value(t *testing.T, scraped, name string, labels ...string) float64 {
	t.Helper()
	for _, l := range strings.Split(scraped, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		ok := true
		for _, lb := range labels {
			ok = ok && strings.Contains(l, lb)
		}
		if ok {
			var v float64
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
			return v
		}
	}
	t.Fatalf("no %s%v in:\n%s", name, labels, scraped)
	return 0
}

// The training throughput of a group is the sum over its running jobs: two
// solo jobs of one architecture (two seeds) count together, and when one
// ends the other's stays.
func TestImagesPerSecondSummedPerGroup(t *testing.T) {
	g, err := grid.Parse("g.yaml", []byte("name: g\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: [1, 2]\nreferences: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := grid.NewPlan(g, nil)
	var solo []*job.Job
	for _, j := range p.Jobs {
		if j.Spec.Kind == job.KindPretrain && j.Spec.Method == job.MethodSolo && j.Spec.Archs[0] == "cnn-s" {
			solo = append(solo, j)
		}
	}
	if len(solo) != 2 {
		t.Fatalf("solo cnn-s jobs: %d", len(solo))
	}
	e := New(p, "run-1a2b3c4d", nil)
	t0 := time.Now()
	for i, j := range solo {
		e.JobStarted(j, 1)
		e.JobRecord(j, 1, job.Record{Type: job.RecProgress, Value: 3, ImagesPerSec: float64(400 + 20*i)})
	}
	solos := []string{`method="solo"`, `architecture="cnn-s"`}
	if v := value(t, scrape(t, e), "sweep_training_images_per_second", solos...); v != 820 {
		t.Errorf("two running: %g images/s, want 820", v)
	}
	e.JobEnded(solo[0], 1, job.StateDone, nil, t0, t0.Add(time.Minute))
	if v := value(t, scrape(t, e), "sweep_training_images_per_second", solos...); v != 420 {
		t.Errorf("one running: %g images/s, want 420", v)
	}
}

// The ETA divides the work left by the jobs that run at once, also at the
// moment one of them ends: of six pretraining jobs two run, one ends after
// 60 s; five are left (the one still running counted), two at a time:
// 150 s, not the 300 s of dividing by the one left running.
func TestETAWithSeveralJobsRunning(t *testing.T) {
	g, err := grid.Parse("g.yaml", []byte("name: g\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: [1, 2]\nreferences: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := grid.NewPlan(g, nil)
	var pre []*job.Job
	for _, j := range p.Jobs {
		if j.Spec.Kind == job.KindPretrain {
			pre = append(pre, j)
		}
	}
	e := New(p, "run-1a2b3c4d", nil)
	t0 := time.Now()
	e.JobStarted(pre[0], 1)
	e.JobStarted(pre[1], 1)
	e.JobEnded(pre[0], 1, job.StateDone, nil, t0, t0.Add(time.Minute))
	left := len(pre) - 1
	want := float64(left) * 60 / 2
	if v := value(t, scrape(t, e), "sweep_eta_seconds"); v != want {
		t.Errorf("ETA %g s, want %g (%d pretraining jobs left at 60 s, two at a time)", v, want, left)
	}
}
