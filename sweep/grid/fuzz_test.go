package grid

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// FuzzParseGrid: any input either fails with positioned Errors (or the job
// limit's *SizeError) or yields a grid whose plan is a valid job graph,
// within the hostile budget (2 s, 500 MB allocated). Its seed corpus (the
// shipped grids, the hostile corpus and tricky inputs) runs in every
// `go test`; `go test -fuzz FuzzParseGrid ./sweep/grid` searches further.
func FuzzParseGrid(f *testing.F) {
	grids, _ := filepath.Glob("../../configs/*.yaml")
	for _, g := range grids {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	for _, b := range hostileGrids(f) {
		f.Add(b)
	}
	for _, s := range []string{
		"", "name: t", "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nzip: [[seed]]\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\ninclude: [{}]\nexclude: [{seed: [1, 2]}]\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: ['+']\n", "name: &a t\nx: *a\n", "- a\n- b\n", "{name: [1, {2: 3}]}",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nnoise: {rates: [.nan]}\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: [9999999999999999999]\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: !!binary AQID\n",
		"name: t\n---\nname: u\n", "name: t\npretrain: {epochs: 1.5}\n", "name: \"\\xff\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		cpu0 := cpuTime()
		g, err := Parse("fuzz.yaml", src)
		took := cpuTime() - cpu0
		runtime.ReadMemStats(&ms1)
		if alloc := ms1.TotalAlloc - ms0.TotalAlloc; took > hostileTime || alloc > hostileBytes {
			t.Fatalf("%v of CPU and %d MB allocated, over the budget", took, alloc>>20)
		}
		var es Errors
		var size *SizeError
		switch {
		case errors.As(err, &es):
			for _, e := range es {
				if e.Pos.Line == 0 {
					t.Fatalf("an error without a position: %v", e)
				}
			}
			return
		case errors.As(err, &size):
			return
		case err != nil:
			t.Fatalf("error of type %T: %v", err, err)
		}
		p := NewPlan(g, nil)
		if err := p.Topo(); err != nil {
			t.Fatal(err)
		}
		if len(p.Jobs) == 0 {
			t.Fatal("valid grid with an empty plan")
		}
	})
}
