package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/probe"
	"github.com/dogo-sweep/dogo-sweep/results"
)

// Options configure a report.
type Options struct {
	Logger *slog.Logger
	// Now stamps the report (tests fix it).
	Now func() time.Time
	// Plots are linked from the report; Write fills them in.
	Plots []Plot
}

// Write writes report.md and its plots (plots/) into dir, from a sweep's
// plan and its result tables. Every file is replaced atomically.
func Write(dir string, p *job.Plan, t *results.Tables, opt Options) error {
	plots, err := writePlots(dir, results.Summary(t), t)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	opt.Plots = plots
	var b bytes.Buffer
	if err := Render(&b, p, t, opt); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "report.md"), b.Bytes())
}

// cellsOf groups the summary's rows by encoder and protocol setting, over seeds.
func cellsOf(sum []results.SummaryRow) map[cellKey]map[int64]results.SummaryRow {
	cells := map[cellKey]map[int64]results.SummaryRow{}
	for _, s := range sum {
		k := cellKey{s.Dataset, s.Objective, s.Method, s.Arch, s.Role, s.PeerArch, string(s.Kind), s.NoiseKind, s.NoiseRate, s.Fraction}
		if s.Kind == job.KindLinear || s.Kind == job.KindKNN {
			k.fraction = 1
		}
		if cells[k] == nil {
			cells[k] = map[int64]results.SummaryRow{}
		}
		cells[k][s.Seed] = s
	}
	return cells
}

// Headline is the method's headline in one line: the small peer of a pair
// with a larger peer against the same architecture solo, linear probe with
// all labels, DoGo minus solo over seeds with its 95% interval (the first
// data set and objective of the results); "" before any such comparison.
func Headline(t *results.Tables) string {
	sum := results.Summary(t)
	cells := cellsOf(sum)
	for _, do := range datasetObjectives(sum) {
		for _, v := range comparison(io.Discard, cells, do[0], do[1], string(job.KindLinear), 0, "", 1) {
			if v.role != job.RoleSmall || v.arch == v.peer {
				continue
			}
			ci := "no interval"
			if !math.IsNaN(v.half) {
				ci = fmt.Sprintf("[%+.2f, %+.2f]", 100*(v.diff-v.half), 100*(v.diff+v.half))
			}
			return fmt.Sprintf("%s with %s %+.2f %s, %d seeds", v.arch, v.peer, 100*v.diff, ci, v.n)
		}
	}
	return ""
}

// cell groups the accuracies of one encoder kind over seeds.
type cellKey struct {
	dataset, objective, method, arch, role, peer, kind, noiseKind string
	noise, fraction                                               float64
}

// Render writes the report for a plan and its result tables.
func Render(w io.Writer, p *job.Plan, t *results.Tables, opt Options) error {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	sum := results.Summary(t)
	cells := cellsOf(sum)
	fmt.Fprintf(w, "# Sweep report: %s\n\n", p.Name)
	fmt.Fprintf(w, "Generated %s by sweep %s from the run's Parquet results.\n\n", now().UTC().Format("2006-01-02 15:04 MST"), job.Version)
	writeEnv(w, p, t)
	done := 0
	for _, j := range latest(t.Jobs) {
		if j.Status == string(job.StateDone) {
			done++
		}
	}
	if done < len(p.Jobs) {
		fmt.Fprintf(w, "**Partial run:** %d of %d jobs finished; the tables below hold only finished evaluations.\n\n", done, len(p.Jobs))
	}

	fmt.Fprintln(w, "## Headline: solo vs DoGo peer (linear probe, all labels, test accuracy at the best-validation epoch)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, legend)
	fmt.Fprintln(w)
	var verdicts []verdict
	for _, dobj := range datasetObjectives(sum) {
		fmt.Fprintf(w, "### %s, %s\n\n", dobj[0], dobj[1])
		verdicts = append(verdicts, comparison(w, cells, dobj[0], dobj[1], string(job.KindLinear), 0, "", 1)...)
		refs(w, cells, dobj[0], string(job.KindLinear), 0, "", 1)
		fmt.Fprintln(w, "\nkNN accuracy (same encoders):")
		fmt.Fprintln(w)
		verdicts = append(verdicts, comparison(w, cells, dobj[0], dobj[1], string(job.KindKNN), 0, "", 1)...)
		refs(w, cells, dobj[0], string(job.KindKNN), 0, "", 1)
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "## Limited labels")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Epoch selection: a probe reports its test accuracy at the best-validation epoch when its validation split holds at least %d images per class, "+
		"and at its final epoch otherwise (1%% of 10,000 labels leaves about 15 validation images: too few to choose an epoch by). "+
		"The DoGo-vs-solo tables use that accuracy; the table under each shows both.\n\n", probe.MinValPerClass)
	for _, dobj := range datasetObjectives(sum) {
		for _, fr := range values(sum, func(s results.SummaryRow) (float64, bool) { return s.Fraction, s.Kind == job.KindFraction }) {
			fmt.Fprintf(w, "### %s, %s: %g%% of the labels\n\n", dobj[0], dobj[1], fr*100)
			verdicts = append(verdicts, comparison(w, cells, dobj[0], dobj[1], string(job.KindFraction), 0, "", fr)...)
			refs(w, cells, dobj[0], string(job.KindFraction), 0, "", fr)
			bestFinalTable(w, cells, dobj[0], func(k cellKey) bool { return k.kind == string(job.KindFraction) && k.fraction == fr && k.noise == 0 })
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "## Noisy labels")
	fmt.Fprintln(w)
	for _, dobj := range datasetObjectives(sum) {
		for _, nk := range noiseSettings(sum) {
			fmt.Fprintf(w, "### %s, %s: %g%% %s label noise\n\n", dobj[0], dobj[1], nk.rate*100, nk.kind)
			verdicts = append(verdicts, comparison(w, cells, dobj[0], dobj[1], string(job.KindNoise), nk.rate, nk.kind, nk.fraction)...)
			bestFinalTable(w, cells, dobj[0], func(k cellKey) bool {
				return k.kind == string(job.KindNoise) && k.noise == nk.rate && k.noiseKind == nk.kind && k.fraction == nk.fraction
			})
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "## Out-of-distribution (linear probe trained on clean data, tested on shifted test sets)")
	fmt.Fprintln(w)
	oodTable(w, cells)
	for _, set := range oodSets(cells) {
		oc := oodCells(cells, set)
		for _, dobj := range datasetObjectives(sum) {
			fmt.Fprintf(w, "### %s, %s: %s\n\n", dobj[0], dobj[1], set)
			verdicts = append(verdicts, comparison(w, oc, dobj[0], dobj[1], job.OODSplit(set), 0, "", 1)...)
			fmt.Fprintln(w)
		}
	}
	if len(opt.Plots) > 0 {
		fmt.Fprintln(w, "## Plots")
		fmt.Fprintln(w)
		for _, pl := range opt.Plots {
			fmt.Fprintf(w, "![%s](%s)\n\n", pl.Title, pl.File)
		}
	}
	fmt.Fprintln(w, "## Training cost")
	fmt.Fprintln(w)
	costTable(w, t)
	fmt.Fprintln(w, "## Failures and missing points")
	fmt.Fprintln(w)
	failures(w, p, t)
	fmt.Fprintln(w, "## Summary")
	fmt.Fprintln(w)
	summary(w, verdicts)
	return nil
}

func writeEnv(w io.Writer, p *job.Plan, t *results.Tables) {
	g := p.Settings
	backends, hosts, devices, folders := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	builds := map[string]int{}
	var first, last time.Time
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
		if first.IsZero() || j.Start.Before(first) {
			first = j.Start
		}
		if j.End.After(last) {
			last = j.End
		}
	}
	fmt.Fprintln(w, "| setting | value |\n|---|---|")
	if g != nil {
		fmt.Fprintf(w, "| datasets | %s |\n| objectives | %s |\n| pairs | %s |\n| seeds | %v |\n", strings.Join(g.Datasets, ", "), strings.Join(g.Objectives, ", "), strings.Join(g.Pairs, ", "), g.Seeds)
		pt := g.Pretrain
		views := "the method's views"
		if v := pt.Views.String(); v != "" {
			views = "views: " + v + ", the method's otherwise"
		}
		fmt.Fprintf(w, "| pretraining | %d epochs, batch %d, Adam lr %g wd %g (%s), tau %g, KD tau %g, KD weight %g (%s), train subset %d, %s |\n",
			pt.Epochs, pt.Batch, pt.LR, pt.WeightDecay, pt.Schedule, pt.Temperature, pt.KDTemperature, pt.KDWeight, pt.KDReduction, pt.TrainSubset, views)
		e := g.Eval
		fmt.Fprintf(w, "| probes | %d epochs, batch %d, Adam lr %g wd %g, val fraction %g, standardized features: %v, train subset %d; kNN k=%d T=%g |\n",
			e.Epochs, e.Batch, e.LR, e.WeightDecay, e.ValFraction, e.Standardize, e.TrainSubset, e.KNNK, e.KNNTemperature)
	}
	fmt.Fprintf(w, "| jobs | %d (%d pretraining, %d feature extraction, %d evaluation) |\n", len(p.Jobs), p.Stats.Pretrain, p.Stats.Features, p.Stats.Eval)
	dev := joinKeys(devices)
	if dev == "-" {
		dev = "CPU"
	}
	fmt.Fprintf(w, "| data read from | %s |\n| backend | %s |\n| devices | %s |\n| hosts | %s |\n", joinKeys(folders), joinKeys(backends), dev, joinKeys(hosts))
	var bs []string
	for _, b := range slices.Sorted(maps.Keys(builds)) {
		bs = append(bs, fmt.Sprintf("%s (%d jobs)", b, builds[b]))
	}
	if len(bs) > 0 {
		fmt.Fprintf(w, "| builds | %s |\n", strings.Join(bs, "; "))
	}
	if p.Revisions != nil {
		fmt.Fprintf(w, "| code revisions | %s |\n", job.RevisionsText(p.Revisions))
	}
	if !first.IsZero() {
		fmt.Fprintf(w, "| wall time | %s (%s to %s UTC: the first job's start to the last one's end, jobs reused from other sweeps included) |\n",
			last.Sub(first).Round(time.Second), first.UTC().Format("2006-01-02 15:04"), last.UTC().Format("2006-01-02 15:04"))
	}
	fmt.Fprintln(w)
}

func joinKeys(m map[string]bool) string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	if len(k) == 0 {
		return "-"
	}
	return strings.Join(k, ", ")
}

func datasetObjectives(sum []results.SummaryRow) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, s := range sum {
		if s.Method != job.MethodDoGo {
			continue
		}
		k := [2]string{s.Dataset, s.Objective}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+out[i][1] < out[j][0]+out[j][1] })
	return out
}

func values(sum []results.SummaryRow, f func(results.SummaryRow) (float64, bool)) []float64 {
	seen := map[float64]bool{}
	var out []float64
	for _, s := range sum {
		if v, ok := f(s); ok && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Float64s(out)
	return out
}

type noiseSetting struct {
	rate     float64
	kind     string
	fraction float64
}

func noiseSettings(sum []results.SummaryRow) []noiseSetting {
	seen := map[noiseSetting]bool{}
	var out []noiseSetting
	for _, s := range sum {
		if s.Kind != job.KindNoise {
			continue
		}
		n := noiseSetting{s.NoiseRate, s.NoiseKind, s.Fraction}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].kind != out[j].kind {
			return out[i].kind < out[j].kind
		}
		return out[i].rate < out[j].rate
	})
	return out
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", 100*v)
}

// verdict is one DoGo-vs-solo comparison, for the summary.
type verdict struct {
	dataset, objective, setting, arch, role, peer string
	diff, half                                    float64
	higher, n                                     int
}

// The outcomes of a comparison over seeds: its 95% interval lies above zero,
// spans zero, or lies below zero; with one seed there is no interval.
const (
	gain       = "gain"
	tie        = "tie"
	loss       = "loss"
	oneHigher  = "higher (one seed)"
	oneNotHigh = "not higher (one seed)"
)

func (v verdict) outcome() string {
	switch {
	case math.IsNaN(v.half):
		if v.diff > 0 {
			return oneHigher
		}
		return oneNotHigh
	case v.diff-v.half > 0:
		return gain
	case v.diff+v.half < 0:
		return loss
	}
	return tie
}

// legend says what the comparison tables' columns and the summary's words mean.
const legend = "Accuracies in %, mean ± standard deviation over seeds. \"DoGo - solo\" is the mean difference in points, paired by seed, " +
	"with its 95% t-interval over seeds; \"DoGo higher\" counts the seeds on which DoGo's accuracy is above solo's. " +
	"In the summary, a **gain** is an interval above zero, a **loss** one below zero, and a **tie** one that spans zero."

// encoderRank orders an architecture's encoders: solo, the small peer, the
// large peer, the controls (copy 1, copy 2), random init; raw pixels last.
func encoderRank(k cellKey) int {
	switch {
	case k.method == job.MethodSolo:
		return 0
	case k.method == job.MethodDoGo && k.arch != k.peer && k.role == job.RoleSmall:
		return 1
	case k.method == job.MethodDoGo && k.arch != k.peer:
		return 2
	case k.method == job.MethodDoGo && k.role == job.RoleSmall:
		return 3
	case k.method == job.MethodDoGo:
		return 4
	case k.method == job.MethodRandom:
		return 5
	}
	return 6
}

// sortEncoders puts rows in a fixed order: by data set; architectures with a
// small peer first, each architecture's encoders by encoderRank; pixels last.
func sortEncoders(keys []cellKey) {
	first := map[string]int{} // an architecture's lowest DoGo rank
	for _, k := range keys {
		if r := encoderRank(k); k.method == job.MethodDoGo {
			if f, ok := first[k.arch]; !ok || r < f {
				first[k.arch] = r
			}
		}
	}
	group := func(k cellKey) int {
		if k.method == job.MethodPixels {
			return 99
		}
		if f, ok := first[k.arch]; ok {
			return f
		}
		return 50
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		return cmp.Or(cmp.Compare(a.dataset, b.dataset), cmp.Compare(group(a), group(b)), cmp.Compare(a.arch, b.arch),
			cmp.Compare(encoderRank(a), encoderRank(b)), cmp.Compare(a.peer, b.peer), cmp.Compare(a.objective, b.objective)) < 0
	})
}

// as describes the encoder's place in its pair.
func as(role, arch, peer string) string {
	if arch == peer {
		return map[string]string{job.RoleSmall: "copy 1", job.RoleLarge: "copy 2"}[role] + " with " + peer + ", control"
	}
	return role + " peer with " + peer
}

// comparison writes the solo vs DoGo-peer table for one protocol setting and
// returns plain-language verdicts.
func comparison(w io.Writer, cells map[cellKey]map[int64]results.SummaryRow, dataset, objective, kind string, noise float64, noiseKind string, fraction float64) []verdict {
	fmt.Fprintln(w, "| architecture | solo | DoGo peer | as | DoGo - solo | 95% CI | DoGo higher | seeds |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	var verdicts []verdict
	var keys []cellKey
	for k := range cells {
		if k.dataset == dataset && k.kind == kind && k.method == job.MethodDoGo && k.noise == noise && k.noiseKind == noiseKind && k.fraction == fraction {
			keys = append(keys, k)
		}
	}
	sortEncoders(keys)
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
		dm, dsd := MeanStd(ds)
		sm, ssd := MeanStd(ss)
		diff, half := PairedCI(diffs)
		ci := "-"
		if !math.IsNaN(half) {
			ci = fmt.Sprintf("[%+.2f, %+.2f]", 100*(diff-half), 100*(diff+half))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %+.2f | %s | %d/%d | %d |\n", k.arch, meanStd(sm, ssd), meanStd(dm, dsd), as(k.role, k.arch, k.peer), 100*diff, ci, higher, len(diffs), len(diffs))
		if len(diffs) > 0 {
			verdicts = append(verdicts, verdict{dataset: dataset, objective: objective, setting: describe(kind, noise, noiseKind, fraction),
				arch: k.arch, role: k.role, peer: k.peer, diff: diff, half: half, higher: higher, n: len(diffs)})
		}
	}
	if len(keys) == 0 {
		fmt.Fprintln(w, "| (no finished DoGo evaluation) | | | | | | | |")
	}
	return verdicts
}

// seeds lists a cell's seeds in order, so that sums over seeds are the same
// from run to run.
func seeds(c map[int64]results.SummaryRow) []int64 {
	out := make([]int64, 0, len(c))
	for s := range c {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// meanStd formats a mean ± standard deviation in percent.
func meanStd(m, s float64) string { return pct(m) + " ± " + pct(s) }

// summary writes the plain-language answer: how often DoGo gains, ties and
// loses, then the small peers' results, which are the method's headline.
func summary(w io.Writer, vs []verdict) {
	if len(vs) == 0 {
		fmt.Fprintln(w, "No DoGo/solo comparison has finished yet.")
		return
	}
	count := map[string]int{}
	for _, v := range vs {
		count[v.outcome()]++
	}
	fmt.Fprintf(w, "Over %d comparisons of an architecture trained as a DoGo peer against the same architecture trained solo, "+
		"DoGo shows %d gains (95%% interval above zero), %d ties (interval spans zero) and %d losses (interval below zero)", len(vs), count[gain], count[tie], count[loss])
	if n := count[oneHigher] + count[oneNotHigh]; n > 0 {
		fmt.Fprintf(w, "; %d have a single seed and no interval (%d higher)", n, count[oneHigher])
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintln(w)
	for _, role := range []struct{ role, peer, title string }{
		{job.RoleSmall, "larger", "The small peer with a larger peer (the pair DoGo should help):"},
		{job.RoleSmall, "same", "The small architecture paired with a copy of itself (control: mutual regularization without a larger peer):"},
	} {
		var lines []string
		for _, v := range vs {
			if v.role != role.role || (role.peer == "same") != (v.arch == v.peer) {
				continue
			}
			ci := "no interval"
			if !math.IsNaN(v.half) {
				ci = fmt.Sprintf("95%% CI [%+.2f, %+.2f]", 100*(v.diff-v.half), 100*(v.diff+v.half))
			}
			lines = append(lines, fmt.Sprintf("- %s, %s, %s: %s with %s: %s, %+.2f points (%s; DoGo higher on %d/%d seeds).",
				v.dataset, v.objective, v.setting, v.arch, v.peer, v.outcome(), 100*v.diff, ci, v.higher, v.n))
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintln(w, role.title)
		fmt.Fprintln(w)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w)
	}
}

func describe(kind string, noise float64, noiseKind string, fraction float64) string {
	if set, ok := job.OODSet(kind); ok {
		return "linear probe tested on " + set
	}
	switch job.Kind(kind) {
	case job.KindKNN:
		return "kNN"
	case job.KindFraction:
		return fmt.Sprintf("linear probe on %g%% of the labels", fraction*100)
	case job.KindNoise:
		return fmt.Sprintf("linear probe with %g%% %s noise", noise*100, noiseKind)
	}
	return "linear probe"
}

// refs writes the reference encoders' numbers for a setting.
func refs(w io.Writer, cells map[cellKey]map[int64]results.SummaryRow, dataset, kind string, noise float64, noiseKind string, fraction float64) {
	var lines []string
	for k, c := range cells {
		if k.dataset != dataset || k.kind != kind || k.role != job.RoleReference || k.noise != noise || k.noiseKind != noiseKind || k.fraction != fraction {
			continue
		}
		var xs []float64
		for _, seed := range seeds(c) {
			xs = append(xs, c[seed].AccSelected)
		}
		m, s := MeanStd(xs)
		name := "raw pixels"
		if k.method == job.MethodRandom {
			name = "random-init " + k.arch
		}
		lines = append(lines, fmt.Sprintf("%s %s ± %s (%d seeds)", name, pct(m), pct(s), len(xs)))
	}
	sort.Strings(lines)
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nReferences: %s.\n", strings.Join(lines, "; "))
	}
}

// bestFinalTable writes each encoder's test accuracy at its best-validation
// epoch and at its final epoch, for the cells of one setting.
func bestFinalTable(w io.Writer, cells map[cellKey]map[int64]results.SummaryRow, dataset string, setting func(cellKey) bool) {
	var keys []cellKey
	for k := range cells {
		if k.dataset == dataset && setting(k) {
			keys = append(keys, k)
		}
	}
	sortEncoders(keys)
	fmt.Fprintln(w, "\n| encoder | best-val epoch | final epoch | seeds |\n|---|---|---|---|")
	for _, k := range keys {
		var b, f []float64
		for _, seed := range seeds(cells[k]) {
			b, f = append(b, cells[k][seed].AccBest), append(f, cells[k][seed].AccFinal)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d |\n", encoderName(k), meanStd(MeanStd(b)), meanStd(MeanStd(f)), len(cells[k]))
	}
}

// oodSets lists the OOD sets the linear probes were tested on.
func oodSets(cells map[cellKey]map[int64]results.SummaryRow) []string {
	sets := map[string]bool{}
	for k, c := range cells {
		if k.kind == string(job.KindLinear) {
			for _, s := range c {
				for o := range s.OOD {
					sets[o] = true
				}
			}
		}
	}
	if len(sets) == 0 {
		return nil
	}
	return strings.Split(joinKeys(sets), ", ")
}

// oodCells turns the linear probes' accuracy on one OOD set into cells of
// kind "ood:SET", so that the DoGo-vs-solo comparison applies to them.
func oodCells(cells map[cellKey]map[int64]results.SummaryRow, set string) map[cellKey]map[int64]results.SummaryRow {
	out := map[cellKey]map[int64]results.SummaryRow{}
	for k, c := range cells {
		if k.kind != string(job.KindLinear) {
			continue
		}
		k.kind = job.OODSplit(set)
		out[k] = map[int64]results.SummaryRow{}
		for seed, s := range c {
			if v, ok := s.OOD[set]; ok {
				s.AccSelected = v
				out[k][seed] = s
			}
		}
	}
	return out
}

func encoderName(k cellKey) string {
	switch k.method {
	case job.MethodDoGo:
		return "DoGo " + k.arch + " (" + as(k.role, k.arch, k.peer) + ")"
	case job.MethodPixels:
		return "raw pixels"
	case job.MethodRandom:
		return "random-init " + k.arch
	}
	return k.method + " " + k.arch
}

func oodTable(w io.Writer, cells map[cellKey]map[int64]results.SummaryRow) {
	names := oodSets(cells)
	if len(names) == 0 {
		fmt.Fprintln(w, "No OOD set in this grid, or no finished linear probe.")
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "| encoder | clean | %s | seeds |\n|---|---|%s---|\n", strings.Join(names, " | "), strings.Repeat("---|", len(names)))
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
		ood := make([][]float64, len(names))
		for _, seed := range seeds(c) {
			s := c[seed]
			clean = append(clean, s.AccSelected)
			for i, n := range names {
				if v, ok := s.OOD[n]; ok {
					ood[i] = append(ood[i], v)
				}
			}
		}
		row := fmt.Sprintf("| %s, %s | %s |", k.dataset, encoderName(k), meanStd(MeanStd(clean)))
		for i := range names {
			row += " " + meanStd(MeanStd(ood[i])) + " |"
		}
		fmt.Fprintln(w, row+fmt.Sprintf(" %d |", len(c)))
	}
	fmt.Fprintln(w)
}

func costTable(w io.Writer, t *results.Tables) {
	type agg struct {
		secs, imgs float64
		n, m       int
	}
	byKind := map[string]*agg{}
	for _, j := range t.Jobs {
		k := j.Kind
		if j.Kind == string(job.KindPretrain) {
			k = "pretrain " + j.Method + " " + j.Arch
		}
		a := byKind[k]
		if a == nil {
			a = &agg{}
			byKind[k] = a
		}
		a.secs += j.DurationS
		a.n++
	}
	jobKind := map[string]string{}
	for _, j := range t.Jobs {
		if j.Kind == string(job.KindPretrain) {
			jobKind[j.Job] = "pretrain " + j.Method + " " + j.Arch
		}
	}
	for _, m := range t.Metrics {
		if m.Name == "images_per_second" {
			if a := byKind[jobKind[m.Job]]; a != nil {
				a.imgs += m.Value
				a.m++
			}
		}
	}
	var keys []string
	for k := range byKind {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "| jobs | attempts | CPU-core or GPU hours | mean images/s |\n|---|---|---|---|")
	for _, k := range keys {
		a := byKind[k]
		ips := "-"
		if a.m > 0 {
			ips = fmt.Sprintf("%.0f", a.imgs/float64(a.m))
		}
		fmt.Fprintf(w, "| %s | %d | %.3f | %s |\n", k, a.n, a.secs/3600, ips)
	}
	fmt.Fprintln(w)
}

// latest returns each job's last attempt.
func latest(rows []results.JobRow) map[string]results.JobRow {
	out := map[string]results.JobRow{}
	for _, j := range rows {
		if o, ok := out[j.Job]; !ok || j.Attempt > o.Attempt {
			out[j.Job] = j
		}
	}
	return out
}

func failures(w io.Writer, p *job.Plan, t *results.Tables) {
	last := latest(t.Jobs)
	var failed, missing []string
	for _, j := range p.Jobs {
		r, ok := last[j.ID]
		switch {
		case !ok:
			missing = append(missing, j.Name)
		case r.Status != string(job.StateDone):
			failed = append(failed, fmt.Sprintf("%s (attempt %d): %s", j.Name, r.Attempt, firstLine(r.Error)))
		}
	}
	retried := 0
	for _, j := range t.Jobs {
		if j.Attempt > 1 {
			retried++
		}
	}
	if len(failed) == 0 && len(missing) == 0 {
		fmt.Fprintf(w, "None: every job finished (%d retried attempts).\n\n", retried)
		return
	}
	for _, f := range failed {
		fmt.Fprintln(w, "- failed: "+f)
	}
	if len(missing) > 0 {
		fmt.Fprintf(w, "- not run (%d jobs): %s\n", len(missing), strings.Join(head(missing, 20), ", "))
	}
	fmt.Fprintln(w)
}

func head(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}

// firstLine returns the first line of an error message.
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
