package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/internal/atomicfile"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/results"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot is one figure written next to report.md.
type Plot struct {
	File  string // relative to the run folder, e.g. plots/fraction-fashion-mnist-simclr.png
	Title string
}

// curveKey names one line of a figure: an encoder kind.
type curveKey struct{ method, arch, role, peer string }

func (k curveKey) label() string {
	switch k.method {
	case job.MethodDoGo:
		return fmt.Sprintf("DoGo %s (%s)", k.arch, as(k.role, k.arch, k.peer))
	case job.MethodPixels:
		return "raw pixels"
	case job.MethodRandom:
		return "random-init " + k.arch
	}
	return "solo " + k.arch
}

// writePlots draws the protocol and training figures into runDir/plots.
func writePlots(runDir string, sum []results.SummaryRow, t *results.Tables) ([]Plot, error) {
	if err := os.MkdirAll(filepath.Join(runDir, "plots"), 0o755); err != nil {
		return nil, err
	}
	var out []Plot
	for _, do := range datasetObjectives(sum) {
		dataset, objective := do[0], do[1]
		// Accuracy vs label fraction (clean labels) and vs noise rate (all labels).
		for _, fig := range []struct {
			name, xlabel string
			x            func(results.SummaryRow) (float64, bool)
		}{
			{"fraction", "labels used (log scale)", func(s results.SummaryRow) (float64, bool) {
				return s.Fraction, (s.Kind == job.KindFraction || s.Kind == job.KindLinear) && s.NoiseRate == 0
			}},
			{"noise", "symmetric label noise", func(s results.SummaryRow) (float64, bool) {
				return s.NoiseRate, (s.Kind == job.KindNoise && s.NoiseKind == "symmetric" && s.Fraction == 1) || s.Kind == job.KindLinear
			}},
		} {
			pts := map[curveKey]map[float64][]float64{}
			for _, s := range sum {
				if s.Dataset != dataset || (s.Objective != "" && !objectiveMatches(objective, s)) {
					continue
				}
				x, ok := fig.x(s)
				if !ok {
					continue
				}
				k := curveKey{s.Method, s.Arch, s.Role, s.PeerArch}
				if pts[k] == nil {
					pts[k] = map[float64][]float64{}
				}
				pts[k][x] = append(pts[k][x], 100*s.AccSelected)
			}
			if !hasSpread(pts) {
				continue
			}
			file := fmt.Sprintf("plots/%s-%s-%s.png", fig.name, dataset, strings.ReplaceAll(objective, "+", "-"))
			title := fmt.Sprintf("%s, %s: test accuracy vs %s", dataset, objective, map[string]string{"fraction": "label fraction", "noise": "label noise"}[fig.name])
			// Accuracy rises with the label fraction and falls with noise:
			// the legend goes in the corner the lines leave empty.
			if err := lineFigure(filepath.Join(runDir, file), title, fig.xlabel, fig.name == "fraction", fig.name == "noise", pts); err != nil {
				return nil, err
			}
			out = append(out, Plot{File: file, Title: title})
		}
	}
	for _, c := range []struct{ metric, file, title, ylabel string }{
		{"ssl_loss", "plots/training-ssl-loss.png", "Pretraining: SSL loss per epoch (mean over seeds)", "NT-Xent loss"},
		{job.MetricKNN, "plots/training-knn.png", "Pretraining: kNN monitor accuracy per epoch (epoch 0: the random start)", "kNN accuracy (%), 2,000 train / 1,000 test images"},
	} {
		if p, err := trainingFigure(runDir, t, c.metric, c.file, c.title, c.ylabel); err != nil {
			return nil, err
		} else if p != nil {
			out = append(out, *p)
		}
	}
	return out, nil
}

func objectiveMatches(objective string, s results.SummaryRow) bool {
	a, b := job.SplitObjective(objective)
	return s.Objective == a || s.Objective == b || s.Method == job.MethodRandom || s.Method == job.MethodPixels
}

func hasSpread(pts map[curveKey]map[float64][]float64) bool {
	for _, byX := range pts {
		if len(byX) > 1 {
			return true
		}
	}
	return false
}

// palette has a distinct colour for each line of a figure (the quickstart's
// figures have up to 9: four DoGo peers, two solo, three references).
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, color.RGBA{0x17, 0xbe, 0xcf, 0xff}, color.RGBA{0xe3, 0x77, 0xc2, 0xff},
	color.RGBA{0xbc, 0xbd, 0x22, 0xff}, color.RGBA{0x00, 0x00, 0x00, 0xff}, color.RGBA{0x00, 0x3f, 0x7f, 0xff},
}

// lineColor is line i's colour: distinct for up to len(palette) lines.
func lineColor(i int) color.Color { return palette[i%len(palette)] }

// denseTicks labels about n round values of an axis (steps of 1, 2, 2.5 or
// 5 times a power of ten): enough to read a value off the plot, where
// gonum's default gives two or three labels to a narrow range.
type denseTicks struct{ n int }

func (d denseTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	raw := (hi - lo) / float64(max(d.n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw*(1-1e-9) {
			step = m * mag
			break
		}
	}
	prec := 0
	for ; prec < 8; prec++ {
		scaled := step * math.Pow(10, float64(prec))
		if math.Abs(scaled-math.Round(scaled)) < 1e-9 {
			break
		}
	}
	var ticks []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if v == 0 { // no "-0"
			v = 0
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
	}
	return ticks
}

// lineFigure draws one line per encoder kind: the mean over seeds with
// error bars of one standard deviation. The x ticks are the grid's values;
// each line is shifted a little sideways, so that error bars at one x stay
// apart; the axes leave a margin, so that nothing is drawn on the frame.
func lineFigure(path, title, xlabel string, logX, legendLeft bool, pts map[curveKey]map[float64][]float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "test accuracy (%)"
	var all []float64
	for _, byX := range pts {
		for x := range byX {
			all = append(all, x)
		}
	}
	p.X.Tick.Marker = plot.ConstantTicks(xTicks(all))
	if logX {
		p.X.Scale = plot.LogScale{}
	}
	keys := make([]curveKey, 0, len(pts))
	for k := range pts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].label() < keys[j].label() })
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, k := range keys {
		xs := make([]float64, 0, len(pts[k]))
		for x := range pts[k] {
			xs = append(xs, x)
		}
		sort.Float64s(xs)
		xy := make(plotter.XYs, len(xs))
		errs := make(plotter.YErrors, len(xs))
		for j, x := range xs {
			m, s := MeanStd(pts[k][x])
			if math.IsNaN(s) {
				s = 0
			}
			xy[j] = plotter.XY{X: dodge(x, i, len(keys), all, logX), Y: m}
			errs[j] = struct{ Low, High float64 }{s, s}
			lo, hi = math.Min(lo, m-s), math.Max(hi, m+s)
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		c := lineColor(i)
		line.Color, points.Color = c, c
		points.Shape = plotutil.Shape(i)
		if k.method != job.MethodDoGo {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		bars, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{xy, errs})
		if err != nil {
			return err
		}
		bars.Color = c
		p.Add(line, points, bars)
		p.Legend.Add(k.label(), line, points)
	}
	p.X.Min, p.X.Max = padRange(slices.Min(all), slices.Max(all), logX)
	p.Y.Min, p.Y.Max = padRange(lo, hi, false)
	p.Y.Tick.Marker = denseTicks{n: 6}
	p.Legend.Top = false
	p.Legend.Left = legendLeft
	p.Add(plotter.NewGrid())
	return savePNG(p, path)
}

// xTicks marks the x values the data sit at (the grid's values), in percent.
func xTicks(xs []float64) []plot.Tick {
	seen := map[float64]bool{}
	var ticks []plot.Tick
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			ticks = append(ticks, plot.Tick{Value: x, Label: fmt.Sprintf("%g%%", 100*x)})
		}
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i].Value < ticks[j].Value })
	return ticks
}

// dodge shifts line i of n sideways by up to 1.5% of the x range (a factor
// on a log scale), centred on the true x.
func dodge(x float64, i, n int, all []float64, logX bool) float64 {
	if n < 2 {
		return x
	}
	step := (float64(i) - float64(n-1)/2) / float64(n-1) * 0.03
	lo, hi := slices.Min(all), slices.Max(all)
	if logX {
		return x * math.Pow(hi/lo, step)
	}
	return x + step*(hi-lo)
}

// padRange widens [lo, hi] by 8% on each side (on a log scale, by a factor).
func padRange(lo, hi float64, logScale bool) (float64, float64) {
	if logScale {
		f := math.Pow(hi/lo, 0.08)
		if hi == lo {
			f = 1.5
		}
		return lo / f, hi * f
	}
	pad := 0.08 * (hi - lo)
	if pad == 0 {
		pad = math.Max(math.Abs(hi)*0.05, 1)
	}
	return lo - pad, hi + pad
}

// trainingCurves gathers a per-epoch training metric of every finished
// pretraining job, by curve label (the peer's architecture and role) and
// epoch, one value per seed (kNN accuracies in percent). A job resumed from
// a checkpoint reports the epochs after it in its new attempt: each epoch's
// value is the last attempt's that reported it (up to the one that
// finished), so that a resumed job's curve has every epoch once.
func trainingCurves(t *results.Tables, metric string) map[string]map[float64][]float64 {
	jobs := map[string]results.JobRow{}
	for _, j := range t.Jobs {
		if j.Kind == string(job.KindPretrain) && j.Status == string(job.StateDone) {
			jobs[j.Job] = j
		}
	}
	type point struct {
		job         string
		peer, epoch int64
	}
	latest := map[point]results.MetricRow{}
	for _, m := range t.Metrics {
		j, ok := jobs[m.Job]
		if !ok || m.Name != metric || m.Attempt > j.Attempt {
			continue
		}
		p := point{m.Job, m.Peer, m.Epoch}
		if o, seen := latest[p]; !seen || m.Attempt > o.Attempt {
			latest[p] = m
		}
	}
	out := map[string]map[float64][]float64{}
	for _, p := range slices.SortedFunc(maps.Keys(latest), func(a, b point) int {
		return cmp.Or(strings.Compare(a.job, b.job), cmp.Compare(a.peer, b.peer), cmp.Compare(a.epoch, b.epoch))
	}) {
		m := latest[p]
		j := jobs[m.Job]
		archs := strings.Split(j.Arch, "+")
		label := "solo " + archs[0]
		if j.Method == job.MethodDoGo && int(m.Peer) < len(archs) {
			role := []string{job.RoleSmall, job.RoleLarge}[m.Peer]
			label = fmt.Sprintf("DoGo %s (%s)", archs[m.Peer], as(role, archs[m.Peer], archs[1-m.Peer]))
		}
		v := m.Value
		if metric == job.MetricKNN {
			v *= 100
		}
		if out[label] == nil {
			out[label] = map[float64][]float64{}
		}
		out[label][float64(m.Epoch)] = append(out[label][float64(m.Epoch)], v)
	}
	return out
}

// trainingFigure draws a per-epoch training metric (mean over seeds) of every
// pretrained peer.
func trainingFigure(runDir string, t *results.Tables, metric, file, title, ylabel string) (*Plot, error) {
	curves := trainingCurves(t, metric)
	if len(curves) == 0 {
		return nil, nil
	}
	pts := map[curveKey]map[float64][]float64{}
	labels := map[string]bool{}
	for label, byEpoch := range curves {
		pts[curveKey{method: "curve", arch: label}] = byEpoch
		labels[label] = true
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = ylabel
	p.Legend.Top = metric == "ssl_loss" // losses fall, accuracies rise: the empty corner
	names := make([]string, 0, len(labels))
	for l := range labels {
		names = append(names, l)
	}
	sort.Strings(names)
	var epochs []float64
	for _, byX := range pts {
		for x := range byX {
			epochs = append(epochs, x)
		}
	}
	for i, name := range names {
		byX := pts[curveKey{method: "curve", arch: name}]
		xs := make([]float64, 0, len(byX))
		for x := range byX {
			xs = append(xs, x)
		}
		sort.Float64s(xs)
		xy := make(plotter.XYs, len(xs))
		for j, x := range xs {
			m, _ := MeanStd(byX[x])
			// Peers' curves can coincide (a DoGo pair's two copies): each
			// line is shifted a little sideways and has its own marker.
			xy[j] = plotter.XY{X: dodge(x, i, len(names), epochs, false), Y: m}
		}
		line, points, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = lineColor(i), lineColor(i)
		points.Shape = plotutil.Shape(i)
		if strings.HasPrefix(name, "solo") {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(line, points)
		p.Legend.Add(name, line, points)
	}
	p.X.Tick.Marker = plot.ConstantTicks(epochTicks(epochs))
	p.Y.Tick.Marker = denseTicks{n: 6}
	p.Add(plotter.NewGrid())
	if err := savePNG(p, filepath.Join(runDir, file)); err != nil {
		return nil, err
	}
	return &Plot{File: file, Title: p.Title.Text}, nil
}

// epochTicks marks the epochs (every one up to 12, else about 10 of them),
// so that the dodged points read as one epoch.
func epochTicks(epochs []float64) []plot.Tick {
	if len(epochs) == 0 {
		return nil
	}
	last := slices.Max(epochs)
	every := math.Max(1, math.Ceil(last/10))
	if last <= 12 {
		every = 1
	}
	var ticks []plot.Tick
	for e := math.Max(1, slices.Min(epochs)); e <= last; e += every {
		ticks = append(ticks, plot.Tick{Value: e, Label: strconv.FormatFloat(e, 'f', -1, 64)})
	}
	return ticks
}

// savePNG renders a plot and replaces path with it atomically.
func savePNG(p *plot.Plot, path string) error {
	w, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		return err
	}
	return atomicfile.Write(path, b.Bytes())
}
