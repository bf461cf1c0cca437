package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Kind is what a job does.
type Kind string

// The kinds of job. A pretraining job trains one encoder (solo) or two (a DoGo
// pair); a features job runs one frozen encoder once over the data it will be
// probed on; the probe kinds train a linear classifier on those features.
const (
	KindPretrain Kind = "pretrain"
	KindFeatures Kind = "features"
	KindLinear   Kind = "linear"   // all labels, clean
	KindFraction Kind = "fraction" // a class-balanced fraction of the labels
	KindNoise    Kind = "noise"    // noisy labels
	KindKNN      Kind = "knn"      // k-nearest-neighbour accuracy
)

// Methods name how an encoder came to be.
const (
	MethodDoGo   = "dogo"
	MethodSolo   = "solo"
	MethodRandom = "random" // randomly initialised, untrained
	MethodPixels = "pixels" // no encoder: raw pixels
)

// Spec is a job's canonical configuration: everything that changes its
// result, and nothing else. The job ID is a hash of it.
type Spec struct {
	Kind      Kind   `json:"kind"`
	Dataset   string `json:"dataset"`
	Method    string `json:"method"`
	Objective string `json:"objective,omitempty"`
	Seed      int    `json:"seed"`

	// Pretraining: the encoders (one solo, two for a DoGo pair, small first).
	Archs    []string  `json:"archs,omitempty"`
	Pretrain *Pretrain `json:"pretrain,omitempty"`

	// Features and probes: which encoder.
	Parent   string `json:"parent,omitempty"` // the pretraining job
	Peer     int    `json:"peer"`             // index into the parent's Archs
	Arch     string `json:"arch,omitempty"`
	Role     string `json:"role,omitempty"` // small, large, solo, reference
	PeerArch string `json:"peer_arch,omitempty"`

	// Features: the out-of-distribution sets to extract, and the train subset.
	OOD         []string `json:"ood,omitempty"`
	TrainSubset int      `json:"train_subset,omitempty"`

	// Probes.
	Features  string  `json:"features,omitempty"` // the features job
	NoiseRate float64 `json:"noise_rate,omitempty"`
	NoiseKind string  `json:"noise_kind,omitempty"`
	Fraction  float64 `json:"fraction,omitempty"`
	Eval      *Eval   `json:"eval,omitempty"`
}

// Job is one node of the plan.
type Job struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Spec Spec     `json:"spec"`
	Deps []string `json:"deps,omitempty"`
	// CPUs and GPUs this job asks for.
	CPUs        int     `json:"cpus"`
	GPUs        int     `json:"gpus,omitempty"`
	GPUFraction float64 `json:"gpu_fraction,omitempty"`
	MemoryGB    float64 `json:"memory_gb,omitempty"`
}

// Plan is the job graph a grid expands to, in dependency order.
type Plan struct {
	Name string `json:"name"`
	// Revision is the PretrainRevision of the sweep that made the plan.
	Revision string    `json:"pretrain_revision"`
	Jobs     []*Job    `json:"jobs"`
	Stats    PlanStats `json:"stats"`
	index    map[string]*Job
}

// PlanStats counts what the plan holds.
type PlanStats struct {
	Points    int `json:"points"`
	Pretrain  int `json:"pretrain_jobs"`
	Features  int `json:"feature_jobs"`
	Eval      int `json:"eval_jobs"`
	Jobs      int `json:"jobs"`
	Requested int `json:"jobs_requested"`
	Saved     int `json:"jobs_saved_by_sharing"`
}

// Job returns the job with the given ID, or nil.
func (p *Plan) Job(id string) *Job {
	if p.index == nil {
		p.index = make(map[string]*Job, len(p.Jobs))
		for _, j := range p.Jobs {
			p.index[j.ID] = j
		}
	}
	return p.index[id]
}

// planner builds a plan, sharing jobs whose configurations coincide. The
// maps are keyed by structs, so that the common case (a job already planned)
// costs a lookup and no string building; the canonical key that the job ID
// hashes is built only for new jobs.
type planner struct {
	g           *Grid
	plan        *Plan
	pretrains   map[pretrainKey]*Job
	featureJobs map[featuresKey]*Job
	probeJobs   map[*Job]map[probeJobKey]*Job // by features job
	pretrain    string                        // hash of the shared pretraining settings
	eval        string                        // hash of the shared evaluation settings
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
	kind Kind
	seed int
	pk   probeKey
}

// NewPlan expands a validated grid into its job graph.
func NewPlan(g *Grid) *Plan {
	pl := &planner{g: g, plan: &Plan{Name: g.Name, Revision: PretrainRevision}, pretrains: map[pretrainKey]*Job{}, featureJobs: map[featuresKey]*Job{}, probeJobs: map[*Job]map[probeJobKey]*Job{}}
	pl.pretrain = digest(g.Pretrain)
	pl.eval = digest(g.Eval)
	points := g.Points()
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
	for _, gk := range order {
		small, large, _ := SplitPair(gk.pair)
		objS, objL := SplitObjective(gk.objective)
		type encoder struct {
			features *Job
			seed     int
		}
		var encoders []encoder
		dogo := pl.pretrainJob(gk.dataset, MethodDoGo, gk.objective, []string{small, large}, gk.seed)
		encoders = append(encoders,
			encoder{pl.encoder(dogo, 0, "small", large), gk.seed},
			encoder{pl.encoder(dogo, 1, "large", small), gk.seed})
		for i, a := range []string{small, large} {
			obj := []string{objS, objL}[i]
			solo := pl.pretrainJob(gk.dataset, MethodSolo, obj, []string{a}, gk.seed)
			encoders = append(encoders, encoder{pl.encoder(solo, 0, "solo", ""), gk.seed})
			if refs["random"] {
				encoders = append(encoders, encoder{pl.reference(gk.dataset, MethodRandom, a, gk.seed), gk.seed})
			}
		}
		if refs["pixels"] {
			encoders = append(encoders, encoder{pl.reference(gk.dataset, MethodPixels, "", gk.seed), gk.seed})
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
	return pl.plan
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

// add returns the planned job for k, or builds, names and plans it. key is
// the canonical configuration the job ID hashes; it is built only for new jobs.
func add[K comparable](pl *planner, m map[K]*Job, k K, key func() string, build func() *Job) *Job {
	if j, ok := m[k]; ok {
		return j
	}
	j := build()
	j.ID = hashID(key())
	j.Name = jobName(j)
	m[k] = j
	pl.plan.Jobs = append(pl.plan.Jobs, j)
	switch j.Spec.Kind {
	case KindPretrain:
		pl.plan.Stats.Pretrain++
	case KindFeatures:
		pl.plan.Stats.Features++
	default:
		pl.plan.Stats.Eval++
	}
	return j
}

// PretrainRevision names what pretraining computes beyond its settings. It is
// part of every pretraining job's ID, hence of every job downstream and of
// the run folder's name: bump it when a change alters what training produces
// (views, models, losses), so that a grid launched after the upgrade trains
// anew in a new run folder instead of mixing old and new results.
// History: "" the first release; "2" views made in the training graph.
const PretrainRevision = "2"

func (pl *planner) pretrainJob(dataset, method, objective string, archs []string, seed int) *Job {
	joined := archs[0]
	if len(archs) == 2 {
		joined += "+" + archs[1]
	}
	k := pretrainKey{dataset, method, objective, joined, seed}
	key := func() string {
		return strings.Join([]string{"pretrain", dataset, method, objective, joined, strconv.Itoa(seed), pl.pretrain, "revision " + PretrainRevision}, "|")
	}
	return add(pl, pl.pretrains, k, key, func() *Job {
		p := pl.g.Pretrain
		return &Job{Spec: Spec{Kind: KindPretrain, Dataset: dataset, Method: method, Objective: objective, Seed: seed,
			Archs: archs, Pretrain: &p}, CPUs: pl.g.Resources.CPUs, GPUs: pl.g.Resources.GPUs, GPUFraction: pl.g.Resources.GPUFraction,
			MemoryGB: pl.g.Resources.MemoryGB}
	})
}

// encoder adds the features job of one pretrained encoder.
func (pl *planner) encoder(parent *Job, peer int, role, peerArch string) *Job {
	ps := parent.Spec
	obj := ps.Objective
	if ps.Method == MethodDoGo {
		s, l := SplitObjective(obj)
		obj = []string{s, l}[peer]
	}
	spec := Spec{Kind: KindFeatures, Dataset: ps.Dataset, Method: ps.Method, Objective: obj, Seed: ps.Seed,
		Parent: parent.ID, Peer: peer, Arch: ps.Archs[peer], Role: role, PeerArch: peerArch}
	return pl.features(spec, []string{parent.ID})
}

// reference adds the features job of a reference encoder (random-init or pixels).
func (pl *planner) reference(dataset, method, arch string, seed int) *Job {
	featSeed := seed
	if method == MethodPixels {
		featSeed = 0 // Pixels do not depend on a seed; the probes do.
	}
	spec := Spec{Kind: KindFeatures, Dataset: dataset, Method: method, Seed: featSeed, Arch: arch, Role: "reference"}
	return pl.features(spec, nil)
}

func (pl *planner) features(spec Spec, deps []string) *Job {
	spec.OOD = pl.g.OOD
	spec.TrainSubset = pl.g.Eval.TrainSubset
	k := featuresKey{spec.Dataset, spec.Method, spec.Objective, spec.Arch, spec.Role, spec.PeerArch, spec.Parent, spec.Seed, spec.Peer}
	key := func() string {
		return strings.Join([]string{"features", spec.Dataset, spec.Method, spec.Objective, strconv.Itoa(spec.Seed), spec.Parent,
			strconv.Itoa(spec.Peer), spec.Arch, spec.Role, spec.PeerArch, strings.Join(spec.OOD, ","), strconv.Itoa(spec.TrainSubset)}, "|")
	}
	return add(pl, pl.featureJobs, k, key, func() *Job {
		return &Job{Spec: spec, Deps: deps, CPUs: 1, GPUs: min(pl.g.Resources.GPUs, 1), GPUFraction: pl.g.Resources.GPUFraction}
	})
}

// probes adds one probe and the kNN job of a features job, for a seed.
func (pl *planner) probes(f *Job, seed int, pk probeKey) {
	kind := KindLinear
	switch {
	case pk.rate > 0:
		kind = KindNoise
	case pk.fraction < 1:
		kind = KindFraction
	}
	m := pl.probeJobs[f]
	if m == nil {
		m = map[probeJobKey]*Job{}
		pl.probeJobs[f] = m
	}
	for _, k := range []Kind{kind, KindKNN} {
		jk := probeJobKey{kind: k, seed: seed}
		if k != KindKNN {
			jk.pk = pk
		}
		build := func() *Job {
			spec := f.Spec
			spec.Kind, spec.Features, spec.Seed, spec.OOD, spec.TrainSubset, spec.Parent = k, f.ID, seed, nil, 0, ""
			if k != KindKNN {
				spec.NoiseRate, spec.NoiseKind, spec.Fraction = pk.rate, pk.kind, pk.fraction
			}
			e := pl.g.Eval
			spec.Eval = &e
			return &Job{Spec: spec, Deps: []string{f.ID}, CPUs: 1}
		}
		key := func() string {
			var rate, nkind, frac string
			if k != KindKNN {
				rate, nkind, frac = ftoa(pk.rate), pk.kind, ftoa(pk.fraction)
			} else {
				rate, frac = "0", "0"
			}
			return strings.Join([]string{string(k), f.ID, strconv.Itoa(seed), rate, nkind, frac, pl.eval}, "|")
		}
		add(pl, m, jk, key, build)
	}
}

func digest(v any) string {
	b, _ := json.Marshal(v)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// hashID is the job ID: a hash of the job's canonical key, which holds every
// setting that changes its result, so that it is stable across runs, key
// order and formatting of the grid file.
func hashID(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:6])
}

// jobName is a human-readable, unique folder name.
func jobName(j *Job) string {
	s := j.Spec
	parts := []string{string(s.Kind), s.Dataset, s.Method}
	switch s.Kind {
	case KindPretrain:
		parts = append(parts, s.Objective, strings.Join(s.Archs, "+"))
	default:
		if s.Arch != "" {
			parts = append(parts, s.Arch)
		}
		if s.Role != "" && s.Role != "solo" && s.Role != "reference" {
			parts = append(parts, s.Role)
		}
	}
	if s.Kind == KindNoise {
		parts = append(parts, fmt.Sprintf("%s%s", s.NoiseKind[:3], ftoa(s.NoiseRate)))
	}
	if s.Kind == KindFraction {
		parts = append(parts, "frac"+ftoa(s.Fraction))
	}
	parts = append(parts, "s"+strconv.Itoa(s.Seed), j.ID[:6])
	return strings.Join(parts, "-")
}

// Encoder identifies an evaluated encoder across the jobs that share it.
func (s Spec) Encoder() string {
	if s.Method == MethodPixels {
		return "pixels"
	}
	name := s.Method + ":" + s.Arch
	if s.Method == MethodDoGo {
		name += "(" + s.Role + ", with " + s.PeerArch + ")"
	}
	return name
}

// Topo checks that every dependency precedes its dependents.
func (p *Plan) Topo() error {
	seen := map[string]bool{}
	for _, j := range p.Jobs {
		for _, d := range j.Deps {
			if !seen[d] {
				return fmt.Errorf("plan: job %s depends on %s, which is not before it", j.ID, d)
			}
		}
		seen[j.ID] = true
	}
	return nil
}

// KindCounts returns how many jobs of each kind the plan holds, sorted by kind.
func (p *Plan) KindCounts() []KindCount {
	m := map[Kind]int{}
	for _, j := range p.Jobs {
		m[j.Spec.Kind]++
	}
	var out []KindCount
	for k, n := range m {
		out = append(out, KindCount{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// KindCount is a number of jobs of one kind.
type KindCount struct {
	Kind Kind
	N    int
}
