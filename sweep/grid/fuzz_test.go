package grid

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseGrid: any input either fails with Errors or yields a grid
// whose plan is a valid job graph. Its seed corpus (the shipped grids and
// tricky inputs) runs in every `go test`.
func FuzzParseGrid(f *testing.F) {
	grids, _ := filepath.Glob("../../configs/*.yaml")
	for _, g := range grids {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "name: t", "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nzip: [[seed]]\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\ninclude: [{}]\nexclude: [{seed: [1, 2]}]\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: ['+']\n", "name: &a t\nx: *a\n", "- a\n- b\n", "{name: [1, {2: 3}]}",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nnoise: {rates: [.nan]}\n",
		"name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: [9999999999999999999]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		g, err := Parse("fuzz.yaml", src)
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if g.Count() > 5000 {
			return // valid but too large to plan in a fuzz iteration
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
