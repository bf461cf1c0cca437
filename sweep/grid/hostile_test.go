package grid

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/golden"
)

// The budget of reading any grid, however hostile: a positioned error (or
// the job limit's refusal) or a planned grid, within these.
const (
	hostileTime  = 2 * time.Second
	hostileBytes = 500 << 20
)

// hostileGrids are the mutations of the quickstart that broke earlier
// readers (testdata/hostile/*.yaml), and the quickstart with 10,000 and
// 100,000 seeds (400,000 are for the Ctrl-C test of cmd/sweep).
func hostileGrids(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob("testdata/hostile/*.yaml")
	if err != nil || len(files) < 20 {
		tb.Fatalf("hostile corpus: %d files, %v", len(files), err)
	}
	grids := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		grids[filepath.Base(f)] = b
	}
	quick, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range []int{10_000, 100_000} {
		grids[fmt.Sprintf("seeds-%d.yaml", n)] = withSeeds(quick, n)
	}
	return grids
}

// withSeeds is a grid with seeds 1..n in place of its own.
func withSeeds(src []byte, n int) []byte {
	var seeds strings.Builder
	seeds.WriteString("seeds: [")
	for i := range n {
		if i > 0 {
			seeds.WriteString(", ")
		}
		fmt.Fprint(&seeds, i+1)
	}
	seeds.WriteString("]")
	return regexp.MustCompile(`(?m)^seeds:.*$`).ReplaceAll(src, []byte(seeds.String()))
}

// cpuTime is the CPU time this process has used: the budget is the
// reader's own cost, whatever else the machine runs at the time (make test
// runs packages side by side on two cores).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestHostileGrids reads each hostile grid within the budget; every
// mistake has a position, and the messages are those of
// testdata/hostile.golden (go test -update rewrites it).
func TestHostileGrids(t *testing.T) {
	grids := hostileGrids(t)
	names := make([]string, 0, len(grids))
	for n := range grids {
		names = append(names, n)
	}
	slices.Sort(names)
	var all strings.Builder
	for _, name := range names {
		src := grids[name]
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		cpu0 := cpuTime()
		g, err := Parse(name, src)
		took := cpuTime() - cpu0
		runtime.ReadMemStats(&ms1)
		if alloc := ms1.TotalAlloc - ms0.TotalAlloc; took > hostileTime || alloc > hostileBytes {
			t.Errorf("%s: %v of CPU and %d MB allocated, over the budget of %v and %d MB", name, took, alloc>>20, hostileTime, hostileBytes>>20)
		}
		fmt.Fprintf(&all, "== %s\n", name)
		var es Errors
		var size *SizeError
		switch {
		case err == nil:
			p := NewPlan(g, nil)
			fmt.Fprintf(&all, "ok: %d jobs\n", p.Stats.Jobs)
		case errors.As(err, &es):
			for _, e := range es {
				if e.Pos.Line == 0 || e.Pos.Col == 0 {
					t.Errorf("%s: an error without a position: %v", name, e)
				}
			}
			fmt.Fprintln(&all, err)
		case errors.As(err, &size):
			fmt.Fprintln(&all, err)
		default:
			t.Errorf("%s: error of type %T: %v", name, err, err)
		}
	}
	golden.Check(t, "hostile.golden", all.String())
}

// TestTenMistakes: a file with ten different mistakes gets all ten in one
// run, in line order, each naming the innermost key; "did you mean" never
// suggests the key that was typed.
func TestTenMistakes(t *testing.T) {
	src, err := os.ReadFile("testdata/hostile/ten-mistakes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("ten.yaml", src)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v, want Errors", err)
	}
	want := []struct {
		line int
		has  string
	}{
		{2, `unknown dataset "fashion-mnst" (did you mean "fashion-mnist"?)`},
		{4, `unknown key "seed" (did you mean "seeds"?)`},
		{5, `unknown key "fractons" (did you mean "fractions"?)`},
		{7, `unknown key "epochz" (did you mean "epochs"?)`},
		{8, `wrong type for "batch"`},
		{9, `learning rate -1 is out of range`},
		{10, `wrong type for "epochs": 2.5 is not an integer`},
		{10, `knn_k 0 is out of range [1, 100000]`},
		{11, `noise rate 1.5 is out of range`},
		{12, `wrong type for "backend": got a list`},
	}
	if len(es) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if es[i].Pos.Line != w.line || !strings.Contains(es[i].Error(), w.has) {
			t.Errorf("error %d: got %v, want line %d with %q", i, es[i], w.line, w.has)
		}
	}
}

// TestSizeLimit: a grid above the limit is refused before it is expanded,
// with one line that says how many jobs, which axes multiply and the flag
// that lifts the limit; lifted, the same grid plans.
func TestSizeLimit(t *testing.T) {
	src := []byte("name: big\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l, cnn-s+cnn-s]\nnoise: {rates: [0, 0.2]}\nseeds: [1, 2, 3, 4, 5]\nreferences: []\n")
	_, err := ParseContext(context.Background(), "big.yaml", src, Options{MaxJobs: 100})
	var size *SizeError
	if !errors.As(err, &size) {
		t.Fatalf("got %v, want a *SizeError", err)
	}
	// 2 pairs x 2 rates x 5 seeds = 20 points, 3 + 3x4 = 15 jobs each.
	want := "big.yaml plans up to 300 jobs (2 pairs x 2 rates x 5 seeds x 15 jobs per point), above the limit of 100: pass --max-jobs 300 to plan it"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	g, err := ParseContext(context.Background(), "big.yaml", src, Options{MaxJobs: 300})
	if err != nil {
		t.Fatal(err)
	}
	if p := NewPlan(g, nil); p.Stats.Jobs > 300 {
		t.Errorf("%d jobs planned, above the bound of 300", p.Stats.Jobs)
	}
}

// TestCancelStopsChecks: the checks that expand a large grid stop when the
// context is cancelled.
func TestCancelStopsChecks(t *testing.T) {
	quick, err := os.ReadFile("../../configs/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := withSeeds(quick, 400_000)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err = ParseContext(ctx, "seeds.yaml", src, Options{MaxJobs: 1 << 40})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	t.Logf("returned %v after the start", time.Since(start))
}
