package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the sweep binary: the controller
// under test starts it as its child jobs (SWEEP_AS_CLI=1), so the tests run the
// real controller and real child processes without building anything.
func TestMain(m *testing.M) {
	if n := filepath.Base(os.Args[0]); n == "squeue" || n == "scontrol" {
		os.Exit(slurmShim(n, os.Args[1:]))
	}
	if os.Getenv("SWEEP_AS_CLI") == "1" {
		os.Exit(run(os.Args, os.Stdout, os.Stderr, testHooks()))
	}
	code := m.Run()
	testSlurm.stop() // a cluster the tests started ends with them
	os.Exit(code)
}

// testHooks runs fake jobs (SWEEP_FAKE_JOB), which read no data, or real
// ones; the job processes are this test binary, acting as the CLI.
func testHooks() jobHooks {
	return jobHooks{dispatch: fakeDispatch, skipDataCheck: os.Getenv("SWEEP_FAKE_JOB") != "", childEnv: []string{"SWEEP_AS_CLI=1"}}
}

// sweepCmd runs the CLI as a separate process (this test binary, whose
// job processes are the test binary too).
func sweepCmd(t testing.TB, dir string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SWEEP_AS_CLI=1")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"sweep"}, args...), &out, &errb, testHooks())
	return code, out.String(), errb.String()
}

func writeGrid(t testing.TB, dir, src string) string {
	t.Helper()
	p := filepath.Join(dir, "grid.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, c := range []string{"launch", "plan", "validate", "resume", "status", "report", "results"} {
		code, out, _ := runCLI(t, c, "--help")
		if code != 0 || !strings.Contains(out, "USAGE") || !strings.Contains(out, "sweep "+c) {
			t.Errorf("%s --help: exit %d\n%s", c, code, out)
		}
		if c != "validate" && !strings.Contains(out, "Examples:") {
			t.Errorf("%s --help has no examples", c)
		}
	}
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := writeGrid(t, dir, "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nlables: 1\n")
	if code, _, errs := runCLI(t, "plan", bad); code != exitUsage || !strings.Contains(errs, `unknown key "lables"`) {
		t.Errorf("plan of an invalid grid: exit %d, %s", code, errs)
	}
	if code, _, _ := runCLI(t, "launch", "--runs", dir, bad); code != exitUsage {
		t.Errorf("launch of an invalid grid: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "t")); err == nil {
		t.Error("an invalid grid wrote a run folder")
	}
	if code, _, _ := runCLI(t, "plan"); code != exitUsage {
		t.Errorf("plan without a grid: exit %d", code)
	}
	if code, _, _ := runCLI(t, "nosuchcommand"); code == 0 {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := runCLI(t, "status", filepath.Join(dir, "missing")); code != exitUsage {
		t.Errorf("status of a missing run: exit %d", code)
	}
}

func TestBenchStep(t *testing.T) {
	code, out, errs := runCLI(t, "bench-step", "--archs", "mlp-s+mlp-s", "--dataset", "fashion-mnist", "--batch", "16", "--steps", "2", "--backend", "go")
	if code != 0 || !strings.Contains(out, `"steps_per_s"`) || !strings.Contains(out, `"first_step_s"`) {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
}
