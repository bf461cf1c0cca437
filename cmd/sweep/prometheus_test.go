package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/dashboards"

	"github.com/dogo-sweep/dogo-sweep/internal/require"
	"github.com/dogo-sweep/dogo-sweep/results"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startPrometheus starts Debian's Prometheus, scraping 127.0.0.1:port every
// second, until the test ends, and returns its URL.
func startPrometheus(t *testing.T, dir string, port int) string {
	t.Helper()
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		require.Missing(t, "prometheus not installed (apt-get install prometheus)")
	}
	promPort := freePort(t)
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: sweep\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n", port)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	pc := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	pc.Stdout, pc.Stderr = io.Discard, io.Discard
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Process.Kill(); _ = pc.Wait() })
	return fmt.Sprintf("http://127.0.0.1:%d", promPort)
}

// promSeries runs an instant query and returns its series' values.
func promSeries(base, q string) ([]float64, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%v: %s", err, b)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	var out []float64
	for _, s := range r.Data.Result {
		v, err := strconv.ParseFloat(s.Value[1].(string), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Every query of every dashboard (panels and template variables) returns
// data, or an explicit 0, from a real Prometheus scraping a sweep whose
// jobs all came from the store: no empty panel, no NaN.
func TestDashboardQueriesReturnData(t *testing.T) {
	dir := t.TempDir()
	sweepPort := freePort(t)
	base := startPrometheus(t, dir, sweepPort)
	env := []string{"SWEEP_FAKE_JOB=sleep=10ms"}
	// Every protocol a panel shows: limited and noisy labels too.
	src := ctlGrid + "fractions: [0.1, 1]\nnoise: {rates: [0, 0.5]}\nexclude: [{fraction: 0.1, noise_rate: 0.5}]\n"
	if code, out := launchGrid(t, dir, "ctl", src, env...); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// The same jobs under another grid name: every one comes from the store.
	reused := strings.Replace(src, "name: ctl", "name: reused", 1)
	grid := filepath.Join(dir, "reused.yaml")
	if err := os.WriteFile(grid, []byte(reused), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := sweepCmd(t, dir, env, "launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", sweepPort), "--linger", "60s", grid)
	var out syncBuffer
	sc.Stdout, sc.Stderr = &out, &out
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sc.Process.Kill(); _ = sc.Wait() }()
	waitFor(t, 60*time.Second, func() bool {
		v, err := promSeries(base, `sum(sweep_jobs{sweep="reused", state="done"})`)
		p, err2 := promSeries(base, `sum(sweep_planned_jobs{sweep="reused"})`)
		return err == nil && err2 == nil && len(v) == 1 && len(p) == 1 && v[0] == p[0]
	})
	if v, err := promSeries(base, `sum(sweep_jobs_finished_total{sweep="reused"})`); err != nil || len(v) != 1 || v[0] != 0 {
		t.Fatalf("the second sweep ran jobs (%v attempts, %v):\n%s", v, err, out.String())
	}
	time.Sleep(3 * time.Second) // rates need two scrapes after the end
	vars := strings.NewReplacer(`$sweep`, `reused`, `$run`, `.*`, `$dataset`, `.*`)
	labelValues := regexp.MustCompile(`^label_values\((.*), *[a-z_]+\)$`)
	checked := 0
	for name, b := range dashboards.All() {
		d, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(d)
		var doc struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
			Templating struct {
				List []struct {
					Name  string `json:"name"`
					Query any    `json:"query"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		var queries [][2]string
		for _, v := range doc.Templating.List {
			if q, ok := v.Query.(string); ok && strings.HasPrefix(q, "label_values(") {
				queries = append(queries, [2]string{"variable " + v.Name, labelValues.ReplaceAllString(q, "$1")})
			}
		}
		for _, p := range doc.Panels {
			for _, tg := range p.Targets {
				queries = append(queries, [2]string{"panel " + p.Title, tg.Expr})
			}
		}
		for _, q := range queries {
			vals, err := promSeries(base, vars.Replace(q[1]))
			switch {
			case err != nil:
				t.Errorf("%s, %s: %v\n%s", name, q[0], err, q[1])
			case len(vals) == 0:
				t.Errorf("%s, %s: no data\n%s", name, q[0], q[1])
			case slices.ContainsFunc(vals, math.IsNaN):
				t.Errorf("%s, %s: NaN %v\n%s", name, q[0], vals, q[1])
			}
			checked++
		}
	}
	if checked < 15 {
		t.Errorf("checked only %d queries", checked)
	}
}

func promQuery(t *testing.T, base, q string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if json.Unmarshal(b, &r) != nil || len(r.Data.Result) != 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(r.Data.Result[0].Value[1].(string), 64)
	return v, err == nil
}

// Debian's Prometheus scrapes a running sweep; its query API must give back
// the job counts and accuracies that the run's Parquet results hold. A
// Pushgateway receives the final summary.
func TestPrometheusScrapesARunningSweep(t *testing.T) {
	dir := t.TempDir()
	sweepPort, pushPort := freePort(t), freePort(t)
	base := startPrometheus(t, dir, sweepPort)
	var pushURL string
	if pg, err := exec.LookPath("prometheus-pushgateway"); err == nil {
		gc := exec.Command(pg, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", pushPort))
		gc.Stdout, gc.Stderr = io.Discard, io.Discard
		if err := gc.Start(); err == nil {
			defer func() { _ = gc.Process.Kill(); _ = gc.Wait() }()
			pushURL = fmt.Sprintf("http://127.0.0.1:%d", pushPort)
		}
	}
	grid := writeGrid(t, dir, ctlGrid)
	args := []string{"launch", "--runs", "runs", "--cpus", "2", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", sweepPort), "--linger", "20s"}
	if pushURL != "" {
		waitFor(t, 10*time.Second, func() bool { // the Pushgateway listens
			c, err := net.Dial("tcp", strings.TrimPrefix(pushURL, "http://"))
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		args = append(args, "--pushgateway", pushURL)
	}
	sc := sweepCmd(t, dir, []string{"SWEEP_FAKE_JOB=sleep=300ms"}, append(args, grid)...)
	sc.Stdout, sc.Stderr = io.Discard, io.Discard
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sc.Process.Kill(); _ = sc.Wait() }()

	// Wait for the sweep to finish (its Parquet files are compacted last).
	var tables *results.Tables
	var err error
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(filepath.Join(dir, "runs", "ctl-*", "report.md")); len(m) == 1 {
			tables, err = results.Read(filepath.Join(filepath.Dir(m[0]), "results"))
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if tables == nil {
		t.Fatal("sweep did not finish")
	}
	done, accSum, accN := 0, 0.0, 0
	for _, s := range results.Summary(tables) {
		if s.Kind == "linear" && s.Method == "dogo" {
			accSum += s.AccSelected
			accN++
		}
	}
	for _, j := range tables.Jobs {
		if j.Status == "done" {
			done++
		}
	}
	var gotDone, gotAcc float64
	ok := false
	for deadline := time.Now().Add(40 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		d, ok1 := promQuery(t, base, `sum(sweep_jobs{sweep="ctl", state="done"})`)
		a, ok2 := promQuery(t, base, `avg(sweep_eval_accuracy_ratio{sweep="ctl", kind="linear", method="dogo"})`)
		gotDone, gotAcc = d, a
		if ok1 && ok2 && int(d) == done {
			ok = true
			break
		}
	}
	if !ok {
		t.Fatalf("Prometheus says %v jobs done (Parquet: %d)", gotDone, done)
	}
	if accN == 0 || gotAcc != accSum/float64(accN) {
		t.Errorf("Prometheus accuracy %v, Parquet %v over %d probes", gotAcc, accSum/float64(max(accN, 1)), accN)
	}
	if pushURL != "" {
		resp, err := http.Get(pushURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `sweep_jobs{`) || !strings.Contains(string(b), `run="ctl-`) {
			t.Errorf("Pushgateway holds no sweep metrics:\n%.2000s", b)
		}
	}
}
