package grid

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// planner builds a plan, sharing jobs whose configurations coincide. The
// maps are keyed by structs, so that the common case (a job already planned)
// costs a lookup; the spec that the job ID hashes is built only for new jobs.
type planner struct {
	g           *Grid
	plan        *job.Plan
	pretrains   map[pretrainKey]*job.Job
	featureJobs map[featuresKey]*job.Job
	probeJobs   map[*job.Job]map[probeJobKey]*job.Job // by features job
	data        map[string]string
}

type pretrainKey struct {
	dataset, method, objective, archs string
	seed                              int
}

type featuresKey struct {
	dataset, method, objective, arch, role, peerArch, parent string
	seed, peer                                               int
}

type probeJobKey struct {
	kind job.Kind
	seed int
	pk   probeKey
}

// NewPlan expands a validated grid into its job graph; data identifies the
// data sets' files, by data set (workspace.DataIDCache; nil: not known, as
// in tests): a job's ID covers those of the data sets it reads.
func NewPlan(g *Grid, data map[string]string) *job.Plan {
	p, _ := NewPlanContext(context.Background(), g, data)
	return p
}

// NewPlanContext is NewPlan, stopped with ctx's error when ctx is cancelled.
func NewPlanContext(ctx context.Context, g *Grid, data map[string]string) (*job.Plan, error) {
	pl := &planner{g: g, plan: &job.Plan{Name: g.Name, Revision: job.Revisions[job.CodePretrain], Revisions: job.Revisions, Settings: g.settings()}, pretrains: map[pretrainKey]*job.Job{}, featureJobs: map[featuresKey]*job.Job{}, probeJobs: map[*job.Job]map[probeJobKey]*job.Job{}}
	pl.data = data
	points, err := g.PointsContext(ctx)
	if err != nil {
		return nil, err
	}
	pl.plan.Stats.Points = len(points)
	refs := map[string]bool{}
	for _, r := range g.References {
		refs[r] = true
	}
	// Points that differ only in their probe (noise, fraction) share every
	// encoder: plan each group's encoders once, then its probes.
	type groupKey struct {
		dataset, objective, pair string
		seed                     int
	}
	encodersPerPoint := 4 // two DoGo peers, two solo encoders
	if refs["random"] {
		encodersPerPoint += 2
	}
	if refs["pixels"] {
		encodersPerPoint++
	}
	var order []groupKey
	probesOf := map[groupKey][]probeKey{}
	seen := map[groupKey]map[probeKey]bool{}
	for _, pt := range points {
		gk := groupKey{pt.Dataset, pt.Objective, pt.Pair, pt.Seed}
		pk := probeOf(pt)
		if seen[gk] == nil {
			seen[gk] = map[probeKey]bool{}
			order = append(order, gk)
		}
		// Every point asks for its jobs, shared or not: 3 pretraining jobs
		// (DoGo, and solo for each architecture), a features job per encoder
		// and two probes (its protocol and kNN) per encoder.
		pl.plan.Stats.Requested += 3 + 3*encodersPerPoint
		if !seen[gk][pk] {
			seen[gk][pk] = true
			probesOf[gk] = append(probesOf[gk], pk)
		}
	}
	for n, gk := range order {
		if n%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		small, large, _ := job.SplitPair(gk.pair)
		objS, objL := job.SplitObjective(gk.objective)
		type encoder struct {
			features *job.Job
			seed     int
		}
		var encoders []encoder
		dogo := pl.pretrainJob(gk.dataset, job.MethodDoGo, gk.objective, []string{small, large}, gk.seed)
		encoders = append(encoders,
			encoder{pl.encoder(dogo, 0, job.RoleSmall, large), gk.seed},
			encoder{pl.encoder(dogo, 1, job.RoleLarge, small), gk.seed})
		for i, a := range []string{small, large} {
			obj := []string{objS, objL}[i]
			solo := pl.pretrainJob(gk.dataset, job.MethodSolo, obj, []string{a}, gk.seed)
			encoders = append(encoders, encoder{pl.encoder(solo, 0, job.RoleSolo, ""), gk.seed})
			if refs["random"] {
				encoders = append(encoders, encoder{pl.reference(gk.dataset, job.MethodRandom, a, gk.seed), gk.seed})
			}
		}
		if refs["pixels"] {
			encoders = append(encoders, encoder{pl.reference(gk.dataset, job.MethodPixels, "", gk.seed), gk.seed})
		}
		for _, e := range encoders {
			for _, pk := range probesOf[gk] {
				pl.probes(e.features, e.seed, pk)
			}
		}
	}
	s := &pl.plan.Stats
	s.Jobs = len(pl.plan.Jobs)
	s.Saved = s.Requested - s.Jobs
	return pl.plan, nil
}

type probeKey struct {
	rate     float64
	kind     string
	fraction float64
}

func probeOf(p Point) probeKey {
	k := probeKey{rate: p.NoiseRate, kind: p.NoiseKind, fraction: p.Fraction}
	if k.rate == 0 {
		k.kind = "" // Without noise the kind changes nothing: share the probe.
	}
	return k
}

// add returns the planned job for k, or builds, names and plans it: its ID
// hashes its spec, which is built only for new jobs.
func add[K comparable](pl *planner, m map[K]*job.Job, k K, build func() *job.Job) *job.Job {
	if j, ok := m[k]; ok {
		return j
	}
	j := build()
	j.Spec.Revision = job.RevisionOf(j.Spec) // the code's, in its ID
	j.ID = job.SpecID(j.Spec)
	j.Name = jobName(j)
	m[k] = j
	pl.plan.Jobs = append(pl.plan.Jobs, j)
	switch j.Spec.Kind {
	case job.KindPretrain:
		pl.plan.Stats.Pretrain++
	case job.KindFeatures:
		pl.plan.Stats.Features++
	default:
		pl.plan.Stats.Eval++
	}
	return j
}

func (pl *planner) pretrainJob(dataset, method, objective string, archs []string, seed int) *job.Job {
	joined := archs[0]
	if len(archs) == 2 {
		joined += "+" + archs[1]
	}
	k := pretrainKey{dataset, method, objective, joined, seed}
	return add(pl, pl.pretrains, k, func() *job.Job {
		p := pl.g.Pretrain
		if method != job.MethodDoGo {
			// Distillation settings change nothing solo: out of the spec, they
			// leave its ID alone when they are edited.
			p.KDWeight, p.KDTemperature, p.KDReduction = 0, 0, ""
		}
		return &job.Job{Spec: job.Spec{Kind: job.KindPretrain, Dataset: dataset, Method: method, Objective: objective, Seed: seed,
			Archs: archs, Pretrain: &p, Data: pl.dataOf(dataset)}, CPUs: pl.g.Resources.CPUs, GPUs: pl.g.Resources.GPUs, GPUFraction: pl.g.Resources.GPUFraction,
			MemoryGB: pl.g.Resources.MemoryGB}
	})
}

// encoder adds the features job of one pretrained encoder.
func (pl *planner) encoder(parent *job.Job, peer int, role, peerArch string) *job.Job {
	ps := parent.Spec
	obj := ps.Objective
	if ps.Method == job.MethodDoGo {
		s, l := job.SplitObjective(obj)
		obj = []string{s, l}[peer]
	}
	spec := job.Spec{Kind: job.KindFeatures, Dataset: ps.Dataset, Method: ps.Method, Objective: obj, Seed: ps.Seed,
		Parent: parent.ID, Peer: peer, Arch: ps.Archs[peer], Role: role, PeerArch: peerArch}
	return pl.features(spec, []string{parent.ID})
}

// reference adds the features job of a reference encoder (random-init or pixels).
func (pl *planner) reference(dataset, method, arch string, seed int) *job.Job {
	featSeed := seed
	if method == job.MethodPixels {
		featSeed = 0 // Pixels do not depend on a seed; the probes do.
	}
	spec := job.Spec{Kind: job.KindFeatures, Dataset: dataset, Method: method, Seed: featSeed, Arch: arch, Role: job.RoleReference}
	return pl.features(spec, nil)
}

func (pl *planner) features(spec job.Spec, deps []string) *job.Job {
	k := featuresKey{spec.Dataset, spec.Method, spec.Objective, spec.Arch, spec.Role, spec.PeerArch, spec.Parent, spec.Seed, spec.Peer}
	return add(pl, pl.featureJobs, k, func() *job.Job {
		spec.OOD = slices.Sorted(slices.Values(pl.g.OOD)) // the order of the sets changes nothing
		spec.TrainSubset = pl.g.Eval.TrainSubset
		sets := []string{spec.Dataset}
		for _, o := range spec.OOD {
			if src, ok := job.CrossDatasetOOD(o); ok {
				sets = append(sets, src)
			}
		}
		spec.Data = pl.dataOf(sets...)
		return &job.Job{Spec: spec, Deps: deps, CPUs: 1, GPUs: min(pl.g.Resources.GPUs, 1), GPUFraction: pl.g.Resources.GPUFraction}
	})
}

// probes adds one probe and the kNN job of a features job, for a seed.
func (pl *planner) probes(f *job.Job, seed int, pk probeKey) {
	kind := job.KindLinear
	switch {
	case pk.rate > 0:
		kind = job.KindNoise
	case pk.fraction < 1:
		kind = job.KindFraction
	}
	m := pl.probeJobs[f]
	if m == nil {
		m = map[probeJobKey]*job.Job{}
		pl.probeJobs[f] = m
	}
	for _, k := range []job.Kind{kind, job.KindKNN} {
		jk := probeJobKey{kind: k, seed: seed}
		if k != job.KindKNN {
			jk.pk = pk
		}
		build := func() *job.Job {
			spec := f.Spec // the features job's ID stands for its data and encoder
			spec.Kind, spec.Features, spec.Seed, spec.OOD, spec.TrainSubset, spec.Parent, spec.Data = k, f.ID, seed, nil, 0, "", nil
			if k != job.KindKNN {
				spec.NoiseRate, spec.NoiseKind, spec.Fraction = pk.rate, pk.kind, pk.fraction
			}
			e := pl.g.Eval
			e.TrainSubset = 0 // the features job's, in its ID
			if k == job.KindKNN {
				e = job.Eval{KNNK: e.KNNK, KNNTemperature: e.KNNTemperature} // all kNN reads
			} else {
				e.KNNK, e.KNNTemperature = 0, 0
			}
			spec.Eval = &e
			return &job.Job{Spec: spec, Deps: []string{f.ID}, CPUs: 1}
		}
		add(pl, m, jk, build)
	}
}

// DataSets lists the data sets a grid reads: its own and the sources of its
// cross-dataset OOD sets.
func (g *Grid) DataSets() []string {
	sets := append([]string{}, g.Datasets...)
	for _, o := range g.OOD {
		if src, ok := job.CrossDatasetOOD(o); ok {
			sets = append(sets, src)
		}
	}
	return sets
}

// settings are what a report says of the grid.
func (g *Grid) settings() *job.Settings {
	s := &job.Settings{Datasets: g.Datasets, Objectives: g.Objectives, Pairs: g.Pairs, Seeds: g.Seeds, Pretrain: g.Pretrain, Eval: g.Eval,
		Decide: job.Decide{On: g.Decide.On, Margin: g.Decide.Margin}}
	if g.Sequential != nil {
		s.Decide.Min, s.Decide.Max = g.Sequential.Min, g.Sequential.Max
	}
	return s
}

// dataOf is the identity of the data sets a job reads.
func (pl *planner) dataOf(sets ...string) map[string]string {
	if pl.data == nil {
		return nil
	}
	m := make(map[string]string, len(sets))
	for _, s := range sets {
		m[s] = pl.data[s]
	}
	return m
}

// jobName is a human-readable, unique folder name.
func jobName(j *job.Job) string {
	s := j.Spec
	parts := []string{string(s.Kind), s.Dataset, s.Method}
	switch s.Kind {
	case job.KindPretrain:
		parts = append(parts, s.Objective, strings.Join(s.Archs, "+"))
	default:
		if s.Arch != "" {
			parts = append(parts, s.Arch)
		}
		if s.Role != "" && s.Role != job.RoleSolo && s.Role != job.RoleReference {
			parts = append(parts, s.Role)
		}
	}
	if s.Kind == job.KindNoise {
		parts = append(parts, fmt.Sprintf("%s%s", s.NoiseKind[:3], ftoa(s.NoiseRate)))
	}
	if s.Kind == job.KindFraction {
		parts = append(parts, "frac"+ftoa(s.Fraction))
	}
	parts = append(parts, "s"+strconv.Itoa(s.Seed), j.ID[:6])
	return strings.Join(parts, "-")
}
