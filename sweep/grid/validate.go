package grid

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
)

// maxName is the longest name a grid may have: its run folder is
// NAME-HASH, well inside a file system's 255 bytes.
const maxName = 100

var validName = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9][A-Za-z0-9._-]{0,%d}$`, maxName-1))

// validator checks a decoded grid and records each mistake with its position.
type validator struct {
	ctx  context.Context
	name string
	// pos is where each value was read, by path ("$.seeds[2]").
	pos map[string]Position
	// bad holds the positions decoding found wrong already: no second
	// error for them.
	bad map[string]bool
	// unread: decoding found mistakes, so the checks across keys (zip,
	// include, exclude, duplicate points) would judge a half-read grid.
	unread bool
	// maxJobs is the limit of jobs; size says the grid is above it.
	maxJobs int
	size    *SizeError
	errs    Errors
}

// present reports whether the file sets the value at path.
func (v *validator) present(path string) bool {
	_, ok := v.pos[path]
	return ok
}

func (v *validator) posOf(path string) Position {
	// Walk up the path until a value was read there, so that a missing key
	// points at its parent.
	for path != "" {
		if p, ok := v.pos[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 1 {
			break
		}
		path = path[:i]
	}
	return Position{File: v.name, Line: 1, Col: 1}
}

func (v *validator) errorf(path, key, fix, format string, args ...any) {
	p := v.posOf(path)
	if v.bad[p.String()] {
		return
	}
	v.errs = append(v.errs, &Error{Pos: p, Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix})
}

func (v *validator) oneOf(path, key, val string, allowed []string) bool {
	for _, a := range allowed {
		if a == val {
			return true
		}
	}
	fix := "one of: " + strings.Join(allowed, ", ")
	if s := closest(val, allowed); s != "" {
		fix = fmt.Sprintf("did you mean %q?", s)
	}
	v.errorf(path, key, fix, "unknown %s %q", key, val)
	return false
}

// intRange checks that an integer setting lies in [lo, hi].
func (v *validator) intRange(path, key string, x, lo, hi int, fix string) {
	if x < lo || x > hi {
		v.errorf(path, key, fix, "%s %d is out of range [%d, %d]", key, x, lo, hi)
	}
}

// nonEmpty checks that an axis has values, saying what the file does: a
// key it lacks, or one it leaves empty.
func (v *validator) nonEmpty(path, key string, n int, hasDefault bool) bool {
	switch {
	case n > 0:
		return true
	case !v.present(path):
		v.errorf("$", key, fmt.Sprintf("add %q with at least one value", key), "missing key %q", key)
	case hasDefault:
		v.errorf(path, key, "give at least one value, or remove the key to use the default", "axis %q is empty", key)
	default:
		v.errorf(path, key, "give at least one value", "axis %q is empty", key)
	}
	return false
}

// arch checks an architecture name against the registry.
func (v *validator) arch(path, name string) bool {
	if _, ok := job.LookupArch(name); ok {
		return true
	}
	return v.oneOf(path, "architecture", name, job.ArchNames())
}

// decideOn are the protocols that may decide a sequential grid's cells.
var decideOn = []string{"linear", "knn", "fraction", "noise", "ood"}

// decide checks the decide settings, and that a sequential grid leaves its
// seeds to the sweep.
func (v *validator) decide(g *Grid) {
	for i, on := range g.Decide.On {
		v.oneOf(fmt.Sprintf("$.decide.on[%d]", i), "protocol", on, decideOn)
	}
	if len(g.Decide.On) == 0 && v.present("$.decide.on") {
		v.errorf("$.decide.on", "on", "name at least one of: "+strings.Join(decideOn, ", "), "decide on nothing")
	}
	if m := g.Decide.Margin; !(m > 0 && m <= 100) {
		v.errorf("$.decide.margin", "margin", "a difference in accuracy points that counts as none, e.g. 0.5", "margin %g is out of range (0, 100]", m)
	}
	if g.Sequential == nil {
		return
	}
	for _, z := range g.Zip {
		if slices.Contains(z, "seed") {
			v.errorf("$.zip", "zip", "remove seed from zip: a sequential grid numbers its seeds 1 to max", "zip names seed in a sequential grid")
		}
	}
	for _, set := range []struct {
		key     string
		entries []map[string]any
	}{{"include", g.Include}, {"exclude", g.Exclude}} {
		for i, e := range set.entries {
			if _, ok := e["seed"]; ok {
				v.errorf(fmt.Sprintf("$.%s[%d]", set.key, i), set.key, "remove seed: a sequential grid numbers its seeds 1 to max", "%s names seed in a sequential grid", set.key)
			}
		}
	}
}

func (v *validator) grid(g *Grid) {
	defaults := Default()
	switch {
	case g.Name == "" && !v.present("$.name"):
		v.errorf("$", "name", `add "name: my-sweep"`, "missing key %q", "name")
	case !validName.MatchString(g.Name):
		v.errorf("$.name", "name", fmt.Sprintf("use up to %d letters, digits, '.', '-' and '_', starting with a letter or digit: it names the run folder", maxName), "name %q cannot be a folder name", g.Name)
	}
	for _, a := range axes {
		if !v.nonEmpty(a.path, a.key, a.n(g), a.n(&defaults) > 0) {
			continue
		}
		seen := map[string]bool{}
		for i := range a.n(g) {
			var p Point
			a.set(g, &p, i)
			path := fmt.Sprintf("%s[%d]", a.path, i)
			s := a.get(p)
			a.check(v, path, s)
			if seen[s] {
				v.errorf(path, a.key, "remove the repeated value", "duplicate value in %q", a.key)
			}
			seen[s] = true
		}
	}
	v.decide(g)
	for i, o := range g.OOD {
		path := fmt.Sprintf("$.ood[%d]", i)
		if src, ok := job.CrossDatasetOOD(o); ok {
			srcInfo, known := data.Known()[src]
			if !v.oneOf(path, "dataset", src, data.Names()) || !known {
				continue
			}
			for _, d := range g.Datasets {
				info, ok := data.Known()[d]
				if !ok {
					continue
				}
				if _, n := data.ClassMap(info, srcInfo); n < 2 || info.Channels != srcInfo.Channels {
					v.errorf(path, "ood", "cross-dataset OOD sets need classes in common, e.g. dataset:stl10 for cifar10", "%s shares %d classes with %s", src, n, d)
				}
			}
			continue
		}
		if _, _, ok := job.ParseOOD(o); !ok {
			v.errorf(path, "ood", "write corruption-severity with severity 1-5 (corruption one of: "+strings.Join(job.Corruptions, ", ")+"), or dataset:NAME", "unknown OOD set %q", o)
		}
	}
	for i, r := range g.References {
		v.oneOf(fmt.Sprintf("$.references[%d]", i), "reference", r, []string{"random", "pixels"})
	}
	v.pretrain(&g.Pretrain)
	v.eval(&g.Eval)
	v.intRange("$.resources.cpus", "cpus", g.Resources.CPUs, 1, 4096, "CPU cores per job")
	v.intRange("$.resources.gpus", "gpus", g.Resources.GPUs, 0, 1024, "GPUs per job")
	v.intRange("$.resources.max_parallel", "max_parallel", g.Resources.MaxParallel, 0, 1_000_000, "0: as many as resources allow")
	if g.Resources.GPUs < 0 || g.Resources.GPUFraction < 0 || g.Resources.GPUFraction > 1 {
		v.errorf("$.resources", "gpus", "gpus >= 0, gpu_fraction in [0, 1]", "GPU request out of range")
	}
	if g.Resources.MemoryGB < 0 {
		v.errorf("$.resources.memory_gb", "memory_gb", "use 0 to not count memory", "memory_gb %g is negative", g.Resources.MemoryGB)
	}
	if g.Resources.GPUs > 0 && g.Resources.GPUFraction > 0 {
		v.errorf("$.resources.gpu_fraction", "gpu_fraction", "ask for whole GPUs or a fraction of one, not both", "gpus and gpu_fraction both set")
	}
	if !strings.HasPrefix(g.Backend, "xla:") && g.Backend != "xla" {
		v.oneOf("$.backend", "backend", strings.Split(g.Backend, ":")[0], []string{"auto", "go", "xla"})
	}
	v.oneOf("$.executor", "executor", g.Executor, []string{"local", "slurm"})
	v.intRange("$.retries", "retries", g.Retries, 0, 100, "use 0 for no retries")
	v.intRange("$.max_failures", "max_failures", g.MaxFailures, 0, 1_000_000, "use 0 for no limit")
	v.checkAxes(g)
}

func (v *validator) pretrain(p *job.Pretrain) {
	v.intRange("$.pretrain.epochs", "epochs", p.Epochs, 1, 100_000, "the method trains 1,000")
	v.intRange("$.pretrain.batch", "batch", p.Batch, 2, 65_536, "contrastive losses need a batch of 2 or more; 256 is the method's")
	v.oneOf("$.pretrain.optimizer", "optimizer", p.Optimizer, []string{"adam"})
	if p.LR <= 0 || p.LR > 1 {
		v.errorf("$.pretrain.lr", "lr", "the method uses 3e-4", "learning rate %g is out of range", p.LR)
	}
	if p.WeightDecay < 0 {
		v.errorf("$.pretrain.weight_decay", "weight_decay", "use 0 for none", "weight decay %g is negative", p.WeightDecay)
	}
	v.oneOf("$.pretrain.schedule", "schedule", p.Schedule, []string{"constant", "cosine"})
	if p.Temperature <= 0 {
		v.errorf("$.pretrain.temperature", "temperature", "the method uses 0.5", "temperature %g must be positive", p.Temperature)
	}
	if p.KDTemperature <= 0 {
		v.errorf("$.pretrain.kd_temperature", "kd_temperature", "the method uses 0.1", "kd_temperature %g must be positive", p.KDTemperature)
	}
	if p.KDWeight < 0 {
		v.errorf("$.pretrain.kd_weight", "kd_weight", "use 0 to switch distillation off", "kd_weight %g is negative", p.KDWeight)
	}
	v.oneOf("$.pretrain.kd_reduction", "kd_reduction", p.KDReduction, []string{"element-mean", "batch-mean"})
	v.intRange("$.pretrain.train_subset", "train_subset", p.TrainSubset, 0, 100_000_000, "use 0 for the whole training split")
	v.intRange("$.pretrain.checkpoint_every", "checkpoint_every", p.CheckpointEvery, 1, 100_000, "a checkpoint every so many epochs")
	v.intRange("$.pretrain.knn_monitor", "knn_monitor", p.KNNMonitor, 0, 10_000_000, "use 0 to turn the monitor off")
	v.oneOf("$.pretrain.precision", "precision", p.Precision, []string{"float32", "bf16"})
	if w := p.Views; w != nil {
		if w.MinScale != nil && (*w.MinScale <= 0 || *w.MinScale > 1) {
			v.errorf("$.pretrain.views.min_scale", "min_scale", "a fraction of the image's area in (0, 1]: the method uses 0.08 (0.3 on grey images)", "min_scale %g is out of range", *w.MinScale)
		}
		if w.Noise != nil && (*w.Noise < 0 || *w.Noise > 1) {
			v.errorf("$.pretrain.views.noise", "noise", "a std in pixel units (0..1): the method uses 0.1 on grey images, 0 to switch it off", "noise %g is out of range", *w.Noise)
		}
		if w.Jitter != nil && (*w.Jitter < 0 || *w.Jitter >= 1) {
			v.errorf("$.pretrain.views.jitter", "jitter", "a strength in [0, 1): the method uses 0.8 on colour images, 0 switches it off", "jitter %g is out of range", *w.Jitter)
		}
	}
}

func (v *validator) eval(e *job.Eval) {
	v.intRange("$.eval.epochs", "epochs", e.Epochs, 1, 100_000, "the method probes for 100 epochs")
	v.intRange("$.eval.batch", "batch", e.Batch, 1, 65_536, "the method uses 64")
	if e.LR <= 0 || e.LR > 10 {
		v.errorf("$.eval.lr", "lr", "the method uses 3e-4", "learning rate %g is out of range", e.LR)
	}
	if e.WeightDecay < 0 {
		v.errorf("$.eval.weight_decay", "weight_decay", "use 0 for none", "weight decay %g is negative", e.WeightDecay)
	}
	if e.ValFraction <= 0 || e.ValFraction >= 1 {
		v.errorf("$.eval.val_fraction", "val_fraction", "the method holds out 0.15", "val_fraction %g is out of range", e.ValFraction)
	}
	v.intRange("$.eval.train_subset", "train_subset", e.TrainSubset, 0, 100_000_000, "use 0 for the whole training split")
	v.intRange("$.eval.knn_k", "knn_k", e.KNNK, 1, 100_000, "20 is common")
	if e.KNNTemperature <= 0 {
		v.errorf("$.eval.knn_temperature", "knn_temperature", "0.07 is common", "knn_temperature %g must be positive", e.KNNTemperature)
	}
}
