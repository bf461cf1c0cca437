package probe

import (
	"math"
	"math/rand/v2"
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
}

// LinearResult is what a probe reports.
type LinearResult struct {
	BestEpoch int
	BestVal   float64
	// TestAtBest is the test accuracy at the best-validation epoch; Final at the last.
	TestAtBest, TestFinal float64
	// OOD accuracies at the best-validation epoch and at the last, by set.
	OODAtBest, OODFinal map[string]float64
	ValCurve, TestCurve []float64
}

// dataset is a view of rows of a feature matrix.
type dataset struct {
	x      []float32
	dim    int
	rows   []int
	labels []int32
}

// Linear trains Linear(d, classes) with cross-entropy and Adam on the train
// rows (labels given per row), selects the epoch with the best validation
// accuracy, and reports test (and OOD) accuracy at that epoch and the last.
func Linear(f *Features, rows []int, labels []int32, cfg LinearConfig) LinearResult {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x11ea))
	perm := rng.Perm(len(rows))
	nVal := int(math.Round(cfg.ValFraction * float64(len(rows))))
	if nVal < 1 && len(rows) > 1 {
		nVal = 1
	}
	train := dataset{x: f.Train, dim: f.Dim}
	val := dataset{x: f.Train, dim: f.Dim}
	for i, p := range perm {
		d := &train
		if i < nVal {
			d = &val
		}
		d.rows = append(d.rows, rows[p])
		d.labels = append(d.labels, labels[p])
	}
	test := dataset{x: f.Test, dim: f.Dim, rows: seq(len(f.TestLabels)), labels: f.TestLabels}

	mean, std := make([]float32, f.Dim), make([]float32, f.Dim)
	for j := range std {
		std[j] = 1
	}
	if cfg.Standardize {
		mean, std = moments(train)
	}
	k, d := f.Classes, f.Dim
	m := &softmaxReg{k: k, d: d, w: make([]float64, k*d), b: make([]float64, k), mean: mean, std: std}
	m.adam = newAdam(len(m.w)+len(m.b), cfg.LR, cfg.WeightDecay)
	var res LinearResult
	res.BestVal = -1
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		order := rng.Perm(len(train.rows))
		for s := 0; s < len(order); s += cfg.Batch {
			m.step(train, order[s:min(s+cfg.Batch, len(order))])
		}
		va := m.accuracy(val)
		ta := m.accuracy(test)
		res.ValCurve = append(res.ValCurve, va)
		res.TestCurve = append(res.TestCurve, ta)
		ood := map[string]float64{}
		for name, x := range f.OOD {
			ood[name] = m.accuracy(dataset{x: x, dim: f.Dim, rows: test.rows, labels: test.labels})
		}
		if va > res.BestVal {
			res.BestVal, res.BestEpoch, res.TestAtBest, res.OODAtBest = va, epoch, ta, ood
		}
		res.TestFinal, res.OODFinal = ta, ood
	}
	return res
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func moments(d dataset) (mean, std []float32) {
	mean, std = make([]float32, d.dim), make([]float32, d.dim)
	sum, sq := make([]float64, d.dim), make([]float64, d.dim)
	for _, r := range d.rows {
		x := d.x[r*d.dim : (r+1)*d.dim]
		for j, v := range x {
			sum[j] += float64(v)
			sq[j] += float64(v) * float64(v)
		}
	}
	n := float64(max(len(d.rows), 1))
	for j := range mean {
		mu := sum[j] / n
		mean[j] = float32(mu)
		std[j] = float32(math.Sqrt(math.Max(sq[j]/n-mu*mu, 0)) + 1e-6)
	}
	return mean, std
}

// softmaxReg is multinomial logistic regression trained with Adam.
type softmaxReg struct {
	k, d      int
	w, b      []float64
	mean, std []float32
	adam      *adam
	x         []float64
	logits    []float64
}

func (m *softmaxReg) features(d dataset, r int) []float64 {
	if len(m.x) != m.d {
		m.x = make([]float64, m.d)
	}
	row := d.x[r*d.dim : (r+1)*d.dim]
	for j, v := range row {
		m.x[j] = float64((v - m.mean[j]) / m.std[j])
	}
	return m.x
}

func (m *softmaxReg) forward(x []float64) []float64 {
	if len(m.logits) != m.k {
		m.logits = make([]float64, m.k)
	}
	mx := math.Inf(-1)
	for c := 0; c < m.k; c++ {
		w := m.w[c*m.d : (c+1)*m.d]
		s := m.b[c]
		for j, v := range x {
			s += w[j] * v
		}
		m.logits[c] = s
		mx = math.Max(mx, s)
	}
	sum := 0.0
	for c := range m.logits {
		m.logits[c] = math.Exp(m.logits[c] - mx)
		sum += m.logits[c]
	}
	for c := range m.logits {
		m.logits[c] /= sum
	}
	return m.logits
}

// step does one Adam step on the mean cross-entropy of a minibatch.
func (m *softmaxReg) step(d dataset, batch []int) {
	grad := m.adam.grad
	clear(grad)
	gw, gb := grad[:len(m.w)], grad[len(m.w):]
	inv := 1 / float64(len(batch))
	for _, i := range batch {
		x := m.features(d, d.rows[i])
		p := m.forward(x)
		y := int(d.labels[i])
		for c := 0; c < m.k; c++ {
			g := p[c] * inv
			if c == y {
				g -= inv
			}
			gb[c] += g
			row := gw[c*m.d : (c+1)*m.d]
			for j, v := range x {
				row[j] += g * v
			}
		}
	}
	m.adam.apply(m.w, m.b)
}

func (m *softmaxReg) accuracy(d dataset) float64 {
	if len(d.rows) == 0 {
		return 0
	}
	ok := 0
	for i, r := range d.rows {
		p := m.forward(m.features(d, r))
		best := 0
		for c := range p {
			if p[c] > p[best] {
				best = c
			}
		}
		if int32(best) == d.labels[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(d.rows))
}

// adam is Adam with L2 weight decay added to the gradient (PyTorch's Adam).
type adam struct {
	lr, wd, b1, b2, eps float64
	t                   int
	m, v, grad          []float64
}

func newAdam(n int, lr, wd float64) *adam {
	return &adam{lr: lr, wd: wd, b1: 0.9, b2: 0.999, eps: 1e-8, m: make([]float64, n), v: make([]float64, n), grad: make([]float64, n)}
}

func (a *adam) apply(params ...[]float64) {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	off := 0
	for _, p := range params {
		for j := range p {
			g := a.grad[off+j] + a.wd*p[j]
			a.m[off+j] = a.b1*a.m[off+j] + (1-a.b1)*g
			a.v[off+j] = a.b2*a.v[off+j] + (1-a.b2)*g*g
			p[j] -= a.lr * (a.m[off+j] / c1) / (math.Sqrt(a.v[off+j]/c2) + a.eps)
		}
		off += len(p)
	}
}
