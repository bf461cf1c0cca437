package grid

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/job"
)

const seqSrc = "name: s\ndatasets: [fashion-mnist]\npairs: [mlp-s+mlp-l, mlp-s+mlp-s]\nreferences: []\nseeds: {min: 3, max: 5}\n"

// seeds: {min, max} is a sequential grid: its plan starts with seeds 1 to
// min; decide has its defaults; mistakes are positioned.
func TestSequentialGrid(t *testing.T) {
	g := mustGrid(t, seqSrc)
	if g.Sequential == nil || *g.Sequential != (SeedRange{3, 5}) || fmt.Sprint(g.Seeds) != "[1 2 3]" {
		t.Fatalf("sequential %+v, seeds %v", g.Sequential, g.Seeds)
	}
	if fmt.Sprint(g.Decide) != "{[linear knn] 0.5}" {
		t.Errorf("decide defaults %+v", g.Decide)
	}
	if s := NewPlan(g, nil).Settings.Decide; s.Min != 3 || s.Max != 5 || s.Margin != 0.5 {
		t.Errorf("the plan's decide settings %+v", s)
	}
	for _, tc := range []struct{ src, want string }{
		{"seeds: {min: 1, max: 5}", "g.yaml:5:8: seeds min 1 is out of range [2, 1000]"},
		{"seeds: {min: 4, max: 3}", "g.yaml:5:8: seeds max 3 is out of range [4, 1000]"},
		{"seeds: {min: 3, max: 5}\nexclude: [{seed: 4}]", "g.yaml:6:11: exclude names seed in a sequential grid"},
		{"seeds: {min: 3, maks: 5}", `g.yaml:5:17: unknown key "maks" in seeds (did you mean "max"?`},
		{"decide: {on: [linear, probe], margin: 0}", `g.yaml:5:23: unknown protocol "probe"`},
	} {
		src := strings.Replace(seqSrc, "seeds: {min: 3, max: 5}\n", "", 1) + tc.src + "\n"
		_, err := Parse("g.yaml", []byte(src))
		var es Errors
		if !errors.As(err, &es) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s", tc.src, err, tc.want)
		}
	}
}

// A round gives each cell its own seeds: the plan has the pretraining of
// each cell's seeds only, and shares the solo twins between the cells.
func TestRoundPlansEachCellsSeeds(t *testing.T) {
	g := mustGrid(t, seqSrc)
	cells := g.Cells()
	if len(cells) != 2 || cells[0].Pair != "mlp-s+mlp-l" {
		t.Fatalf("cells %v", cells)
	}
	p := NewPlan(g.Round(map[Cell]int{cells[0]: 5, cells[1]: 3}), nil)
	dogo := map[string][]int{}
	solo := map[string][]int{}
	for _, j := range p.Jobs {
		if j.Spec.Kind != job.KindPretrain {
			continue
		}
		pair := strings.Join(j.Spec.Archs, "+")
		if j.Spec.Method == job.MethodDoGo {
			dogo[pair] = append(dogo[pair], j.Spec.Seed)
		} else {
			solo[pair] = append(solo[pair], j.Spec.Seed)
		}
	}
	if fmt.Sprint(dogo["mlp-s+mlp-l"]) != "[1 2 3 4 5]" || fmt.Sprint(dogo["mlp-s+mlp-s"]) != "[1 2 3]" {
		t.Errorf("DoGo pretraining seeds %v", dogo)
	}
	// Solo mlp-s serves both cells: seeds 1-5; solo mlp-l only the first.
	if fmt.Sprint(solo["mlp-s"]) != "[1 2 3 4 5]" || fmt.Sprint(solo["mlp-l"]) != "[1 2 3 4 5]" {
		t.Errorf("solo pretraining seeds %v", solo)
	}
}
