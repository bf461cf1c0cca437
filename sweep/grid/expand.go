package grid

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
)

// Point is one grid point: one value of every axis.
type Point struct {
	Dataset   string  `json:"dataset"`
	Objective string  `json:"objective"`
	Pair      string  `json:"pair"`
	NoiseRate float64 `json:"noise_rate"`
	NoiseKind string  `json:"noise_kind"`
	Fraction  float64 `json:"fraction"`
	Seed      int     `json:"seed"`
}

// axis is one dimension of the grid: its name (as zip, include and exclude
// write it), where a grid file lists its values, how many values a grid
// gives it, how a point takes its i-th value, shows it as a canonical string
// or reads one back, and how a value is checked.
type axis struct {
	name, path, key string
	n               func(g *Grid) int
	set             func(g *Grid, p *Point, i int)
	get             func(p Point) string
	parse           func(p *Point, s string)
	check           func(v *validator, path, s string) bool
}

// axes are the grid's dimensions, in the order they combine.
var axes = []axis{
	{"dataset", "$.datasets", "datasets", func(g *Grid) int { return len(g.Datasets) },
		func(g *Grid, p *Point, i int) { p.Dataset = g.Datasets[i] },
		func(p Point) string { return p.Dataset }, func(p *Point, s string) { p.Dataset = s },
		func(v *validator, path, s string) bool { return v.oneOf(path, "dataset", s, data.Names()) }},
	{"objective", "$.objectives", "objectives", func(g *Grid) int { return len(g.Objectives) },
		func(g *Grid, p *Point, i int) { p.Objective = g.Objectives[i] },
		func(p Point) string { return p.Objective }, func(p *Point, s string) { p.Objective = s },
		func(v *validator, path, s string) bool {
			a, b := job.SplitObjective(s)
			return v.oneOf(path, "objective", a, job.Objectives) && (a == b || v.oneOf(path, "objective", b, job.Objectives))
		}},
	{"pair", "$.pairs", "pairs", func(g *Grid) int { return len(g.Pairs) },
		func(g *Grid, p *Point, i int) { p.Pair = g.Pairs[i] },
		func(p Point) string { return p.Pair }, func(p *Point, s string) { p.Pair = s },
		func(v *validator, path, s string) bool {
			sm, lg, ok := job.SplitPair(s)
			if !ok {
				v.errorf(path, "pairs", `write the pair as "small+large", e.g. "cnn-s+cnn-l"`, "pair %q is not small+large", s)
				return false
			}
			return v.arch(path, sm) && (sm == lg || v.arch(path, lg))
		}},
	{"noise_rate", "$.noise.rates", "rates", func(g *Grid) int { return len(g.Noise.Rates) },
		func(g *Grid, p *Point, i int) { p.NoiseRate = g.Noise.Rates[i] },
		func(p Point) string { return ftoa(p.NoiseRate) }, func(p *Point, s string) { p.NoiseRate, _ = strconv.ParseFloat(s, 64) },
		func(v *validator, path, s string) bool {
			if f, _ := strconv.ParseFloat(s, 64); !(f >= 0 && f < 1) {
				v.errorf(path, "rates", "a noise rate is a fraction of labels in [0, 1): 0.2 means 20%", "noise rate %s is out of range", s)
				return false
			}
			return true
		}},
	{"noise_kind", "$.noise.kinds", "kinds", func(g *Grid) int { return len(g.Noise.Kinds) },
		func(g *Grid, p *Point, i int) { p.NoiseKind = g.Noise.Kinds[i] },
		func(p Point) string { return p.NoiseKind }, func(p *Point, s string) { p.NoiseKind = s },
		func(v *validator, path, s string) bool { return v.oneOf(path, "noise kind", s, job.NoiseKinds) }},
	{"fraction", "$.fractions", "fractions", func(g *Grid) int { return len(g.Fractions) },
		func(g *Grid, p *Point, i int) { p.Fraction = g.Fractions[i] },
		func(p Point) string { return ftoa(p.Fraction) }, func(p *Point, s string) { p.Fraction, _ = strconv.ParseFloat(s, 64) },
		func(v *validator, path, s string) bool {
			if f, _ := strconv.ParseFloat(s, 64); !(f > 0 && f <= 1) {
				v.errorf(path, "fractions", "a label fraction is in (0, 1]: 0.01 means 1% of the labels", "label fraction %s is out of range", s)
				return false
			}
			return true
		}},
	{"seed", "$.seeds", "seeds", func(g *Grid) int { return len(g.Seeds) },
		func(g *Grid, p *Point, i int) { p.Seed = g.Seeds[i] },
		func(p Point) string { return strconv.Itoa(p.Seed) }, func(p *Point, s string) { p.Seed, _ = strconv.Atoi(s) },
		func(v *validator, path, s string) bool {
			if n, err := strconv.Atoi(s); err != nil || n < 0 || n > maxSeed {
				v.errorf(path, "seeds", "seeds are integers in [0, 2147483647]", "seed %s is out of range", s)
				return false
			}
			return true
		}},
}

// maxSeed is the largest seed (a 31-bit integer, as every framework takes).
const maxSeed = 1<<31 - 1

// axisNames are the names zip, include and exclude use for the axes.
var axisNames = func() []string {
	names := make([]string, len(axes))
	for i, a := range axes {
		names[i] = a.name
	}
	return names
}()

// axisByName returns the axis of a name; names are checked by validation.
func axisByName(name string) axis {
	for _, a := range axes {
		if a.name == name {
			return a
		}
	}
	panic("grid: unknown axis " + name)
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// key is a canonical identity of a point.
func (p Point) key() string {
	var b strings.Builder
	for _, a := range axes {
		b.WriteString(a.get(p))
		b.WriteByte('|')
	}
	return b.String()
}

// units are the groups of axes that vary together: one per axis, except that
// a zip entry makes its axes one unit.
func (g *Grid) units() [][]axis {
	inZip := map[string]bool{}
	var units [][]axis
	for _, z := range g.Zip {
		var u []axis
		for _, name := range z {
			inZip[name] = true
			u = append(u, axisByName(name))
		}
		units = append(units, u)
	}
	for _, a := range axes {
		if !inZip[a.name] {
			units = append(units, []axis{a})
		}
	}
	return units
}

// Count returns the number of points of the product (before include and
// exclude) without building them.
func (g *Grid) Count() int {
	n := 1
	for _, u := range g.units() {
		n *= u[0].n(g)
	}
	return n
}

// Points expands the grid: the product of its axes (zipped axes varying
// together), less the excluded points, plus the included ones, in a stable order.
func (g *Grid) Points() []Point {
	points, _ := g.PointsContext(context.Background())
	return points
}

// PointsContext is Points, stopped (with ctx's error) when ctx is cancelled.
func (g *Grid) PointsContext(ctx context.Context) ([]Point, error) {
	units := g.units()
	lens := make([]int, len(units))
	total := 1
	for i, u := range units {
		lens[i] = u[0].n(g)
		total *= lens[i]
	}
	points := make([]Point, 0, min(total, 1<<20)+len(g.Include))
	idx := make([]int, len(units))
	for n := 0; n < total; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var p Point
		for ui, u := range units {
			for _, a := range u {
				a.set(g, &p, idx[ui])
			}
		}
		if !g.excluded(p) {
			points = append(points, p)
		}
		for ui := len(idx) - 1; ui >= 0; ui-- {
			idx[ui]++
			if idx[ui] < lens[ui] {
				break
			}
			idx[ui] = 0
		}
	}
	for _, inc := range g.Include {
		points = append(points, g.includePoints(inc)...)
	}
	return points, nil
}

func (g *Grid) excluded(p Point) bool {
	for _, ex := range g.Exclude {
		if matches(p, ex) {
			return true
		}
	}
	return false
}

// matches reports whether p matches every key of an exclude entry; a list
// value matches any of its elements.
func matches(p Point, m map[string]any) bool {
	for k, v := range m {
		vals, ok := v.([]any)
		if !ok {
			vals = []any{v}
		}
		hit := false
		for _, x := range vals {
			if want, err := canonical(k, x); err == nil && axisByName(k).get(p) == want {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

// includePoints expands an include entry: the axes it names are fixed, the
// others range over the grid's values.
func (g *Grid) includePoints(inc map[string]any) []Point {
	var base Point
	var free []axis
	for _, a := range axes {
		v, ok := inc[a.name]
		if !ok {
			free = append(free, a)
			continue
		}
		s, _ := canonical(a.name, v)
		a.parse(&base, s)
	}
	out := []Point{base}
	for _, a := range free {
		var next []Point
		for _, p := range out {
			for i := 0; i < a.n(g); i++ {
				q := p
				a.set(g, &q, i)
				next = append(next, q)
			}
		}
		out = next
	}
	return out
}

// canonical turns a YAML value for an axis into the string its get gives.
func canonical(axis string, v any) (string, error) {
	switch axis {
	case "noise_rate", "fraction":
		f, ok := toFloat(v)
		if !ok {
			return "", fmt.Errorf("want a number, got %v", v)
		}
		return ftoa(f), nil
	case "seed":
		f, ok := toFloat(v)
		if !ok || f != math.Trunc(f) {
			return "", fmt.Errorf("want an integer, got %v", v)
		}
		return strconv.Itoa(int(f)), nil
	default:
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("want a string, got %v", v)
		}
		return s, nil
	}
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// axes validates zip, include and exclude, and looks for duplicate points.
func (v *validator) checkAxes(g *Grid) {
	if len(v.errs) > 0 || v.unread {
		return // Axis values are wrong already: later checks would repeat them.
	}
	zipped := map[string]bool{}
	for i, z := range g.Zip {
		path := fmt.Sprintf("$.zip[%d]", i)
		if len(z) < 2 {
			v.errorf(path, "zip", "a zip entry names two or more axes, e.g. [dataset, pair]", "zip entry with %d axes", len(z))
			continue
		}
		n := -1
		for j, a := range z {
			p := fmt.Sprintf("%s[%d]", path, j)
			if !v.oneOf(p, "axis", a, axisNames) {
				continue
			}
			if zipped[a] {
				v.errorf(p, "zip", "an axis can be in one zip entry only", "axis %q is zipped twice", a)
			}
			zipped[a] = true
			an := axisByName(a).n(g)
			if n >= 0 && an != n {
				v.errorf(p, "zip", "zipped axes need the same number of values", "axis %q has %d values, %q has %d", a, an, z[0], n)
			}
			if n < 0 {
				n = an
			}
		}
	}
	checkEntry := func(kind string, i int, m map[string]any) bool {
		ok := true
		if len(m) == 0 {
			v.errorf(fmt.Sprintf("$.%s[%d]", kind, i), kind, "name at least one axis, e.g. {pair: cnn-s+cnn-s}", "empty %s entry", kind)
			return false
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			p := fmt.Sprintf("$.%s[%d].%s", kind, i, k)
			if !v.oneOf(p, "axis", k, axisNames) {
				ok = false
				continue
			}
			vals, isList := m[k].([]any)
			if !isList {
				vals = []any{m[k]}
			} else if kind == "include" {
				v.errorf(p, k, "write one value per include entry, or one entry per value", "%s: an include entry takes a single value", k)
				ok = false
				continue
			}
			for _, x := range vals {
				s, err := canonical(k, x)
				if err != nil {
					v.errorf(p, k, "", "%s: %v", k, err)
					ok = false
					continue
				}
				if kind == "include" {
					ok = axisByName(k).check(v, p, s) && ok
				}
			}
		}
		return ok
	}
	okEx := make([]bool, len(g.Exclude))
	for i, ex := range g.Exclude {
		okEx[i] = checkEntry("exclude", i, ex)
	}
	for i, inc := range g.Include {
		checkEntry("include", i, inc)
	}
	if len(v.errs) > 0 {
		return
	}
	if jobs, factors := g.Bound(); jobs > float64(v.maxJobs) {
		v.size = &SizeError{File: v.name, Jobs: jobs, Axes: factors, Limit: v.maxJobs}
		return // too large to check by expanding it
	}
	product, err := g.productContext(v.ctx)
	if err != nil {
		return
	}
	for i, ex := range g.Exclude {
		if !okEx[i] {
			continue
		}
		// An entry that removes nothing is most likely a typo.
		hit := false
		for _, p := range product {
			if matches(p, ex) {
				hit = true
				break
			}
		}
		if !hit {
			v.errorf(fmt.Sprintf("$.exclude[%d]", i), "exclude", "check the values against the axes", "exclude entry matches no grid point")
		}
	}
	if len(v.errs) > 0 {
		return
	}
	seen := make(map[string]bool, g.Count())
	datasets := data.Known()
	points, err := g.PointsContext(v.ctx)
	if err != nil {
		return
	}
	for _, p := range points {
		// MLP encoders take 28x28 grey images only.
		if info := datasets[p.Dataset]; info.Channels != 1 {
			sm, lg, _ := job.SplitPair(p.Pair)
			for _, a := range []string{sm, lg} {
				if arch, _ := job.LookupArch(a); arch.GreyOnly() {
					v.errorf(v.pairPath(g, p.Pair), "pairs", "use a CNN or ResNet for colour images, or zip MLP pairs with grey data sets", "architecture %q takes 28x28 grey images, not %s", a, p.Dataset)
					return
				}
			}
		}
		k := p.key()
		if seen[k] {
			v.errorf("$.include", "include", "remove the include entry that repeats a point of the product", "duplicate grid point %s", p)
			return
		}
		seen[k] = true
	}
}

// pairPath is the YAML path of a pair's value, for error positions.
func (v *validator) pairPath(g *Grid, pair string) string {
	for i, p := range g.Pairs {
		if p == pair {
			return fmt.Sprintf("$.pairs[%d]", i)
		}
	}
	return "$.include"
}

// productContext returns every point of the product, before include and
// exclude; cancelling ctx stops it.
func (g *Grid) productContext(ctx context.Context) ([]Point, error) {
	ex, inc := g.Exclude, g.Include
	g.Exclude, g.Include = nil, nil
	defer func() { g.Exclude, g.Include = ex, inc }()
	return g.PointsContext(ctx)
}

func (p Point) String() string {
	return fmt.Sprintf("{dataset: %s, objective: %s, pair: %s, noise: %s %s, fraction: %s, seed: %d}",
		p.Dataset, p.Objective, p.Pair, ftoa(p.NoiseRate), p.NoiseKind, ftoa(p.Fraction), p.Seed)
}
