// Package grid reads a sweep's grid file and expands it into a plan: it
// parses and validates grids (every mistake with file:line:column, the key
// and a fix), expands their axes into grid points, and builds the job graph
// (pretraining, feature extraction and probes, shared where configurations
// coincide) whose job IDs hash each job's canonical configuration.
package grid

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Grid is a sweep as a researcher writes it: axes that combine into grid
// points, and settings shared by every job.
type Grid struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`

	// Axes.
	Datasets   []string  `yaml:"datasets" json:"datasets"`
	Objectives []string  `yaml:"objectives" json:"objectives"`
	Pairs      []string  `yaml:"pairs" json:"pairs"`
	Noise      Noise     `yaml:"noise" json:"noise"`
	Fractions  []float64 `yaml:"fractions" json:"fractions"`
	Seeds      []int     `yaml:"seeds" json:"seeds"`

	// OOD lists the out-of-distribution test sets every probe is also tested on,
	// e.g. "gaussian_noise-3" (corruption-severity).
	OOD []string `yaml:"ood" json:"ood"`

	// Zip pairs axes: each entry names axes whose values vary together.
	Zip [][]string `yaml:"zip" json:"zip,omitempty"`
	// Include adds points; axes an entry leaves out range over their values.
	Include []map[string]any `yaml:"include" json:"include,omitempty"`
	// Exclude removes every point that matches all keys of an entry.
	Exclude []map[string]any `yaml:"exclude" json:"exclude,omitempty"`

	// References adds probes of reference encoders: "random" (randomly
	// initialised encoder of each architecture) and "pixels" (raw pixels).
	References []string `yaml:"references" json:"references"`

	Pretrain  job.Pretrain `yaml:"pretrain" json:"pretrain"`
	Eval      job.Eval     `yaml:"eval" json:"eval"`
	Resources Resources    `yaml:"resources" json:"resources"`

	Backend  string `yaml:"backend" json:"backend"`
	Executor string `yaml:"executor" json:"executor"`
	// Retries is how often a failed job is tried again.
	Retries int `yaml:"retries" json:"retries"`
	// MaxFailures stops the sweep after this many jobs failed for good (0: never).
	MaxFailures int `yaml:"max_failures" json:"max_failures"`
	// MetricsAddr is where the controller serves Prometheus metrics ("" : off).
	MetricsAddr string    `yaml:"metrics_addr" json:"metrics_addr"`
	Slurm       job.Slurm `yaml:"slurm" json:"slurm"`
}

// Noise is the label-noise axis: every rate with every kind.
type Noise struct {
	Rates []float64 `yaml:"rates" json:"rates"`
	Kinds []string  `yaml:"kinds" json:"kinds"`
}

// Resources is what each pretraining job asks for.
type Resources struct {
	CPUs        int     `yaml:"cpus" json:"cpus"`
	GPUs        int     `yaml:"gpus" json:"gpus"`
	GPUFraction float64 `yaml:"gpu_fraction" json:"gpu_fraction"`
	// MemoryGB is the memory a pretraining job needs; jobs start only while
	// the machine's memory (or --memory-gb) has room (0: not counted).
	MemoryGB float64 `yaml:"memory_gb" json:"memory_gb"`
	// MaxParallel caps how many jobs run at once (0: as many as resources allow).
	MaxParallel int `yaml:"max_parallel" json:"max_parallel"`
}

// Default returns the settings a grid starts from: every key a grid may
// leave out takes its value from here (`sweep plan --show-defaults`).
func Default() Grid {
	return Grid{
		Objectives: []string{"simclr"},
		Noise:      Noise{Rates: []float64{0}, Kinds: []string{"symmetric"}},
		Fractions:  []float64{1},
		Seeds:      []int{0},
		References: []string{"random", "pixels"},
		Pretrain: job.Pretrain{
			Epochs: 100, Batch: 256, Optimizer: "adam", LR: 3e-4, WeightDecay: 1e-6, Schedule: "constant",
			Temperature: 0.5, KDTemperature: 0.1, KDWeight: 100, KDReduction: "element-mean",
			CheckpointEvery: 1, KNNMonitor: 2000, Precision: "float32",
		},
		Eval: job.Eval{
			Epochs: 100, Batch: 64, LR: 3e-4, WeightDecay: 1e-6, ValFraction: 0.15,
			Standardize: false, KNNK: 20, KNNTemperature: 0.07,
		},
		Resources:   Resources{CPUs: 1},
		Backend:     "auto",
		Executor:    "local",
		Retries:     2,
		MetricsAddr: "127.0.0.1:9464",
	}
}

// Position is a place in a grid file.
type Position struct {
	File      string
	Line, Col int
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a user's mistake in a grid file: where, which key, what is
// wrong, and how to fix it.
type Error struct {
	Pos Position
	Key string
	Msg string
	Fix string
}

func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Fix != "" {
		s += " (" + e.Fix + ")"
	}
	return s
}

// Errors is every mistake found in one grid file.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Load reads and validates the grid file at path.
func Load(path string) (*Grid, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read grid: %w", err)
	}
	return Parse(path, src)
}

// Parse decodes and validates a grid. name is used in error positions.
// A grid with any mistake returns Errors.
func Parse(name string, src []byte) (*Grid, error) {
	g := Default()
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, Errors{{Pos: Position{File: name, Line: 1, Col: 1}, Msg: "the grid file is empty", Fix: "see configs/quickstart.yaml for a complete example"}}
	}
	file, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, Errors{yamlError(name, src, err)}
	}
	// Start from the defaults, but let a list in the file replace the default
	// list rather than merge with it.
	dec := Default()
	dec.Objectives, dec.Noise.Rates, dec.Noise.Kinds, dec.Fractions, dec.Seeds, dec.References = nil, nil, nil, nil, nil, nil
	if err := decodeStrict(src, &dec); err != nil {
		return nil, Errors{yamlError(name, src, err)}
	}
	present := func(p string) bool { return nodeAt(file, p) != nil }
	for _, f := range []struct {
		path string
		dst  any
		src  any
	}{
		{"$.objectives", &g.Objectives, dec.Objectives},
		{"$.noise.rates", &g.Noise.Rates, dec.Noise.Rates},
		{"$.noise.kinds", &g.Noise.Kinds, dec.Noise.Kinds},
		{"$.fractions", &g.Fractions, dec.Fractions},
		{"$.seeds", &g.Seeds, dec.Seeds},
		{"$.references", &g.References, dec.References},
	} {
		if present(f.path) {
			reflect.ValueOf(f.dst).Elem().Set(reflect.ValueOf(f.src))
		}
	}
	dec.Objectives, dec.Noise.Rates, dec.Noise.Kinds, dec.Fractions, dec.Seeds, dec.References =
		g.Objectives, g.Noise.Rates, g.Noise.Kinds, g.Fractions, g.Seeds, g.References
	g = dec
	if w := g.Pretrain.Views; w != nil && *w == (job.Views{}) {
		g.Pretrain.Views = nil // `views: {}` sets nothing: the method's views, the same IDs
	}
	v := &validator{name: name, file: file}
	v.grid(&g)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return &g, nil
}

// decodeStrict decodes YAML, rejecting unknown keys. go-yaml v1.19.2 panics
// on some malformed inputs (a tagged scalar where a list belongs, found by
// FuzzParseGrid): that is reported as an error, never a crash.
func decodeStrict(src []byte, dst *Grid) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot read this YAML (check the types of the values, e.g. a list where a list belongs): %v", r)
		}
	}()
	return yaml.UnmarshalWithOptions(src, dst, yaml.Strict())
}

// yamlError turns the YAML library's error into a Error with a position.
func yamlError(name string, src []byte, err error) *Error {
	ge := &Error{Pos: Position{File: name}, Msg: err.Error()}
	var yerr yaml.Error
	if !errors.As(err, &yerr) {
		return ge
	}
	if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
		ge.Pos.Line, ge.Pos.Col = tk.Position.Line, tk.Position.Column
	}
	msg := yerr.GetMessage()
	switch {
	case strings.HasPrefix(msg, "unknown field "):
		key := strings.Trim(strings.TrimPrefix(msg, "unknown field "), `"`)
		ge.Key = key
		ge.Msg = fmt.Sprintf("unknown key %q", key)
		if s := closest(key, knownKeys()); s != "" {
			ge.Fix = fmt.Sprintf("did you mean %q?", s)
		} else {
			ge.Fix = "see `sweep plan --show-defaults` for every key"
		}
	case strings.HasPrefix(msg, "cannot unmarshal"):
		var te *yaml.TypeError
		if errors.As(err, &te) {
			key := ""
			if te.StructFieldName != nil {
				key = strings.ToLower(*te.StructFieldName)
				if i := strings.LastIndex(key, "."); i >= 0 {
					key = key[i+1:]
				}
			}
			if k := keyOnLine(src, ge.Pos.Line); k != "" {
				key = k
			}
			ge.Key = key
			want := kindName(te.DstType)
			ge.Msg = fmt.Sprintf("wrong type for %q: got %s, want %s", key, kindName(te.SrcType), want)
			ge.Fix = "write " + article(want) + " " + want
		} else {
			ge.Msg = msg
		}
	case strings.Contains(msg, "already defined"):
		ge.Msg = msg
		ge.Fix = "remove one of the two"
	default:
		ge.Msg = msg
	}
	return ge
}

// keyOnLine returns the mapping key written on a line of src, if any.
func keyOnLine(src []byte, line int) string {
	lines := bytes.Split(src, []byte("\n"))
	if line < 1 || line > len(lines) {
		return ""
	}
	l := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(lines[line-1])), "- "))
	k, _, ok := strings.Cut(l, ":")
	if !ok || strings.ContainsAny(k, " {[") {
		return ""
	}
	return k
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an"
	}
	return "a"
}

func kindName(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + kindName(t.Elem())
	case reflect.Map, reflect.Struct:
		return "mapping"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Int32:
		return "integer"
	case reflect.Float64, reflect.Float32:
		return "number"
	case reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}

// knownKeys lists every key the grid schema accepts, at any depth.
func knownKeys() []string {
	seen := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			seen[tag] = true
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeOf(Grid{}))
	for _, a := range axisNames {
		seen[a] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// closest returns the candidate nearest to s in edit distance, if near enough.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// nodeAt returns the YAML node at a path such as "$.noise.rates[2]", or nil.
func nodeAt(file *ast.File, path string) ast.Node {
	p, err := yaml.PathString(path)
	if err != nil {
		return nil
	}
	n, err := p.FilterFile(file)
	if err != nil {
		return nil
	}
	return n
}
