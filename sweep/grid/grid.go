// Package grid reads a sweep's grid file and expands it into a plan: it
// parses and validates grids (every mistake with file:line:column, the key
// and a fix), expands their axes into grid points, and builds the job graph
// (pretraining, feature extraction and probes, shared where configurations
// coincide) whose job IDs hash each job's canonical configuration.
package grid

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
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
	// Seeds are the seeds planned: the grid's list, or for a sequential
	// grid (seeds: {min, max}) those planned so far, from 1 up.
	Seeds []int `yaml:"seeds" json:"seeds"`
	// Sequential is set by `seeds: {min: 3, max: 10}`: each pretraining
	// cell gets seeds while one of its comparisons is undecided (Decide).
	Sequential *SeedRange `yaml:"-" json:"sequential,omitempty"`
	// Decide says which comparisons decide a sequential grid's cells, and
	// the difference that counts as none (also the equivalence margin of
	// every report's verdicts).
	Decide Decide `yaml:"decide" json:"decide"`

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

// SeedRange is a sequential grid's seeds: min to begin with, up to max.
type SeedRange struct {
	Min int `yaml:"min" json:"min"`
	Max int `yaml:"max" json:"max"`
}

// Decide is what decides a sequential grid's cells: the protocols whose
// DoGo-solo comparisons must all be decided (linear, knn, fraction, noise,
// ood), and the margin in accuracy points within which a difference counts
// as none.
type Decide struct {
	On     []string `yaml:"on" json:"on"`
	Margin float64  `yaml:"margin" json:"margin"`
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
		Decide:     Decide{On: []string{"linear", "knn"}, Margin: 0.5},
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

// Options bound the reading of a grid.
type Options struct {
	// MaxJobs refuses a grid that may plan more jobs, with a *SizeError,
	// before anything is expanded (0: DefaultMaxJobs).
	MaxJobs int
}

// Load reads and validates the grid file at path, with the default limits.
func Load(path string) (*Grid, error) { return LoadContext(context.Background(), path, Options{}) }

// LoadContext is Load with a context (cancelling it stops the checks that
// expand the grid) and options.
func LoadContext(ctx context.Context, path string, opt Options) (*Grid, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read grid: %w", err)
	}
	return ParseContext(ctx, path, src, opt)
}

// Parse decodes and validates a grid with the default limits. name is used
// in error positions. A grid with any mistake returns Errors: every mistake
// of the file, in line order, each with its position, its key and a fix.
func Parse(name string, src []byte) (*Grid, error) {
	return ParseContext(context.Background(), name, src, Options{})
}

// ParseContext is Parse with a context and options: a grid that may plan
// more than opt.MaxJobs jobs is refused with a *SizeError before the
// checks that expand it; cancelling ctx stops those checks with ctx's error.
func ParseContext(ctx context.Context, name string, src []byte, opt Options) (*Grid, error) {
	g := Default()
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, Errors{{Pos: Position{File: name, Line: 1, Col: 1}, Msg: "the grid file is empty", Fix: "see configs/quickstart.yaml for a complete example"}}
	}
	d := decode(name, src, &g)
	if len(d.errs) > 0 && len(d.pos) == 0 {
		return nil, d.errs // nothing could be read
	}
	if w := g.Pretrain.Views; w != nil && *w == (job.Views{}) {
		g.Pretrain.Views = nil // `views: {}` sets nothing: the method's views, the same IDs
	}
	// The values that were read are checked too (every mistake at once);
	// checks across keys wait until the file reads cleanly, and until the
	// grid's size is known to be within the limit.
	v := &validator{ctx: ctx, name: name, pos: d.pos, bad: map[string]bool{}, unread: len(d.errs) > 0, maxJobs: cmp.Or(opt.MaxJobs, DefaultMaxJobs)}
	for _, e := range d.errs {
		v.bad[e.Pos.String()] = true
	}
	v.grid(&g)
	if v.size != nil && len(d.errs)+len(v.errs) == 0 {
		return nil, v.size
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	errs := append(d.errs, v.errs...)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int {
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Col - b.Pos.Col
		})
		return nil, errs
	}
	return &g, nil
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
