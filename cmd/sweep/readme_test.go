package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/internal/require"
)

// readmeBlock is the fenced block that follows `<!-- readme-test: NAME -->`
// in the README, and the fenced block or table right after it (what the
// README says it prints).
func readmeBlock(t *testing.T, name string) (code, shown string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- readme-test: "+name+" -->\n")
	if !ok {
		t.Fatalf("README has no block %q", name)
	}
	fence := regexp.MustCompile("(?s)^```[a-z]*\n(.*?)```\n")
	m := fence.FindStringSubmatch(rest)
	if m == nil {
		t.Fatalf("README block %q is not a fenced block", name)
	}
	code, rest = m[1], strings.TrimLeft(rest[len(m[0]):], "\n")
	if m := fence.FindStringSubmatch(rest); m != nil {
		return code, m[1]
	}
	// Or a markdown table, after a line of prose.
	if i := strings.Index(rest, "\n|"); i >= 0 && !strings.Contains(rest[:i], "```") {
		table := rest[i+1:]
		if j := strings.Index(table, "\n\n"); j >= 0 {
			table = table[:j+1]
		}
		return code, table
	}
	return code, ""
}

// The README's recipes run as written and print what it says: on a
// workspace of the quickstart (fake jobs, a stand-in data set), the grow
// recipe plans the README's counts, every sweep `sweep runs` lists opens by
// its name, and both DuckDB queries give the README's groups and counts,
// also after the grid has grown.
func TestReadmeRecipes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quickstart's 421 fake jobs")
	}
	repo, _ := filepath.Abs("../..")
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nSWEEP_AS_CLI=1 exec %q \"$@\"\n", os.Args[0])
	if err := os.WriteFile(filepath.Join(bin, "sweep"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repo, "configs"), filepath.Join(dir, "configs")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SWEEP_FAKE_JOB=sleep=1ms",
		"SWEEP_DATA_DIR="+filepath.Join(repo, "cmd/sweep/testdata/data"))
	sh := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	sh("sweep launch --metrics-addr off --cpus 2 configs/quickstart.yaml")
	first := strings.TrimSpace(sh("ls -d runs/quickstart-*"))

	// The grow recipe, as written.
	recipe, shown := readmeBlock(t, "grow")
	hash := regexp.MustCompile(`quickstart-[0-9a-f]{8}`)
	if got, want := hash.ReplaceAllString(sh(recipe), "quickstart-HASH"), hash.ReplaceAllString(shown, "quickstart-HASH"); got != want {
		t.Errorf("the grow recipe printed\n%s\nthe README says\n%s", got, want)
	}
	sh("sweep launch --metrics-addr off --cpus 2 grid-noise04.yaml")

	// Every name sweep runs lists opens.
	var names []string
	for _, l := range strings.Split(sh("sweep runs"), "\n") {
		if f := strings.Fields(l); len(f) > 0 && hash.MatchString(f[0]) {
			names = append(names, f[0])
		}
	}
	if len(names) != 2 {
		t.Fatalf("sweep runs lists %v, want two sweeps", names)
	}
	for _, n := range names {
		sh("sweep status " + n)
	}

	nodeModules := os.Getenv("SWEEP_DUCKDB")
	if nodeModules == "" {
		require.Missing(t, "SWEEP_DUCKDB not set (make test sets it after installing DuckDB from npm)")
	}
	query := func(sql string) []map[string]any {
		t.Helper()
		cmd := exec.Command("node", filepath.Join(repo, "scripts/duckdb-query.cjs"), "--sql", sql)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "NODE_PATH="+filepath.Join(nodeModules, "node_modules"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("duckdb: %v\n%s", err, out)
		}
		var rows []map[string]any
		if err := json.Unmarshal(out, &rows); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return rows
	}

	// The sweep query: the README's groups and counts, on the first sweep
	// and on the grown one (the fake jobs' accuracies are not compared).
	sql, table := readmeBlock(t, "sweep-query")
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(table), "\n")[2:] {
		c := strings.Split(strings.Trim(l, "| "), "|")
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		want = append(want, strings.Join([]string{c[0], c[1], c[2], c[3], c[5]}, " "))
	}
	slices.Sort(want)
	for _, run := range []string{first, filepath.Join("runs", slices.DeleteFunc(names, func(n string) bool { return "runs/"+n == first })[0])} {
		var got []string
		for _, r := range query(strings.ReplaceAll(sql, "RUN", run)) {
			got = append(got, fmt.Sprintf("%v %v %v %v %v", r["method"], r["arch"], r["role"], r["peer_arch"], r["n"]))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("the README's query on %s gives\n%s\nthe README's table has\n%s", run, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// The workspace query: each of the 421 jobs once.
	sql, _ = readmeBlock(t, "workspace-query")
	total := 0
	for _, r := range query(sql) {
		if r["attempts"] != r["jobs"] {
			t.Errorf("%v: %v rows for %v jobs", r["kind"], r["attempts"], r["jobs"])
		}
		var n int
		fmt.Sscan(fmt.Sprint(r["jobs"]), &n)
		total += n
	}
	if total != 421 {
		t.Errorf("the workspace query counts %d jobs, want 421", total)
	}
}
