package grid

import (
	"fmt"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/goccy/go-yaml/ast"
)

// validator checks a decoded grid and records each mistake with its position.
type validator struct {
	name string
	file *ast.File
	errs Errors
}

func (v *validator) pos(path string) Position {
	p := Position{File: v.name, Line: 1, Col: 1}
	if path == "$" {
		return p
	}
	// Walk up the path until a node exists, so that a missing key points at its parent.
	for path != "" {
		if n := nodeAt(v.file, path); n != nil {
			tk := n.GetToken()
			if tk != nil && tk.Position != nil {
				p.Line, p.Col = tk.Position.Line, tk.Position.Column
			}
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 1 {
			break
		}
		path = path[:i]
	}
	p.Line, p.Col = 1, 1
	return p
}

func (v *validator) errorf(path, key, fix, format string, args ...any) {
	v.errs = append(v.errs, &Error{Pos: v.pos(path), Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix})
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

func (v *validator) nonEmpty(path, key string, n int) bool {
	if n == 0 {
		v.errorf(path, key, "give at least one value, or remove the key to use the default", "axis %q is empty", key)
		return false
	}
	return true
}

// arch checks an architecture name against the registry.
func (v *validator) arch(path, name string) bool {
	if _, ok := job.LookupArch(name); ok {
		return true
	}
	return v.oneOf(path, "architecture", name, job.ArchNames())
}

func (v *validator) grid(g *Grid) {
	if g.Name == "" {
		v.errorf("$", "name", `add "name: my-sweep"`, "missing key %q", "name")
	} else if strings.ContainsAny(g.Name, "/ \\") {
		v.errorf("$.name", "name", "use letters, digits, '-' and '_'", "name %q cannot be a folder name", g.Name)
	}
	for _, a := range axes {
		if !v.nonEmpty(a.path, a.key, a.n(g)) {
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
	if g.Resources.CPUs < 1 {
		v.errorf("$.resources.cpus", "cpus", "ask for at least 1 CPU core per job", "cpus %d is out of range", g.Resources.CPUs)
	}
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
	if g.Retries < 0 {
		v.errorf("$.retries", "retries", "use 0 for no retries", "retries %d is negative", g.Retries)
	}
	if g.MaxFailures < 0 {
		v.errorf("$.max_failures", "max_failures", "use 0 for no limit", "max_failures %d is negative", g.MaxFailures)
	}
	v.checkAxes(g)
}

func (v *validator) pretrain(p *job.Pretrain) {
	if p.Epochs < 1 {
		v.errorf("$.pretrain.epochs", "epochs", "train at least 1 epoch", "epochs %d is out of range", p.Epochs)
	}
	if p.Batch < 2 {
		v.errorf("$.pretrain.batch", "batch", "contrastive losses need a batch of 2 or more; 256 is the method's", "batch %d is out of range", p.Batch)
	}
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
	if p.TrainSubset < 0 {
		v.errorf("$.pretrain.train_subset", "train_subset", "use 0 for the whole training split", "train_subset %d is negative", p.TrainSubset)
	}
	if p.CheckpointEvery < 1 {
		v.errorf("$.pretrain.checkpoint_every", "checkpoint_every", "checkpoint at least every epoch count >= 1", "checkpoint_every %d is out of range", p.CheckpointEvery)
	}
	if p.KNNMonitor < 0 {
		v.errorf("$.pretrain.knn_monitor", "knn_monitor", "use 0 to turn the monitor off", "knn_monitor %d is negative", p.KNNMonitor)
	}
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
	if e.Epochs < 1 {
		v.errorf("$.eval.epochs", "epochs", "the method probes for 100 epochs", "epochs %d is out of range", e.Epochs)
	}
	if e.Batch < 1 {
		v.errorf("$.eval.batch", "batch", "the method uses 64", "batch %d is out of range", e.Batch)
	}
	if e.LR <= 0 || e.LR > 10 {
		v.errorf("$.eval.lr", "lr", "the method uses 3e-4", "learning rate %g is out of range", e.LR)
	}
	if e.WeightDecay < 0 {
		v.errorf("$.eval.weight_decay", "weight_decay", "use 0 for none", "weight decay %g is negative", e.WeightDecay)
	}
	if e.ValFraction <= 0 || e.ValFraction >= 1 {
		v.errorf("$.eval.val_fraction", "val_fraction", "the method holds out 0.15", "val_fraction %g is out of range", e.ValFraction)
	}
	if e.TrainSubset < 0 {
		v.errorf("$.eval.train_subset", "train_subset", "use 0 for the whole training split", "train_subset %d is negative", e.TrainSubset)
	}
	if e.KNNK < 1 {
		v.errorf("$.eval.knn_k", "knn_k", "20 is common", "knn_k %d is out of range", e.KNNK)
	}
	if e.KNNTemperature <= 0 {
		v.errorf("$.eval.knn_temperature", "knn_temperature", "0.07 is common", "knn_temperature %g must be positive", e.KNNTemperature)
	}
}
