package probe

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/dogo-sweep/dogo-sweep/internal/matmul"
)

// LinearConfig configures a linear probe.
type LinearConfig struct {
	Epochs      int
	Batch       int
	LR          float64
	WeightDecay float64
	// ValFraction of the (possibly noisy, possibly subsetted) training labels
	// is held out to pick the best epoch.
	ValFraction float64
	Standardize bool
	Seed        uint64
	// Curves also records the test accuracy of every epoch (costs a test
	// pass per epoch; without it the test set is seen twice: at the
	// best-validation epoch's weights and at the final weights).
	Curves bool
	// Kernels multiply (matmul.Measure's choice; the zero value: gonum's).
	Kernels matmul.Kernels
}

// LinearResult is what a probe reports.
type LinearResult struct {
	BestEpoch int
	BestVal   float64
	// TestAtBest is the test accuracy at the best-validation epoch; Final at the last.
	TestAtBest, TestFinal float64
	// OOD accuracies at the best-validation epoch and at the last, by set.
	OODAtBest, OODFinal map[string]float64
	ValCurve            []float64
	// TestCurve is filled when LinearConfig.Curves is set.
	TestCurve []float64
	// ValImages is the size of the validation split.
	ValImages int
}

// MinValPerClass is the validation images per class below which a probe's
// best-validation epoch is noise rather than a choice: with 1% of 10,000
// labels the validation split holds about 15 images, and its best epoch was
// worse than the final one in 43 of 45 quickstart probes. Below it, the
// probe's reported (selected) accuracy is the final epoch's.
const MinValPerClass = 10

// Selected returns the accuracy a probe reports and the epoch it comes
// from: the best-validation epoch's when the validation split has at least
// MinValPerClass images per class, else the final epoch's.
func (r LinearResult) Selected(classes, epochs int) (acc float64, epoch int, byVal bool) {
	if r.ValImages >= MinValPerClass*classes {
		return r.TestAtBest, r.BestEpoch, true
	}
	return r.TestFinal, epochs, false
}

// matrix is a dense row-major float32 matrix.
type matrix struct {
	rows, cols int
	data       []float32
}

// rowSet is rows of x (dim d), standardized ((v - mean) * inv) as they are
// read, so that a set evaluated only a few times (validation, test, OOD) is
// never copied whole: fresh memory costs more than the arithmetic (on the
// VMs measured, first touches of a 20 MB copy took longer than
// standardizing it twice).
type rowSet struct {
	x         []float32
	d         int
	rows      []int // nil: every row of x, in order
	mean, inv []float32
}

func (s rowSet) len() int {
	if s.rows == nil {
		return len(s.x) / s.d
	}
	return len(s.rows)
}

// fill writes rows i0 to i0+n of the set, standardized, into dst.
func (s rowSet) fill(dst []float32, i0, n int) {
	for i := range n {
		r := i0 + i
		if s.rows != nil {
			r = s.rows[r]
		}
		out := dst[i*s.d : (i+1)*s.d]
		for j, v := range s.x[r*s.d : (r+1)*s.d] {
			out[j] = (v - s.mean[j]) * s.inv[j]
		}
	}
}

// gather copies the set into a matrix.
func (s rowSet) gather() matrix {
	m := matrix{rows: s.len(), cols: s.d, data: make([]float32, s.len()*s.d)}
	s.fill(m.data, 0, m.rows)
	return m
}

// Linear trains Linear(d, classes) with cross-entropy and Adam on the train
// rows (labels given per row), selects the epoch with the best validation
// accuracy, and reports test (and OOD) accuracy at that epoch and the last.
// Cancelling ctx stops it at the next minibatch, with ctx's error.
func Linear(ctx context.Context, f *Features, rows []int, labels []int32, cfg LinearConfig) (LinearResult, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x11ea))
	perm := rng.Perm(len(rows))
	nVal := int(math.Round(cfg.ValFraction * float64(len(rows))))
	if nVal < 1 && len(rows) > 1 {
		nVal = 1
	}
	var trRows, vaRows []int
	var trLab, vaLab []int32
	for i, p := range perm {
		if i < nVal {
			vaRows, vaLab = append(vaRows, rows[p]), append(vaLab, labels[p])
		} else {
			trRows, trLab = append(trRows, rows[p]), append(trLab, labels[p])
		}
	}
	d, k := f.Dim, f.Classes
	mean, std := make([]float32, d), make([]float32, d)
	for j := range std {
		std[j] = 1
	}
	if cfg.Standardize {
		mean, std = moments(f.Train, d, trRows)
	}
	inv := make([]float32, d)
	for j, s := range std {
		inv[j] = 1 / s
	}
	rowsOf := func(x []float32, rows []int) rowSet { return rowSet{x: x, d: d, rows: rows, mean: mean, inv: inv} }
	train := rowsOf(f.Train, trRows).gather()
	val := rowsOf(f.Train, vaRows)
	test := rowsOf(f.Test, nil)
	ood := map[string]rowSet{}
	for name, x := range f.OOD {
		ood[name] = rowsOf(x, nil)
	}

	m := newSoftmaxReg(k, d, cfg)
	res := LinearResult{ValImages: val.len()}
	res.BestVal = -1
	var best []float32
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		order := rng.Perm(train.rows)
		for s := 0; s < len(order); s += cfg.Batch {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			m.step(train, trLab, order[s:min(s+cfg.Batch, len(order))])
		}
		va := m.accuracy(val, vaLab)
		res.ValCurve = append(res.ValCurve, va)
		if cfg.Curves {
			res.TestCurve = append(res.TestCurve, m.accuracy(test, f.TestLabels))
		}
		if va > res.BestVal {
			res.BestVal, res.BestEpoch = va, epoch
			best = append(best[:0], m.params...)
		}
	}
	evalAll := func() (float64, map[string]float64) {
		o := map[string]float64{}
		for name, x := range ood {
			o[name] = m.accuracy(x, f.oodLabels(name))
		}
		return m.accuracy(test, f.TestLabels), o
	}
	res.TestFinal, res.OODFinal = evalAll()
	copy(m.params, best)
	res.TestAtBest, res.OODAtBest = evalAll()
	return res, nil
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func moments(x []float32, d int, rows []int) (mean, std []float32) {
	mean, std = make([]float32, d), make([]float32, d)
	sum, sq := make([]float64, d), make([]float64, d)
	for _, r := range rows {
		for j, v := range x[r*d : (r+1)*d] {
			sum[j] += float64(v)
			sq[j] += float64(v) * float64(v)
		}
	}
	n := float64(max(len(rows), 1))
	for j := range mean {
		mu := sum[j] / n
		mean[j] = float32(mu)
		std[j] = float32(math.Sqrt(math.Max(sq[j]/n-mu*mu, 0)) + 1e-6)
	}
	return mean, std
}

// softmaxReg is multinomial logistic regression trained with Adam. params
// holds the weights (k x d, row-major) followed by the k biases.
type softmaxReg struct {
	k, d   int
	mm     matmul.Kernels
	params []float32
	grad   []float32
	adam   *adam
	// scratch
	xb, logits matrix
	gt         []float32
	block      []float32 // a block of rows being evaluated
}

func newSoftmaxReg(k, d int, cfg LinearConfig) *softmaxReg {
	n := k*d + k
	return &softmaxReg{k: k, d: d, mm: cfg.Kernels, params: make([]float32, n), grad: make([]float32, n),
		adam: newAdam(n, cfg.LR, cfg.WeightDecay)}
}

// forward computes row-wise softmax probabilities of x (rows x d) into m.logits.
func (m *softmaxReg) forward(x matrix) matrix {
	if cap(m.logits.data) < x.rows*m.k {
		m.logits.data = make([]float32, x.rows*m.k)
	}
	out := matrix{rows: x.rows, cols: m.k, data: m.logits.data[:x.rows*m.k]}
	m.mm.ABt(out.data, x.data, m.params[:m.k*m.d], x.rows, m.k, m.d)
	bias := m.params[m.k*m.d:]
	for i := 0; i < x.rows; i++ {
		row := out.data[i*m.k : (i+1)*m.k]
		for c, b := range bias {
			row[c] += b
		}
		mx := float32(math.Inf(-1))
		for _, v := range row {
			mx = max(mx, v)
		}
		var sum float32
		for c, v := range row {
			e := float32(math.Exp(float64(v - mx)))
			row[c] = e
			sum += e
		}
		for c := range row {
			row[c] /= sum
		}
	}
	return out
}

// step does one Adam step on the mean cross-entropy of a minibatch.
func (m *softmaxReg) step(x matrix, labels []int32, batch []int) {
	b := len(batch)
	if cap(m.xb.data) < b*m.d {
		m.xb.data = make([]float32, b*m.d)
	}
	xb := matrix{rows: b, cols: m.d, data: m.xb.data[:b*m.d]}
	for i, r := range batch {
		copy(xb.data[i*m.d:(i+1)*m.d], x.data[r*m.d:(r+1)*m.d])
	}
	p := m.forward(xb)
	inv := 1 / float32(b)
	gb := m.grad[m.k*m.d:]
	clear(gb)
	if cap(m.gt) < b*m.k {
		m.gt = make([]float32, b*m.k)
	}
	gt := m.gt[:b*m.k] // the logits' gradient, transposed: k x b
	for i, r := range batch {
		row := p.data[i*m.k : (i+1)*m.k]
		row[labels[r]] -= 1
		for c := range row {
			g := row[c] * inv
			gb[c] += g
			gt[c*b+i] = g
		}
	}
	// gradW (k x d) = G^T (k x b) * Xb (b x d)
	m.mm.AB(m.grad[:m.k*m.d], gt, xb.data, m.k, m.d, b)
	m.adam.apply(m.params, m.grad)
}

// accuracy evaluates the set a block of rows at a time.
func (m *softmaxReg) accuracy(x rowSet, labels []int32) float64 {
	n := x.len()
	if n == 0 {
		return 0
	}
	const block = 1024
	if cap(m.block) < min(block, n)*x.d {
		m.block = make([]float32, min(block, n)*x.d)
	}
	ok := 0
	for s := 0; s < n; s += block {
		rows := min(block, n-s)
		x.fill(m.block, s, rows)
		p := m.forward(matrix{rows: rows, cols: x.d, data: m.block[:rows*x.d]})
		for i := 0; i < rows; i++ {
			row := p.data[i*m.k : (i+1)*m.k]
			best := 0
			for c := range row {
				if row[c] > row[best] {
					best = c
				}
			}
			if int32(best) == labels[s+i] {
				ok++
			}
		}
	}
	return float64(ok) / float64(n)
}

// adam is Adam with L2 weight decay added to the gradient (PyTorch's Adam).
type adam struct {
	lr, wd, b1, b2, eps float64
	t                   int
	m, v                []float64
}

func newAdam(n int, lr, wd float64) *adam {
	return &adam{lr: lr, wd: wd, b1: 0.9, b2: 0.999, eps: 1e-8, m: make([]float64, n), v: make([]float64, n)}
}

func (a *adam) apply(params, grad []float32) {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	for j := range params {
		g := float64(grad[j]) + a.wd*float64(params[j])
		a.m[j] = a.b1*a.m[j] + (1-a.b1)*g
		a.v[j] = a.b2*a.v[j] + (1-a.b2)*g*g
		params[j] -= float32(a.lr * (a.m[j] / c1) / (math.Sqrt(a.v[j]/c2) + a.eps))
	}
}
