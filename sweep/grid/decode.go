package grid

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The grid is read in two steps: yaml.v3 parses the file into a tree of
// nodes, which keeps aliases as references (a 1 KB file of nested aliases
// stays 1 KB), then decode walks the tree against the schema (the Grid's
// yaml tags), so that every mistake is found in one pass with its line and
// column and the innermost key, aliases are followed within a budget, and
// numbers are read strictly (1.5 is not an integer, 2^64 is not a seed).
// goccy/go-yaml, used before, expanded aliases in full when decoding (16.9
// GB for a 1 KB grid), stopped at the first unknown key or type, needed a
// recover for malformed input, and read 1.5 as the integer 1.

// aliasBudget is how many nodes a grid may reach through aliases: plenty
// for sharing a list of values, far below what takes a machine down.
const aliasBudget = 100_000

// decoder reads a node tree into a Grid and keeps every mistake, and the
// position of every value by its path ("$.pretrain.epochs", "$.seeds[2]").
type decoder struct {
	name    string
	errs    Errors
	pos     map[string]Position
	aliased int
}

func (d *decoder) at(n *yaml.Node) Position {
	return Position{File: d.name, Line: n.Line, Col: n.Column}
}

// errorf records a mistake at a node, once (an alias repeats its anchor's).
func (d *decoder) errorf(n *yaml.Node, key, fix, format string, args ...any) {
	e := &Error{Pos: d.at(n), Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix}
	for _, o := range d.errs {
		if o.Pos == e.Pos && o.Msg == e.Msg {
			return
		}
	}
	d.errs = append(d.errs, e)
}

// intText matches an integer as YAML writes one, however large.
var intText = regexp.MustCompile(`^[-+]?(0|[1-9][0-9_]*)$`)

// decode reads src, a single YAML document, into g (which holds the
// defaults), reporting every mistake with its position.
func decode(name string, src []byte, g *Grid) *decoder {
	d := &decoder{name: name, pos: map[string]Position{}}
	if i := invalidUTF8(src); i >= 0 {
		line := 1 + bytes.Count(src[:i], []byte("\n"))
		col := 1 + i - (bytes.LastIndexByte(src[:i], '\n') + 1)
		d.errs = append(d.errs, &Error{Pos: Position{File: name, Line: line, Col: col}, Msg: "the file is not valid UTF-8", Fix: "save it as UTF-8"})
		return d
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		d.errs = append(d.errs, &Error{Pos: Position{File: name, Line: 1, Col: 1}, Msg: "the grid file holds no settings (it is empty, or only comments)", Fix: "see configs/quickstart.yaml for a complete example"})
		return d
	case err != nil:
		d.errs = append(d.errs, yamlError(name, err))
		return d
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.errs = append(d.errs, &Error{Pos: Position{File: name, Line: extra.Line, Col: extra.Column}, Msg: "a second YAML document: a grid file holds one",
			Fix: "remove the '---' and what follows, or put the second grid in a file of its own"})
		return d
	case !errors.Is(err, io.EOF):
		d.errs = append(d.errs, yamlError(name, err))
		return d
	}
	root := doc.Content[0]
	d.sequentialSeeds(root, g)
	d.value(root, reflect.ValueOf(g).Elem(), "$", "")
	slices.SortStableFunc(d.errs, func(a, b *Error) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Col - b.Pos.Col
	})
	return d
}

func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError is a syntax error of the parser, at its line when it says one.
func yamlError(name string, err error) *Error {
	e := &Error{Pos: Position{File: name, Line: 1, Col: 1}, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Pos.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	} else {
		e.Msg += " (the YAML parser gives no line for this)"
	}
	if strings.Contains(e.Msg, "exceeded max depth") {
		e.Fix = "a grid nests a few levels at most"
	}
	return e
}

// maxSeeds bounds a sequential grid's seeds.
const maxSeeds = 1000

// sequentialSeeds reads `seeds: {min: 3, max: 10}` into g.Sequential and
// puts the list of the first min seeds (1..min) in its place, which the
// rest of the decoding reads as any list of seeds.
func (d *decoder) sequentialSeeds(root *yaml.Node, g *Grid) {
	if root.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], d.resolve(root.Content[i+1])
		if k.Value != "seeds" || v == nil || v.Kind != yaml.MappingNode {
			continue
		}
		var r SeedRange
		before := len(d.errs)
		for j := 0; j+1 < len(v.Content); j += 2 {
			if kk := v.Content[j]; kk.Value != "min" && kk.Value != "max" {
				fix := "write a list of seeds ([1, 2, 3]), or {min: 3, max: 10} for sequential seeds"
				if c := closest(kk.Value, []string{"min", "max"}); c != "" && len(kk.Value) > 1 {
					fix = fmt.Sprintf("did you mean %q? (%s)", c, fix)
				}
				d.errorf(kk, "seeds", fix, "unknown key %q in seeds", kk.Value)
			}
		}
		if len(d.errs) == before {
			d.mapping(v, reflect.ValueOf(&r).Elem(), "$.seeds", "seeds")
		}
		switch {
		case len(d.errs) > before: // reported
		case r.Min < 2 || r.Min > maxSeeds:
			d.errorf(v, "min", "at least 2: an interval needs two seeds", "seeds min %d is out of range [2, %d]", r.Min, maxSeeds)
		case r.Max < r.Min || r.Max > maxSeeds:
			d.errorf(v, "max", fmt.Sprintf("from min (%d) to %d", r.Min, maxSeeds), "seeds max %d is out of range [%d, %d]", r.Max, r.Min, maxSeeds)
		default:
			g.Sequential = &r
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column}
		for s := 1; g.Sequential != nil && s <= r.Min; s++ {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(s), Line: v.Line, Column: v.Column})
		}
		if g.Sequential == nil {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1", Line: v.Line, Column: v.Column})
		}
		root.Content[i+1] = seq
		return
	}
}

// resolve follows an alias to its anchor, counting what it reaches against
// the budget; it returns nil (after an error) past the budget.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.AliasNode {
		return n
	}
	d.aliased += size(n.Alias, aliasBudget+1)
	if d.aliased > aliasBudget {
		if d.aliased < 2*aliasBudget+2 { // say it once
			d.errorf(n, "", "share fewer values through aliases, or write them out", "aliases reach more than %d values (nested aliases grow exponentially)", aliasBudget)
			d.aliased = 2*aliasBudget + 2
		}
		return nil
	}
	return n.Alias
}

// size counts the nodes under n, aliases followed, stopping past limit.
func size(n *yaml.Node, limit int) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		return size(n.Alias, limit)
	}
	total := 1
	for _, c := range n.Content {
		if total > limit {
			break
		}
		total += size(c, limit-total)
	}
	return total
}

// value decodes node into v; path is v's place in the grid, key the name
// of the innermost key (for messages).
func (d *decoder) value(n *yaml.Node, v reflect.Value, path, key string) {
	if n = d.resolve(n); n == nil {
		return
	}
	d.pos[path] = d.at(n)
	if n.Tag == "!!binary" {
		d.errorf(n, key, "write the value as text", "binary data for %q", key)
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && v.Kind() != reflect.Slice && v.Kind() != reflect.Pointer {
		d.errorf(n, key, "give it a value, or remove the key to use the default", "no value for %q", key)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path, key)
	case reflect.Pointer:
		if n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path, key)
	case reflect.Slice:
		d.list(n, v, path, key)
	case reflect.Map:
		d.anyMap(n, v, path, key)
	case reflect.Int:
		if x, ok := d.integer(n, key); ok {
			v.SetInt(x)
		}
	case reflect.Float64:
		if x, ok := d.number(n, key); ok {
			v.SetFloat(x)
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.wrongType(n, key, "a boolean (true or false)")
			return
		}
		v.SetBool(n.Value == "true")
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.wrongType(n, key, "a string")
			return
		}
		v.SetString(n.Value)
	default:
		d.errorf(n, key, "", "cannot read %q", key)
	}
}

// mapping decodes a YAML mapping into a struct by its fields' yaml tags.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path, key string) {
	if n.Kind != yaml.MappingNode {
		d.wrongType(n, key, "a mapping (key: value lines, or {key: value})")
		return
	}
	fields := map[string]int{}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		tag := strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			fields[tag] = i
			names = append(names, tag)
		}
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i])
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, key, "keys are names", "a key that is not a name")
			continue
		}
		if first, ok := seen[k.Value]; ok {
			d.errorf(k, k.Value, "remove one of the two", "key %q is already defined at line %d", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		f, ok := fields[k.Value]
		if !ok {
			fix := "see `sweep plan --show-defaults` for every key"
			if s := closest(k.Value, names); s != "" && s != k.Value {
				fix = fmt.Sprintf("did you mean %q?", s)
			}
			d.errorf(k, k.Value, fix, "unknown key %q", k.Value)
			continue
		}
		d.value(n.Content[i+1], v.Field(f), path+"."+k.Value, k.Value)
	}
}

// list decodes a YAML sequence into a slice (a null is an empty list).
func (d *decoder) list(n *yaml.Node, v reflect.Value, path, key string) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.wrongType(n, key, "a list ([a, b] or lines starting with '- ')")
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.value(c, out.Index(i), fmt.Sprintf("%s[%d]", path, i), key)
	}
	v.Set(out)
}

// anyMap decodes an include or exclude entry: axis names to a value or a
// list of values.
func (d *decoder) anyMap(n *yaml.Node, v reflect.Value, path, key string) {
	if n.Kind != yaml.MappingNode {
		d.wrongType(n, key, "a mapping of axes to values, e.g. {seed: 1}")
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := d.resolve(n.Content[i]), d.resolve(n.Content[i+1])
		if k == nil || val == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, key, "name an axis", "a key that is not an axis name")
			continue
		}
		p := path + "." + k.Value
		d.pos[p] = d.at(val)
		var x any
		switch val.Kind {
		case yaml.ScalarNode:
			x = d.scalar(val, k.Value)
		case yaml.SequenceNode:
			var xs []any
			for _, c := range val.Content {
				if c = d.resolve(c); c == nil {
					break
				}
				if c.Kind != yaml.ScalarNode {
					d.wrongType(c, k.Value, "a number or a name")
					continue
				}
				xs = append(xs, d.scalar(c, k.Value))
			}
			x = xs
		default:
			d.wrongType(val, k.Value, "a number, a name or a list of them")
			continue
		}
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(&x).Elem())
	}
	v.Set(m)
}

// scalar reads an axis value as YAML types it: an integer, a number or text.
func (d *decoder) scalar(n *yaml.Node, key string) any {
	switch n.Tag {
	case "!!int":
		if x, ok := d.integer(n, key); ok {
			return x
		}
	case "!!float":
		if x, ok := d.number(n, key); ok {
			return x
		}
	case "!!binary":
		d.errorf(n, key, "write the value as text", "binary data for %q", key)
	}
	return n.Value
}

// integer reads an integer, refusing fractions and values beyond int64.
func (d *decoder) integer(n *yaml.Node, key string) (int64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		d.wrongType(n, key, "an integer")
		return 0, false
	}
	x, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	switch {
	case err == nil && n.Tag == "!!int":
		return x, true
	case intText.MatchString(n.Value) || n.Tag == "!!int":
		d.errorf(n, key, "", "%s %s is out of range (integers here are below 2^63, and each setting has its own range)", key, n.Value)
	default:
		d.errorf(n, key, "write a whole number", "wrong type for %q: %s is not an integer", key, n.Value)
	}
	return 0, false
}

// number reads a finite number.
func (d *decoder) number(n *yaml.Node, key string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		d.wrongType(n, key, "a number")
		return 0, false
	}
	var x float64
	var err error
	switch strings.ToLower(strings.TrimLeft(n.Value, "+-")) {
	case ".nan", ".inf":
		err = errors.New("not finite")
	default:
		x, err = strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	}
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		d.errorf(n, key, "write a finite number", "%s %s is not a finite number", key, n.Value)
		return 0, false
	}
	return x, true
}

// wrongType reports a value of the wrong kind, saying what it is.
func (d *decoder) wrongType(n *yaml.Node, key, want string) {
	got := "a value"
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			got = fmt.Sprintf("a string (%q)", n.Value)
		case "!!int", "!!float":
			got = "a number (" + n.Value + ")"
		case "!!bool":
			got = "a boolean (" + n.Value + ")"
		default:
			got = n.Value
		}
	}
	d.errorf(n, key, "write "+want, "wrong type for %q: got %s, want %s", key, got, strings.SplitN(want, " (", 2)[0])
}
