package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		require.Missing(t, "prometheus not installed (apt-get install prometheus)")
	}
	dir := t.TempDir()
	sweepPort, promPort, pushPort := freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: sweep\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n", sweepPort)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	pc := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	pc.Stdout, pc.Stderr = io.Discard, io.Discard
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.Process.Kill(); _ = pc.Wait() }()
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
			accSum += s.AccBest
			accN++
		}
	}
	for _, j := range tables.Jobs {
		if j.Status == "done" {
			done++
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", promPort)
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
		if !strings.Contains(string(b), `sweep_jobs{`) || !strings.Contains(string(b), `run="ctl"`) {
			t.Errorf("Pushgateway holds no sweep metrics:\n%.2000s", b)
		}
	}
}
