package reports

import (
	"cmp"
	"fmt"
	"github.com/dogo-sweep/dogo-sweep/verdict"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/results"
)

// Report is a sweep's analysis, before any rendering: what its settings
// were, every DoGo-vs-solo comparison (with the numbers behind it), the
// reference encoders, what the sweep cost, and what did not finish.
// Analyze computes it; Render writes it as markdown.
type Report struct {
	Name string
	Env  Env
	// Finished and Planned count the plan's jobs.
	Finished, Planned int
	// Headline holds, per data set and objective, the linear probe with
	// all labels, then kNN.
	Headline []Block
	Limited  []Block // label fractions
	Noisy    []Block // label noise
	// OOD is the out-of-distribution table and, per set, the comparisons.
	OOD      OODTable
	OODBlock []Block
	Costs    []Cost
	Failed   []string // "name (attempt N): error"
	Missing  []string // jobs that never ran
	Retried  int      // attempts after a job's first
	// Verdicts are every comparison's, in the report's order.
	Verdicts []Verdict
	// Rule is how they were decided.
	Rule verdict.Rule
	// Cells are the verdicts by pretraining cell, for the protocols that
	// decide (a sequential sweep's).
	Cells []CellVerdict
}

// CellVerdict is a pretraining cell (a pair on a data set with an
// objective) with the comparisons that decide it: a sequential sweep gives
// it seeds while one of them is undecided.
type CellVerdict struct {
	Dataset, Objective, Pair string
	// Seeds is the most seeds any of its comparisons has.
	Seeds int
	// Deciding counts its comparisons of the deciding protocols; Open lists
	// those still undecided.
	Deciding int
	Open     []Verdict
}

// Decided reports whether every comparison that decides the cell is decided.
func (c CellVerdict) Decided() bool { return c.Deciding > 0 && len(c.Open) == 0 }

// Protocol is a setting's protocol as decide.on names it: linear, knn,
// fraction, noise or ood.
func (s Setting) Protocol() string {
	if isOOD(s) {
		return "ood"
	}
	return s.Kind
}

// Pair is the pair a verdict's DoGo encoder was trained in, small+large.
func (v Verdict) Pair() string {
	if v.Role == job.RoleLarge && v.Arch != v.Peer {
		return v.Peer + "+" + v.Arch
	}
	return v.Arch + "+" + v.Peer
}

// Cells groups verdicts by pretraining cell, counting those of the
// protocols on, in the verdicts' order.
func Cells(vs []Verdict, on []string) []CellVerdict {
	var out []CellVerdict
	index := map[[3]string]int{}
	for _, v := range vs {
		if !slices.Contains(on, v.Setting.Protocol()) {
			continue
		}
		k := [3]string{v.Dataset, v.Objective, v.Pair()}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, CellVerdict{Dataset: k[0], Objective: k[1], Pair: k[2]})
		}
		c := &out[i]
		c.Seeds = max(c.Seeds, v.Seeds)
		c.Deciding++
		if v.Outcome() == Undecided {
			c.Open = append(c.Open, v)
		}
	}
	return out
}

// Env is the settings table.
type Env struct {
	Settings                           *job.Settings
	Jobs, Pretrain, Features, Eval     int
	DataDirs, Backends, Devices, Hosts []string
	Builds                             []Count
	Revisions                          map[job.Code]string
	// First and Last are the sweep's span (Options.Span): zero when it ran no job itself.
	First, Last time.Time
}

// Count is a value and how many jobs had it.
type Count struct {
	Value string
	N     int
}

// Setting is a probe protocol: its kind (or "ood:SET"), noise and label fraction.
type Setting struct {
	Kind      string
	Noise     float64
	NoiseKind string
	Fraction  float64
}

// Describe says the setting in words ("linear probe on 10% of the labels").
func (s Setting) Describe() string { return describe(s.Kind, s.Noise, s.NoiseKind, s.Fraction) }

// Block is one table of comparisons: a data set, an objective and a setting.
type Block struct {
	Dataset, Objective string
	Setting            Setting
	Comparisons        []Comparison
	References         []Reference
	// BestFinal is each encoder's accuracy at the best-validation epoch
	// and at the final one (limited and noisy labels).
	BestFinal []BestFinal
}

// Stat is a mean and standard deviation over seeds (fractions, not
// percent; the deviation of one value is NaN).
type Stat struct{ Mean, Std float64 }

func statOf(x []float64) Stat {
	m, s := MeanStd(x)
	return Stat{m, s}
}

// Comparison is one architecture trained as a DoGo peer against the same
// architecture trained solo, over the seeds both have.
type Comparison struct {
	Arch, Role, Peer string
	Solo, DoGo       Stat
	// Diff is the mean of DoGo - solo, paired by seed; Half the half-width
	// of its interval at the decision's level (NaN with one seed).
	Diff, Half float64
	// Higher counts the seeds on which DoGo is above solo, of Seeds.
	Higher, Seeds int
	// Decision is its verdict (package verdict).
	Decision verdict.Decision
}

// The verdicts of a comparison (package verdict): its interval lies above
// zero, below zero, within the margin, or none of these.
const (
	Gain       = verdict.Gain
	Loss       = verdict.Loss
	Equivalent = verdict.Equivalent
	Undecided  = verdict.Undecided
)

// Outcome is the comparison's verdict in a word.
func (c Comparison) Outcome() string { return c.Decision.Word }

// RuleOf is how a plan's comparisons are decided: at 5%, with the plan's
// margin and, for a sequential sweep, its seeds.
func RuleOf(p *job.Plan) verdict.Rule {
	r := verdict.Rule{Alpha: 0.05, Margin: 0.005}
	if s := p.Settings; s != nil {
		r.Margin = s.Decide.MarginOr() / 100
		r.Min, r.Max = s.Decide.Min, s.Decide.Max
	}
	return r
}

// Verdict is a comparison with where it was made.
type Verdict struct {
	Dataset, Objective string
	Setting            Setting
	Comparison
}

// Reference is a reference encoder's accuracy (random init, raw pixels).
type Reference struct {
	Name  string
	Acc   Stat
	Seeds int
}

// BestFinal is an encoder's test accuracy at its best-validation epoch and
// at its final epoch.
type BestFinal struct {
	Encoder     string
	Best, Final Stat
	Seeds       int
}

// OODTable is each linear probe's accuracy on clean and on shifted test sets.
type OODTable struct {
	Sets []string
	Rows []OODRow
}

// OODRow is one encoder's line of the OOD table.
type OODRow struct {
	Dataset, Encoder string
	Clean            Stat
	OOD              []Stat // by OODTable.Sets
	Seeds            int
}

// Cost is what one kind of job cost.
type Cost struct {
	Jobs     string // kind, or "pretrain METHOD ARCH"
	Attempts int
	Hours    float64
	// ImagesPerSec is the mean training throughput (NaN when none).
	ImagesPerSec float64
}

// Analyze computes the report of a plan's results.
func Analyze(p *job.Plan, t *results.Tables, opt Options) *Report {
	sum := results.Summary(t)
	cells := cellsOf(sum)
	rule := RuleOf(p)
	r := &Report{Name: p.Name, Env: envOf(p, t), Planned: len(p.Jobs), Rule: rule}
	r.Env.First, r.Env.Last = opt.Span[0], opt.Span[1]
	for _, j := range latest(t.Jobs) {
		if j.Status == string(job.StateDone) {
			r.Finished++
		}
	}
	block := func(cells map[cellKey]map[int64]results.SummaryRow, do [2]string, s Setting, bestFinal func(cellKey) bool) Block {
		b := Block{Dataset: do[0], Objective: do[1], Setting: s}
		b.Comparisons = comparisons(cells, do[0], do[1], s, rule)
		if !isOOD(s) {
			b.References = references(cells, do[0], s)
		}
		if bestFinal != nil {
			b.BestFinal = bestFinals(cells, do[0], bestFinal)
		}
		for _, c := range b.Comparisons {
			if c.Seeds > 0 {
				r.Verdicts = append(r.Verdicts, Verdict{Dataset: do[0], Objective: do[1], Setting: s, Comparison: c})
			}
		}
		return b
	}
	for _, do := range datasetObjectives(sum) {
		r.Headline = append(r.Headline, block(cells, do, Setting{Kind: string(job.KindLinear), Fraction: 1}, nil))
		r.Headline = append(r.Headline, block(cells, do, Setting{Kind: string(job.KindKNN), Fraction: 1}, nil))
	}
	for _, do := range datasetObjectives(sum) {
		for _, fr := range values(sum, func(s results.SummaryRow) (float64, bool) { return s.Fraction, s.Kind == job.KindFraction }) {
			r.Limited = append(r.Limited, block(cells, do, Setting{Kind: string(job.KindFraction), Fraction: fr},
				func(k cellKey) bool { return k.kind == string(job.KindFraction) && k.fraction == fr && k.noise == 0 }))
		}
	}
	for _, do := range datasetObjectives(sum) {
		for _, nk := range noiseSettings(sum) {
			s := Setting{Kind: string(job.KindNoise), Noise: nk.rate, NoiseKind: nk.kind, Fraction: nk.fraction}
			// Noisy labels: no references in this section's tables.
			b := block(cells, do, s, func(k cellKey) bool {
				return k.kind == string(job.KindNoise) && k.noise == nk.rate && k.noiseKind == nk.kind && k.fraction == nk.fraction
			})
			b.References = nil
			r.Noisy = append(r.Noisy, b)
		}
	}
	r.OOD = oodTable(cells)
	for _, set := range oodSets(cells) {
		oc := oodCells(cells, set)
		for _, do := range datasetObjectives(sum) {
			r.OODBlock = append(r.OODBlock, block(oc, do, Setting{Kind: job.OODSplit(set), Fraction: 1}, nil))
		}
	}
	r.Costs = costs(t)
	r.Failed, r.Missing, r.Retried = failures(p, t)
	if s := p.Settings; s != nil && s.Decide.Max > 0 {
		r.Cells = Cells(r.Verdicts, s.Decide.On)
	}
	return r
}

func isOOD(s Setting) bool {
	_, ok := job.OODSet(s.Kind)
	return ok
}

// Counts says how many verdicts had each outcome.
func Counts(vs []Verdict) map[string]int {
	count := map[string]int{}
	for _, v := range vs {
		count[v.Outcome()]++
	}
	return count
}

func envOf(p *job.Plan, t *results.Tables) Env {
	e := Env{Settings: p.Settings, Jobs: len(p.Jobs), Pretrain: p.Stats.Pretrain, Features: p.Stats.Features, Eval: p.Stats.Eval, Revisions: p.Revisions}
	backends, hosts, devices, folders := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	builds := map[string]int{}
	for _, j := range t.Jobs {
		if j.Status == string(job.StateDone) {
			builds[cmp.Or(j.Build, "unknown (made before builds were recorded)")]++
		}
		if j.DataDir != "" {
			folders[j.DataDir] = true
		}
		if j.Backend != "" {
			backends[j.Backend] = true
		}
		if j.Host != "" {
			hosts[j.Host] = true
		}
		if j.Devices != "" {
			devices["GPU "+j.Devices] = true
		}
	}
	e.DataDirs, e.Backends, e.Devices, e.Hosts = sortedSet(folders), sortedSet(backends), sortedSet(devices), sortedSet(hosts)
	for _, b := range slices.Sorted(maps.Keys(builds)) {
		e.Builds = append(e.Builds, Count{b, builds[b]})
	}
	return e
}

func sortedSet(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// comparisons are the DoGo-vs-solo comparisons of one setting: each DoGo
// peer trained with the objective's side against its architecture solo.
func comparisons(cells map[cellKey]map[int64]results.SummaryRow, dataset, objective string, s Setting, rule verdict.Rule) []Comparison {
	var keys []cellKey
	for k := range cells {
		if k.dataset == dataset && k.kind == s.Kind && k.method == job.MethodDoGo && k.noise == s.Noise && k.noiseKind == s.NoiseKind && k.fraction == s.Fraction {
			keys = append(keys, k)
		}
	}
	sortEncoders(keys)
	var out []Comparison
	for _, k := range keys {
		so, sl := job.SplitObjective(objective)
		peerObj := so
		if k.role == job.RoleLarge {
			peerObj = sl
		}
		if k.objective != peerObj {
			continue
		}
		soloKey := k
		soloKey.method, soloKey.role, soloKey.peer = job.MethodSolo, job.RoleSolo, ""
		dogo, solo := cells[k], cells[soloKey]
		var ds, ss, diffs []float64
		higher := 0
		for _, seed := range seeds(dogo) {
			d := dogo[seed]
			ds = append(ds, d.AccSelected)
			if s, ok := solo[seed]; ok {
				diffs = append(diffs, d.AccSelected-s.AccSelected)
				if d.AccSelected > s.AccSelected {
					higher++
				}
			}
		}
		for _, seed := range seeds(solo) {
			ss = append(ss, solo[seed].AccSelected)
		}
		d := rule.Decide(diffs)
		out = append(out, Comparison{Arch: k.arch, Role: k.role, Peer: k.peer, Solo: statOf(ss), DoGo: statOf(ds),
			Diff: d.Mean, Half: d.Half, Higher: higher, Seeds: len(diffs), Decision: d})
	}
	return out
}

// references are the reference encoders' accuracies in a setting.
func references(cells map[cellKey]map[int64]results.SummaryRow, dataset string, s Setting) []Reference {
	var out []Reference
	for k, c := range cells {
		if k.dataset != dataset || k.kind != s.Kind || k.role != job.RoleReference || k.noise != s.Noise || k.noiseKind != s.NoiseKind || k.fraction != s.Fraction {
			continue
		}
		var xs []float64
		for _, seed := range seeds(c) {
			xs = append(xs, c[seed].AccSelected)
		}
		name := "raw pixels"
		if k.method == job.MethodRandom {
			name = "random-init " + k.arch
		}
		out = append(out, Reference{Name: name, Acc: statOf(xs), Seeds: len(xs)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// bestFinals are the best-validation and final accuracies of the cells of
// one setting.
func bestFinals(cells map[cellKey]map[int64]results.SummaryRow, dataset string, setting func(cellKey) bool) []BestFinal {
	var keys []cellKey
	for k := range cells {
		if k.dataset == dataset && setting(k) {
			keys = append(keys, k)
		}
	}
	sortEncoders(keys)
	var out []BestFinal
	for _, k := range keys {
		var b, f []float64
		for _, seed := range seeds(cells[k]) {
			b, f = append(b, cells[k][seed].AccBest), append(f, cells[k][seed].AccFinal)
		}
		out = append(out, BestFinal{Encoder: encoderName(k), Best: statOf(b), Final: statOf(f), Seeds: len(cells[k])})
	}
	return out
}

func oodTable(cells map[cellKey]map[int64]results.SummaryRow) OODTable {
	t := OODTable{Sets: oodSets(cells)}
	if len(t.Sets) == 0 {
		return t
	}
	var keys []cellKey
	for k := range cells {
		if k.kind == string(job.KindLinear) {
			keys = append(keys, k)
		}
	}
	sortEncoders(keys)
	for _, k := range keys {
		c := cells[k]
		var clean []float64
		ood := make([][]float64, len(t.Sets))
		for _, seed := range seeds(c) {
			s := c[seed]
			clean = append(clean, s.AccSelected)
			for i, n := range t.Sets {
				if v, ok := s.OOD[n]; ok {
					ood[i] = append(ood[i], v)
				}
			}
		}
		row := OODRow{Dataset: k.dataset, Encoder: encoderName(k), Clean: statOf(clean), Seeds: len(c)}
		for i := range t.Sets {
			row.OOD = append(row.OOD, statOf(ood[i]))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func costs(t *results.Tables) []Cost {
	type agg struct {
		secs, imgs float64
		n, m       int
	}
	byKind := map[string]*agg{}
	jobKind := map[string]string{}
	for _, j := range t.Jobs {
		k := j.Kind
		if j.Kind == string(job.KindPretrain) {
			k = "pretrain " + j.Method + " " + j.Arch
			jobKind[j.Job] = k
		}
		a := byKind[k]
		if a == nil {
			a = &agg{}
			byKind[k] = a
		}
		a.secs += j.DurationS
		a.n++
	}
	for _, m := range t.Metrics {
		if m.Name == "images_per_second" {
			if a := byKind[jobKind[m.Job]]; a != nil {
				a.imgs += m.Value
				a.m++
			}
		}
	}
	var out []Cost
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		a := byKind[k]
		c := Cost{Jobs: k, Attempts: a.n, Hours: a.secs / 3600, ImagesPerSec: math.NaN()}
		if a.m > 0 {
			c.ImagesPerSec = a.imgs / float64(a.m)
		}
		out = append(out, c)
	}
	return out
}

// failures lists the plan's jobs whose last attempt failed, those that
// never ran, and how many attempts were retries.
func failures(p *job.Plan, t *results.Tables) (failed, missing []string, retried int) {
	last := latest(t.Jobs)
	for _, j := range p.Jobs {
		r, ok := last[j.ID]
		switch {
		case !ok:
			missing = append(missing, j.Name)
		case r.Status != string(job.StateDone):
			failed = append(failed, fmt.Sprintf("%s (attempt %d): %s", j.Name, r.Attempt, job.FirstLine(r.Error)))
		}
	}
	for _, j := range t.Jobs {
		if j.Attempt > 1 {
			retried++
		}
	}
	return failed, missing, retried
}
