package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"github.com/dogo-sweep/dogo-sweep/verdict"
	"io"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
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
	// Span is the sweep's wall time: the first start and the last end of
	// the jobs it ran itself (workspace.Run.Span); zero when unknown.
	Span [2]time.Time
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

// Publish writes a run's results: its Parquet tables into resultsDir, then
// its report and plots into dir.
func Publish(dir, resultsDir string, p *job.Plan, t *results.Tables, opt Options) error {
	if err := results.Write(resultsDir, t); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := Write(dir, p, t, opt); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
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
		for _, v := range comparisons(cells, do[0], do[1], Setting{Kind: string(job.KindLinear), Fraction: 1}, verdict.Rule{Alpha: 0.05, Margin: 0.005}) {
			if v.Seeds == 0 || v.Role != job.RoleSmall || v.Arch == v.Peer {
				continue
			}
			ci := "no interval"
			if !math.IsNaN(v.Half) {
				ci = fmt.Sprintf("[%+.2f, %+.2f]", 100*(v.Diff-v.Half), 100*(v.Diff+v.Half))
			}
			return fmt.Sprintf("%s with %s %+.2f %s, %d seeds", v.Arch, v.Peer, 100*v.Diff, ci, v.Seeds)
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
	return RenderReport(w, Analyze(p, t, opt), opt)
}

// RenderReport writes an analysed report as markdown.
func RenderReport(w io.Writer, r *Report, opt Options) error {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	fmt.Fprintf(w, "# Sweep report: %s\n\n", r.Name)
	fmt.Fprintf(w, "Generated %s by sweep %s from the run's Parquet results.\n\n", now().UTC().Format("2006-01-02 15:04 MST"), job.Version)
	writeEnv(w, r.Env)
	if r.Finished < r.Planned {
		fmt.Fprintf(w, "**Partial run:** %d of %d jobs finished; the tables below hold only finished evaluations.\n\n", r.Finished, r.Planned)
	}

	fmt.Fprintln(w, "## Headline: solo vs DoGo peer (linear probe, all labels, test accuracy at the best-validation epoch)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, legendText(r.Rule))
	fmt.Fprintln(w)
	for i, b := range r.Headline {
		if i%2 == 0 { // linear, then kNN
			fmt.Fprintf(w, "### %s, %s\n\n", b.Dataset, b.Objective)
		} else {
			fmt.Fprintln(w, "\nkNN accuracy (same encoders):")
			fmt.Fprintln(w)
		}
		comparisonTable(w, b.Comparisons)
		referencesLine(w, b.References)
		if i%2 == 1 {
			fmt.Fprintln(w)
		}
	}

	fmt.Fprintln(w, "## Limited labels")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Epoch selection: a probe reports its test accuracy at the best-validation epoch when its validation split holds at least %d images per class, "+
		"and at its final epoch otherwise (1%% of 10,000 labels leaves about 15 validation images: too few to choose an epoch by). "+
		"The DoGo-vs-solo tables use that accuracy; the table under each shows both.\n\n", probe.MinValPerClass)
	for _, b := range r.Limited {
		fmt.Fprintf(w, "### %s, %s: %g%% of the labels\n\n", b.Dataset, b.Objective, b.Setting.Fraction*100)
		comparisonTable(w, b.Comparisons)
		referencesLine(w, b.References)
		bestFinalTable(w, b.BestFinal)
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "## Noisy labels")
	fmt.Fprintln(w)
	for _, b := range r.Noisy {
		fmt.Fprintf(w, "### %s, %s: %g%% %s label noise\n\n", b.Dataset, b.Objective, b.Setting.Noise*100, b.Setting.NoiseKind)
		comparisonTable(w, b.Comparisons)
		bestFinalTable(w, b.BestFinal)
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "## Out-of-distribution (linear probe trained on clean data, tested on shifted test sets)")
	fmt.Fprintln(w)
	oodTableMarkdown(w, r.OOD)
	for _, b := range r.OODBlock {
		set, _ := job.OODSet(b.Setting.Kind)
		fmt.Fprintf(w, "### %s, %s: %s\n\n", b.Dataset, b.Objective, set)
		comparisonTable(w, b.Comparisons)
		fmt.Fprintln(w)
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
	costTable(w, r.Costs)
	fmt.Fprintln(w, "## Failures and missing points")
	fmt.Fprintln(w)
	failuresList(w, r)
	if len(r.Cells) > 0 {
		sequentialSection(w, r)
	}
	fmt.Fprintln(w, "## Summary")
	fmt.Fprintln(w)
	summary(w, r.Verdicts, r.Rule)
	return nil
}

func writeEnv(w io.Writer, e Env) {
	g := e.Settings
	fmt.Fprintln(w, "| setting | value |\n|---|---|")
	if g != nil {
		seeds := seedList(g.Seeds)
		if d := g.Decide; d.Max > 0 {
			seeds = fmt.Sprintf("sequential: %d to %d per cell, decided on %s with a margin of %g points (planned: %s)", d.Min, d.Max, strings.Join(d.On, ", "), d.MarginOr(), seeds)
		}
		fmt.Fprintf(w, "| datasets | %s |\n| objectives | %s |\n| pairs | %s |\n| seeds | %s |\n", strings.Join(g.Datasets, ", "), strings.Join(g.Objectives, ", "), strings.Join(g.Pairs, ", "), seeds)
		pt := g.Pretrain
		views := "the method's views"
		if v := pt.Views.String(); v != "" {
			views = "views: " + v + ", the method's otherwise"
		}
		fmt.Fprintf(w, "| pretraining | %d epochs, batch %d, Adam lr %g wd %g (%s), tau %g, KD tau %g, KD weight %g (%s), train subset %d, %s |\n",
			pt.Epochs, pt.Batch, pt.LR, pt.WeightDecay, pt.Schedule, pt.Temperature, pt.KDTemperature, pt.KDWeight, pt.KDReduction, pt.TrainSubset, views)
		ev := g.Eval
		fmt.Fprintf(w, "| probes | %d epochs, batch %d, Adam lr %g wd %g, val fraction %g, standardized features: %v, train subset %d; kNN k=%d T=%g |\n",
			ev.Epochs, ev.Batch, ev.LR, ev.WeightDecay, ev.ValFraction, ev.Standardize, ev.TrainSubset, ev.KNNK, ev.KNNTemperature)
	}
	fmt.Fprintf(w, "| jobs | %d (%d pretraining, %d feature extraction, %d evaluation) |\n", e.Jobs, e.Pretrain, e.Features, e.Eval)
	dev := joinList(e.Devices)
	if dev == "-" {
		dev = "CPU"
	}
	fmt.Fprintf(w, "| data read from | %s |\n| backend | %s |\n| devices | %s |\n| hosts | %s |\n", joinList(e.DataDirs), joinList(e.Backends), dev, joinList(e.Hosts))
	var bs []string
	for _, b := range e.Builds {
		bs = append(bs, fmt.Sprintf("%s (%d jobs)", b.Value, b.N))
	}
	if len(bs) > 0 {
		fmt.Fprintf(w, "| builds | %s |\n", strings.Join(bs, "; "))
	}
	if e.Revisions != nil {
		fmt.Fprintf(w, "| code revisions | %s |\n", job.RevisionsText(e.Revisions))
	}
	if !e.First.IsZero() {
		fmt.Fprintf(w, "| wall time | %s (%s to %s UTC: the first start to the last end of the jobs this sweep ran, over all its launches; jobs reused from the store not counted) |\n",
			e.Last.Sub(e.First).Round(time.Second), e.First.UTC().Format("2006-01-02 15:04"), e.Last.UTC().Format("2006-01-02 15:04"))
	}
	fmt.Fprintln(w)
}

func joinList(k []string) string {
	if len(k) == 0 {
		return "-"
	}
	return strings.Join(k, ", ")
}

func joinKeys(m map[string]bool) string { return joinList(slices.Sorted(maps.Keys(m))) }

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

// legendText says what the comparison tables' columns and the verdicts mean.
func legendText(rule verdict.Rule) string {
	level := "its 95% t-interval over seeds"
	if rule.Max > rule.Min {
		level = fmt.Sprintf("its t-interval over seeds at the level of its last look (seeds were added while a comparison was undecided: "+
			"%.1f%% intervals before %d seeds, %.1f%% at %d, the Haybittle-Peto split of 5%% over the looks)",
			100*(1-rule.Level(rule.Min)), rule.Max, 100*(1-rule.Level(rule.Max)), rule.Max)
	}
	return "Accuracies in %, mean ± standard deviation over seeds. \"DoGo - solo\" is the mean difference in points, paired by seed, with " +
		level + ", unadjusted for the number of comparisons; \"DoGo higher\" counts the seeds on which DoGo's accuracy is above solo's. " +
		fmt.Sprintf("The verdict: **gain** (interval above zero), **loss** (below zero), **equivalent** (within ±%.2g points) or **undecided** (none of these). ", 100*rule.Margin) +
		"The summary corrects the gains and losses for the number of comparisons (Holm)."
}

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

// comparisonTable writes a setting's solo vs DoGo-peer table.
func comparisonTable(w io.Writer, cs []Comparison) {
	fmt.Fprintln(w, "| architecture | solo | DoGo peer | as | DoGo - solo | interval | verdict | DoGo higher | seeds |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, c := range cs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %+.2f | %s | %s | %d/%d | %d |\n", c.Arch, statText(c.Solo), statText(c.DoGo), as(c.Role, c.Arch, c.Peer), 100*c.Diff, intervalText(c), c.Outcome(), c.Higher, c.Seeds, c.Seeds)
	}
	if len(cs) == 0 {
		fmt.Fprintln(w, "| (no finished DoGo evaluation) | | | | | | | | |")
	}
}

// sequentialSection writes a sequential sweep's cells: the seeds each got
// and what is still undecided.
func sequentialSection(w io.Writer, r *Report) {
	s := r.Env.Settings.Decide
	decided := 0
	for _, c := range r.Cells {
		if c.Decided() {
			decided++
		}
	}
	fmt.Fprintln(w, "## Sequential seeds")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Each pair's pretraining on a data set with an objective (a cell) started with %d seeds and got one more, with its probes, "+
		"its solo twins and the references, while one of its comparisons on %s was undecided, up to %d. %d of %d cells are decided.\n\n",
		s.Min, strings.Join(s.On, ", "), s.Max, decided, len(r.Cells))
	fmt.Fprintln(w, "| cell | seeds | decided | undecided comparisons |\n|---|---|---|---|")
	for _, c := range r.Cells {
		var open []string
		for _, v := range c.Open {
			open = append(open, fmt.Sprintf("%s %s (%s) %+.2f %s", v.Setting.Describe(), v.Arch, v.Role, 100*v.Diff, intervalText(v.Comparison)))
		}
		fmt.Fprintf(w, "| %s %s %s | %d | %s | %s |\n", c.Dataset, c.Objective, c.Pair, c.Seeds, map[bool]string{true: "yes", false: "no"}[c.Decided()], strings.Join(open, "; "))
	}
	fmt.Fprintln(w)
}

// intervalText is a comparison's interval in points ("-" with one seed).
func intervalText(c Comparison) string {
	if math.IsNaN(c.Half) {
		return "-"
	}
	return fmt.Sprintf("[%+.2f, %+.2f]", 100*(c.Diff-c.Half), 100*(c.Diff+c.Half))
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

// statText formats a mean ± standard deviation in percent.
func statText(s Stat) string { return pct(s.Mean) + " ± " + pct(s.Std) }

// summary writes the plain-language answer: how many comparisons came out
// each way, which gains and losses hold after Holm's correction for their
// number, then the small peers' results, which are the method's headline,
// then every other gain and loss.
func summary(w io.Writer, vs []Verdict, rule verdict.Rule) {
	if len(vs) == 0 {
		fmt.Fprintln(w, "No DoGo/solo comparison has finished yet.")
		return
	}
	count := Counts(vs)
	fmt.Fprintf(w, "Over %d comparisons of an architecture trained as a DoGo peer against the same architecture trained solo, "+
		"DoGo shows %s, %s, %s equivalent (within ±%.2g points) and %s.",
		len(vs), plural(count[Gain], "gain", "gains"), plural(count[Loss], "loss", "losses"), plural(count[Equivalent], "comparison", "comparisons"),
		100*rule.Margin, plural(count[Undecided], "undecided", "undecided"))
	ps := make([]float64, len(vs))
	for i, v := range vs {
		ps[i] = v.Decision.P
	}
	holds := verdict.Holm(ps, rule.Alpha)
	held := map[string]int{}
	for i, v := range vs {
		if holds[i] && (v.Outcome() == Gain || v.Outcome() == Loss) {
			held[v.Outcome()]++
		}
	}
	fmt.Fprintf(w, " Corrected for the %d comparisons (Holm's method, family-wise error 5%%), %d of the gains and %d of the losses hold; "+
		"the intervals in the tables are each comparison's own, unadjusted.\n\n", len(vs), held[Gain], held[Loss])
	listed := make([]bool, len(vs))
	section := func(title string, in func(Verdict) bool) {
		var lines []string
		for i, v := range vs {
			if listed[i] || !in(v) {
				continue
			}
			listed[i] = true
			l := verdictLine(v)
			if v.Outcome() == Gain || v.Outcome() == Loss {
				l = strings.TrimSuffix(l, ".") + map[bool]string{true: "; holds after Holm.", false: "; not after Holm."}[holds[i]]
			}
			lines = append(lines, l)
		}
		if len(lines) == 0 {
			return
		}
		fmt.Fprintln(w, title)
		fmt.Fprintln(w)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w)
	}
	section("The small peer with a larger peer (the pair DoGo should help):", func(v Verdict) bool {
		return v.Role == job.RoleSmall && v.Arch != v.Peer
	})
	section("The small architecture paired with a copy of itself (control: mutual regularization without a larger peer):", func(v Verdict) bool {
		return v.Role == job.RoleSmall && v.Arch == v.Peer
	})
	section("The other gains and losses counted above:", func(v Verdict) bool {
		return v.Outcome() == Gain || v.Outcome() == Loss
	})
}

// verdictLine is one comparison as a sentence.
func verdictLine(v Verdict) string {
	ci := "no interval"
	if !math.IsNaN(v.Half) {
		ci = fmt.Sprintf("interval [%+.2f, %+.2f]", 100*(v.Diff-v.Half), 100*(v.Diff+v.Half))
	}
	who := v.Arch + " with " + v.Peer
	if v.Arch == v.Peer {
		who = fmt.Sprintf("%s with %s (copy %s)", v.Arch, v.Peer, map[string]string{job.RoleSmall: "1", job.RoleLarge: "2"}[v.Role])
	} else if v.Role == job.RoleLarge {
		who = fmt.Sprintf("%s (large peer) with %s", v.Arch, v.Peer)
	}
	return fmt.Sprintf("- %s, %s, %s: %s: %s, %+.2f points (%s; DoGo higher on %d of %d seeds).",
		v.Dataset, v.Objective, v.Setting.Describe(), who, v.Outcome(), 100*v.Diff, ci, v.Higher, v.Seeds)
}

// seedList writes seeds as a grid file would: [1, 2, 3].
func seedList(seeds []int) string {
	parts := make([]string, len(seeds))
	for i, s := range seeds {
		parts[i] = strconv.Itoa(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
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

// referencesLine writes the reference encoders' numbers of a setting.
func referencesLine(w io.Writer, refs []Reference) {
	var lines []string
	for _, r := range refs {
		switch {
		case r.Acc.Std == 0 && r.Seeds > 1:
			// A deterministic reference (raw pixels): one number, no spread.
			lines = append(lines, fmt.Sprintf("%s %s (the same on each of %d seeds)", r.Name, pct(r.Acc.Mean), r.Seeds))
		default:
			lines = append(lines, fmt.Sprintf("%s %s ± %s (%d seeds)", r.Name, pct(r.Acc.Mean), pct(r.Acc.Std), r.Seeds))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nReferences: %s.\n", strings.Join(lines, "; "))
	}
}

// bestFinalTable writes each encoder's test accuracy at its best-validation
// epoch and at its final epoch.
func bestFinalTable(w io.Writer, rows []BestFinal) {
	fmt.Fprintln(w, "\n| encoder | best-val epoch | final epoch | seeds |\n|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %d |\n", r.Encoder, statText(r.Best), statText(r.Final), r.Seeds)
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

func oodTableMarkdown(w io.Writer, t OODTable) {
	if len(t.Sets) == 0 {
		fmt.Fprintln(w, "No OOD set in this grid, or no finished linear probe.")
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "| encoder | clean | %s | seeds |\n|---|---|%s---|\n", strings.Join(t.Sets, " | "), strings.Repeat("---|", len(t.Sets)))
	for _, r := range t.Rows {
		row := fmt.Sprintf("| %s, %s | %s |", r.Dataset, r.Encoder, statText(r.Clean))
		for _, o := range r.OOD {
			row += " " + statText(o) + " |"
		}
		fmt.Fprintln(w, row+fmt.Sprintf(" %d |", r.Seeds))
	}
	fmt.Fprintln(w)
}

func costTable(w io.Writer, cs []Cost) {
	fmt.Fprintln(w, "| jobs | attempts | CPU-core or GPU hours | mean images/s |\n|---|---|---|---|")
	for _, c := range cs {
		ips := "-"
		if !math.IsNaN(c.ImagesPerSec) {
			ips = fmt.Sprintf("%.0f", c.ImagesPerSec)
		}
		fmt.Fprintf(w, "| %s | %d | %.3f | %s |\n", c.Jobs, c.Attempts, c.Hours, ips)
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

func failuresList(w io.Writer, r *Report) {
	if len(r.Failed) == 0 && len(r.Missing) == 0 {
		fmt.Fprintf(w, "None: every job finished (%d retried attempts).\n\n", r.Retried)
		return
	}
	for _, f := range r.Failed {
		fmt.Fprintln(w, "- failed: "+f)
	}
	if len(r.Missing) > 0 {
		fmt.Fprintf(w, "- not run (%d jobs): %s\n", len(r.Missing), strings.Join(head(r.Missing, 20), ", "))
	}
	fmt.Fprintln(w)
}

func head(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}
