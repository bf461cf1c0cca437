package sweep

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dogo-sweep/sweep/data"
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

// axisNames are the names zip, include and exclude use for the axes.
var axisNames = []string{"dataset", "objective", "pair", "noise_rate", "noise_kind", "fraction", "seed"}

// axisLen returns the number of values of an axis.
func (g *Grid) axisLen(axis string) int {
	switch axis {
	case "dataset":
		return len(g.Datasets)
	case "objective":
		return len(g.Objectives)
	case "pair":
		return len(g.Pairs)
	case "noise_rate":
		return len(g.Noise.Rates)
	case "noise_kind":
		return len(g.Noise.Kinds)
	case "fraction":
		return len(g.Fractions)
	case "seed":
		return len(g.Seeds)
	}
	return 0
}

// set sets one axis of p to the i-th value of that axis in g.
func (g *Grid) set(p *Point, axis string, i int) {
	switch axis {
	case "dataset":
		p.Dataset = g.Datasets[i]
	case "objective":
		p.Objective = g.Objectives[i]
	case "pair":
		p.Pair = g.Pairs[i]
	case "noise_rate":
		p.NoiseRate = g.Noise.Rates[i]
	case "noise_kind":
		p.NoiseKind = g.Noise.Kinds[i]
	case "fraction":
		p.Fraction = g.Fractions[i]
	case "seed":
		p.Seed = g.Seeds[i]
	}
}

// get returns an axis value of p as a canonical string.
func (p Point) get(axis string) string {
	switch axis {
	case "dataset":
		return p.Dataset
	case "objective":
		return p.Objective
	case "pair":
		return p.Pair
	case "noise_rate":
		return ftoa(p.NoiseRate)
	case "noise_kind":
		return p.NoiseKind
	case "fraction":
		return ftoa(p.Fraction)
	case "seed":
		return strconv.Itoa(p.Seed)
	}
	return ""
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// key is a canonical identity of a point.
func (p Point) key() string {
	var b strings.Builder
	for _, a := range axisNames {
		b.WriteString(p.get(a))
		b.WriteByte('|')
	}
	return b.String()
}

// units are the groups of axes that vary together: one per axis, except that
// a zip entry makes its axes one unit.
func (g *Grid) units() [][]string {
	inZip := map[string]bool{}
	var units [][]string
	for _, z := range g.Zip {
		units = append(units, z)
		for _, a := range z {
			inZip[a] = true
		}
	}
	for _, a := range axisNames {
		if !inZip[a] {
			units = append(units, []string{a})
		}
	}
	return units
}

// Count returns the number of points of the product (before include and
// exclude) without building them.
func (g *Grid) Count() int {
	n := 1
	for _, u := range g.units() {
		n *= g.axisLen(u[0])
	}
	return n
}

// Points expands the grid: the product of its axes (zipped axes varying
// together), less the excluded points, plus the included ones, in a stable order.
func (g *Grid) Points() []Point {
	units := g.units()
	lens := make([]int, len(units))
	total := 1
	for i, u := range units {
		lens[i] = g.axisLen(u[0])
		total *= lens[i]
	}
	points := make([]Point, 0, total+len(g.Include))
	idx := make([]int, len(units))
	for n := 0; n < total; n++ {
		var p Point
		for ui, u := range units {
			for _, a := range u {
				g.set(&p, a, idx[ui])
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
	return points
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
			if want, err := canonical(k, x); err == nil && p.get(k) == want {
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
	var free []string
	for _, a := range axisNames {
		if _, ok := inc[a]; !ok {
			free = append(free, a)
		}
	}
	var base Point
	for k, v := range inc {
		s, _ := canonical(k, v)
		setString(&base, k, s)
	}
	out := []Point{base}
	for _, a := range free {
		var next []Point
		for _, p := range out {
			for i := 0; i < g.axisLen(a); i++ {
				q := p
				g.set(&q, a, i)
				next = append(next, q)
			}
		}
		out = next
	}
	return out
}

func setString(p *Point, axis, s string) {
	switch axis {
	case "dataset":
		p.Dataset = s
	case "objective":
		p.Objective = s
	case "pair":
		p.Pair = s
	case "noise_rate":
		p.NoiseRate, _ = strconv.ParseFloat(s, 64)
	case "noise_kind":
		p.NoiseKind = s
	case "fraction":
		p.Fraction, _ = strconv.ParseFloat(s, 64)
	case "seed":
		p.Seed, _ = strconv.Atoi(s)
	}
}

// canonical turns a YAML value for an axis into the string Point.get gives.
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
func (v *validator) axes(g *Grid) {
	if len(v.errs) > 0 {
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
			if n >= 0 && g.axisLen(a) != n {
				v.errorf(p, "zip", "zipped axes need the same number of values", "axis %q has %d values, %q has %d", a, g.axisLen(a), z[0], n)
			}
			if n < 0 {
				n = g.axisLen(a)
			}
		}
	}
	checkEntry := func(kind string, i int, m map[string]any) bool {
		ok := true
		if len(m) == 0 {
			v.errorf(fmt.Sprintf("$.%s[%d]", kind, i), kind, "name at least one axis, e.g. {pair: cnn-s+cnn-s}", "empty %s entry", kind)
			return false
		}
		for _, k := range sortedKeys(m) {
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
					ok = v.includeValue(p, k, s) && ok
				}
			}
		}
		return ok
	}
	for i, ex := range g.Exclude {
		if !checkEntry("exclude", i, ex) {
			continue
		}
		// An entry that removes nothing is most likely a typo.
		hit := false
		for _, p := range g.product() {
			if matches(p, ex) {
				hit = true
				break
			}
		}
		if !hit {
			v.errorf(fmt.Sprintf("$.exclude[%d]", i), "exclude", "check the values against the axes", "exclude entry matches no grid point")
		}
	}
	for i, inc := range g.Include {
		checkEntry("include", i, inc)
	}
	if len(v.errs) > 0 {
		return
	}
	seen := make(map[string]bool, g.Count())
	datasets := data.Known()
	archs := Archs()
	for _, p := range g.Points() {
		// MLP encoders take 28x28 grey images only.
		if info := datasets[p.Dataset]; info.Channels != 1 {
			sm, lg, _ := SplitPair(p.Pair)
			for _, a := range []string{sm, lg} {
				if strings.HasPrefix(archs[a].Name, "mlp") {
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

// product returns every point of the product, before include and exclude.
func (g *Grid) product() []Point {
	ex := g.Exclude
	g.Exclude = nil
	inc := g.Include
	g.Include = nil
	pts := g.Points()
	g.Exclude, g.Include = ex, inc
	return pts
}

func (v *validator) includeValue(path, axis, s string) bool {
	switch axis {
	case "dataset":
		return v.oneOf(path, "dataset", s, data.Names())
	case "objective":
		a, b := SplitObjective(s)
		return v.oneOf(path, "objective", a, objectiveNames) && v.oneOf(path, "objective", b, objectiveNames)
	case "pair":
		sm, lg, ok := SplitPair(s)
		if !ok {
			v.errorf(path, "pair", `write the pair as "small+large"`, "pair %q is not small+large", s)
			return false
		}
		return v.oneOf(path, "architecture", sm, sortedKeys(Archs())) && v.oneOf(path, "architecture", lg, sortedKeys(Archs()))
	case "noise_kind":
		return v.oneOf(path, "noise kind", s, noiseKinds)
	case "noise_rate":
		f, _ := strconv.ParseFloat(s, 64)
		if f < 0 || f >= 1 {
			v.errorf(path, "noise_rate", "a noise rate is in [0, 1)", "noise rate %g is out of range", f)
			return false
		}
	case "fraction":
		f, _ := strconv.ParseFloat(s, 64)
		if f <= 0 || f > 1 {
			v.errorf(path, "fraction", "a label fraction is in (0, 1]", "label fraction %g is out of range", f)
			return false
		}
	}
	return true
}

func (p Point) String() string {
	return fmt.Sprintf("{dataset: %s, objective: %s, pair: %s, noise: %s %s, fraction: %s, seed: %d}",
		p.Dataset, p.Objective, p.Pair, ftoa(p.NoiseRate), p.NoiseKind, ftoa(p.Fraction), p.Seed)
}
