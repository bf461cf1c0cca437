package reports

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
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
		for _, v := range comparison(io.Discard, cells, do[0], do[1], string(job.KindLinear), 0, "", 1, "") {
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
	fmt.Fprintln(w, "Differences are DoGo minus solo, paired by seed; the interval is a 95% t-interval over seeds; \"wins\" counts the seeds where DoGo is higher.")
	fmt.Fprintln(w)
	var verdicts []verdict
	for _, dobj := range datasetObjectives(sum) {
		fmt.Fprintf(w, "### %s, %s\n\n", dobj[0], dobj[1])
		verdicts = append(verdicts, comparison(w, cells, dobj[0], dobj[1], string(job.KindLinear), 0, "", 1, "accuracy")...)
		refs(w, cells, dobj[0], string(job.KindLinear), 0, "", 1)
		fmt.Fprintln(w, "\nkNN accuracy (same encoders):")
		fmt.Fprintln(w)
		verdicts = append(verdicts, comparison(w, cells, dobj[0], dobj[1], string(job.KindKNN), 0, "", 1, "kNN accuracy")...)
		refs(w, cells, dobj[0], string(job.KindKNN), 0, "", 1)
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "## Limited labels")
	fmt.Fprintln(w)
	for _, dobj := range datasetObjectives(sum) {
		for _, fr := range values(sum, func(s results.SummaryRow) (float64, bool) { return s.Fraction, s.Kind == job.KindFraction }) {
			fmt.Fprintf(w, "### %s, %s: %g%% of the labels\n\n", dobj[0], dobj[1], fr*100)
			verdicts = append(verdicts, comparison(w, cells, dobj[0], dobj[1], string(job.KindFraction), 0, "", fr, "accuracy")...)
			refs(w, cells, dobj[0], string(job.KindFraction), 0, "", fr)
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "## Noisy labels")
	fmt.Fprintln(w)
	for _, dobj := range datasetObjectives(sum) {
		for _, nk := range noiseSettings(sum) {
			fmt.Fprintf(w, "### %s, %s: %g%% %s label noise (best-val / final accuracy)\n\n", dobj[0], dobj[1], nk.rate*100, nk.kind)
			verdicts = append(verdicts, comparison(w, cells, dobj[0], dobj[1], string(job.KindNoise), nk.rate, nk.kind, nk.fraction, "accuracy")...)
			finalTable(w, cells, dobj[0], dobj[1], nk)
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
			verdicts = append(verdicts, comparison(w, oc, dobj[0], dobj[1], job.OODSplit(set), 0, "", 1, "accuracy")...)
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
	backends, hosts, devices := map[string]bool{}, map[string]bool{}, map[string]bool{}
	var first, last time.Time
	for _, j := range t.Jobs {
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
		fmt.Fprintf(w, "| pretraining | %d epochs, batch %d, Adam lr %g wd %g (%s), tau %g, KD tau %g, KD weight %g (%s), train subset %d |\n",
			pt.Epochs, pt.Batch, pt.LR, pt.WeightDecay, pt.Schedule, pt.Temperature, pt.KDTemperature, pt.KDWeight, pt.KDReduction, pt.TrainSubset)
		e := g.Eval
		fmt.Fprintf(w, "| probes | %d epochs, batch %d, Adam lr %g wd %g, val fraction %g, standardized features: %v, train subset %d; kNN k=%d T=%g |\n",
			e.Epochs, e.Batch, e.LR, e.WeightDecay, e.ValFraction, e.Standardize, e.TrainSubset, e.KNNK, e.KNNTemperature)
	}
	fmt.Fprintf(w, "| jobs | %d (%d pretraining, %d feature extraction, %d evaluation) |\n", len(p.Jobs), p.Stats.Pretrain, p.Stats.Features, p.Stats.Eval)
	dev := joinKeys(devices)
	if dev == "-" {
		dev = "CPU"
	}
	fmt.Fprintf(w, "| backend | %s |\n| devices | %s |\n| hosts | %s |\n", joinKeys(backends), dev, joinKeys(hosts))
	if !first.IsZero() {
		fmt.Fprintf(w, "| wall time | %s (%s to %s UTC) |\n", last.Sub(first).Round(time.Second), first.UTC().Format("2006-01-02 15:04"), last.UTC().Format("15:04"))
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
	wins, n                                       int
}

func (v verdict) outcome() string {
	switch {
	case math.IsNaN(v.half):
		if v.diff > 0 {
			return "higher (one seed)"
		}
		return "not higher (one seed)"
	case v.diff-v.half > 0:
		return "wins"
	case v.diff+v.half < 0:
		return "loses"
	}
	return "ties"
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
func comparison(w io.Writer, cells map[cellKey]map[int64]results.SummaryRow, dataset, objective, kind string, noise float64, noiseKind string, fraction float64, what string) []verdict {
	fmt.Fprintln(w, "| architecture | solo | DoGo peer | as | DoGo - solo | 95% CI | wins | seeds |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	var verdicts []verdict
	var keys []cellKey
	for k := range cells {
		if k.dataset == dataset && k.kind == kind && k.method == job.MethodDoGo && k.noise == noise && k.noiseKind == noiseKind && k.fraction == fraction {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].arch+keys[i].role+keys[i].peer < keys[j].arch+keys[j].role+keys[j].peer
	})
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
		wins := 0
		for seed, d := range dogo {
			ds = append(ds, d.AccBest)
			if s, ok := solo[seed]; ok {
				diffs = append(diffs, d.AccBest-s.AccBest)
				if d.AccBest > s.AccBest {
					wins++
				}
			}
		}
		for _, s := range solo {
			ss = append(ss, s.AccBest)
		}
		dm, dsd := MeanStd(ds)
		sm, ssd := MeanStd(ss)
		diff, half := PairedCI(diffs)
		ci := "-"
		if !math.IsNaN(half) {
			ci = fmt.Sprintf("[%+.2f, %+.2f]", 100*(diff-half), 100*(diff+half))
		}
		fmt.Fprintf(w, "| %s | %s ± %s | %s ± %s | %s | %+.2f | %s | %d/%d | %d |\n", k.arch, pct(sm), pct(ssd), pct(dm), pct(dsd), as(k.role, k.arch, k.peer), 100*diff, ci, wins, len(diffs), len(diffs))
		if len(diffs) > 0 {
			verdicts = append(verdicts, verdict{dataset: dataset, objective: objective, setting: describe(kind, noise, noiseKind, fraction),
				arch: k.arch, role: k.role, peer: k.peer, diff: diff, half: half, wins: wins, n: len(diffs)})
		}
	}
	if len(keys) == 0 {
		fmt.Fprintln(w, "| (no finished DoGo evaluation) | | | | | | | |")
	}
	_ = what
	return verdicts
}

// summary writes the plain-language answer: how often DoGo wins, ties and
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
		"DoGo wins %d (95%% interval above zero), ties %d and loses %d", len(vs), count["wins"], count["ties"], count["loses"])
	if n := count["higher (one seed)"] + count["not higher (one seed)"]; n > 0 {
		fmt.Fprintf(w, "; %d have a single seed and no interval (%d higher)", n, count["higher (one seed)"])
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
			lines = append(lines, fmt.Sprintf("- %s, %s, %s: %s with %s %s, %+.2f points (%s; higher on %d/%d seeds).",
				v.dataset, v.objective, v.setting, v.arch, v.peer, v.outcome(), 100*v.diff, ci, v.wins, v.n))
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
		for _, s := range c {
			xs = append(xs, s.AccBest)
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

func finalTable(w io.Writer, cells map[cellKey]map[int64]results.SummaryRow, dataset, objective string, n noiseSetting) {
	var rows []string
	for k, c := range cells {
		if k.dataset != dataset || k.kind != string(job.KindNoise) || k.noise != n.rate || k.noiseKind != n.kind || k.fraction != n.fraction {
			continue
		}
		var b, f []float64
		for _, s := range c {
			b, f = append(b, s.AccBest), append(f, s.AccFinal)
		}
		bm, _ := MeanStd(b)
		fm, fs := MeanStd(f)
		rows = append(rows, fmt.Sprintf("| %s | %s | %s ± %s | %d |", encoderName(k), pct(bm), pct(fm), pct(fs), len(c)))
	}
	sort.Strings(rows)
	fmt.Fprintln(w, "\n| encoder | best-val | final | seeds |\n|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintln(w, r)
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
				s.AccBest = v
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
	var rows []string
	for k, c := range cells {
		if k.kind != string(job.KindLinear) {
			continue
		}
		var clean []float64
		ood := make([][]float64, len(names))
		for _, s := range c {
			clean = append(clean, s.AccBest)
			for i, n := range names {
				if v, ok := s.OOD[n]; ok {
					ood[i] = append(ood[i], v)
				}
			}
		}
		cm, cs := MeanStd(clean)
		row := fmt.Sprintf("| %s, %s | %s ± %s |", k.dataset, encoderName(k), pct(cm), pct(cs))
		for i := range names {
			m, s := MeanStd(ood[i])
			row += fmt.Sprintf(" %s ± %s |", pct(m), pct(s))
		}
		rows = append(rows, row+fmt.Sprintf(" %d |", len(c)))
	}
	sort.Strings(rows)
	for _, r := range rows {
		fmt.Fprintln(w, r)
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
