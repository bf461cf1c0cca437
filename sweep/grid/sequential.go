package grid

import (
	"cmp"
	"slices"
)

// Cell is what a sequential grid gives seeds to: a pair's pretraining on a
// data set with an objective, with everything below it (its encoders'
// probes, their solo twins and the references), every seed at once.
type Cell struct {
	Dataset, Objective, Pair string
}

func (c Cell) String() string { return c.Dataset + " " + c.Objective + " " + c.Pair }

// Cells lists the grid's cells, in order.
func (g *Grid) Cells() []Cell {
	seen := map[Cell]bool{}
	var out []Cell
	for _, p := range g.Points() {
		c := Cell{p.Dataset, p.Objective, p.Pair}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Cell) int {
		return cmp.Or(cmp.Compare(a.Dataset, b.Dataset), cmp.Compare(a.Objective, b.Objective), cmp.Compare(a.Pair, b.Pair))
	})
	return out
}

// Round is the grid of one round of a sequential sweep: cell c has seeds
// 1 to seeds[c] (the grid's min where seeds lacks it). The cells with
// fewer seeds than the most exclude the rest: the plan of a round holds
// exactly the jobs the cells' seeds need, shared as in any plan.
func (g *Grid) Round(seeds map[Cell]int) *Grid {
	r := *g
	top := 0
	for _, c := range g.Cells() {
		top = max(top, cmp.Or(seeds[c], g.Sequential.Min))
	}
	r.Seeds = make([]int, top)
	for i := range r.Seeds {
		r.Seeds[i] = i + 1
	}
	r.Exclude = slices.Clone(g.Exclude)
	for _, c := range g.Cells() {
		n := cmp.Or(seeds[c], g.Sequential.Min)
		if n >= top {
			continue
		}
		var rest []any
		for s := n + 1; s <= top; s++ {
			rest = append(rest, int64(s))
		}
		r.Exclude = append(r.Exclude, map[string]any{"dataset": c.Dataset, "objective": c.Objective, "pair": c.Pair, "seed": rest})
	}
	return &r
}
