package runner

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := NewBackend(goConfig) // as jobs run it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

func randMatrix(rng *rand.Rand, n, d int) [][]float32 {
	m := make([][]float32, n)
	for i := range m {
		m[i] = make([]float32, d)
		for j := range m[i] {
			m[i][j] = float32(rng.NormFloat64())
		}
	}
	return m
}

func normalize64(v []float32) []float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	n = math.Sqrt(n)
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x) / n
	}
	return out
}

func dot64(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// refNTXent is NT-Xent in float64, written from the method's definition.
func refNTXent(a, b [][]float32, tau float64) float64 {
	n := len(a)
	z := make([][]float64, 2*n)
	for i := 0; i < n; i++ {
		z[i], z[n+i] = normalize64(a[i]), normalize64(b[i])
	}
	loss := 0.0
	for i := 0; i < 2*n; i++ {
		pos := (i + n) % (2 * n)
		den := 0.0
		for j := 0; j < 2*n; j++ {
			if j != i {
				den += math.Exp(dot64(z[i], z[j]) / tau)
			}
		}
		loss += -math.Log(math.Exp(dot64(z[i], z[pos])/tau) / den)
	}
	return loss / float64(2*n)
}

// refKL is KL(P_t || P_s) of row softmaxes of cross-view cosine similarities / tau.
func refKL(sa, sb, ta, tb [][]float32, tau float64, reduction string) float64 {
	n := len(sa)
	rowSoftmax := func(a, b [][]float32) [][]float64 {
		p := make([][]float64, n)
		for i := range p {
			p[i] = make([]float64, n)
			mx := math.Inf(-1)
			for j := range p[i] {
				p[i][j] = dot64(normalize64(a[i]), normalize64(b[j])) / tau
				mx = math.Max(mx, p[i][j])
			}
			s := 0.0
			for j := range p[i] {
				p[i][j] = math.Exp(p[i][j] - mx)
				s += p[i][j]
			}
			for j := range p[i] {
				p[i][j] /= s
			}
		}
		return p
	}
	ps, pt := rowSoftmax(sa, sb), rowSoftmax(ta, tb)
	kl := 0.0
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			kl += pt[i][j] * (math.Log(pt[i][j]) - math.Log(ps[i][j]))
		}
	}
	if reduction == "batch-mean" {
		return kl / float64(n)
	}
	return kl / float64(n*n)
}

func TestNTXentMatchesFloat64Reference(t *testing.T) {
	b := testBackend(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		n, d   int
		tau    float64
		smooth bool
	}{{"batch4-tau0.5", 4, 8, 0.5, false}, {"batch8-tau0.1", 8, 16, 0.1, false}, {"batch3-tau1", 3, 5, 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			a, bb := randMatrix(rng, tc.n, tc.d), randMatrix(rng, tc.n, tc.d)
			got := MustExecOnce(b, func(x, y *Node) *Node { return ntXent(x, y, tc.tau) }, a, bb)
			want := refNTXent(a, bb, tc.tau)
			if g := float64(tensors.ToScalar[float32](got)); math.Abs(g-want) > 1e-4*math.Max(1, want) {
				t.Errorf("ntXent = %.6f, float64 reference = %.6f", g, want)
			}
		})
	}
}

func TestDoGoKLMatchesFloat64Reference(t *testing.T) {
	b := testBackend(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, red := range []string{"element-mean", "batch-mean"} {
		t.Run(red, func(t *testing.T) {
			n, d := 6, 7
			// The peers' embeddings may differ in size: the KL acts on B x B matrices.
			sa, sb, ta, tb := randMatrix(rng, n, d), randMatrix(rng, n, d), randMatrix(rng, n, d+3), randMatrix(rng, n, d+3)
			got := MustExecOnce(b, func(sa, sb, ta, tb *Node) *Node {
				return dogoKL(crossView(sa, sb, 0.1), crossView(ta, tb, 0.1), red)
			}, sa, sb, ta, tb)
			want := refKL(sa, sb, ta, tb, 0.1, red)
			if g := float64(tensors.ToScalar[float32](got)); math.Abs(g-want) > 1e-4*math.Max(1, want) {
				t.Errorf("dogoKL(%s) = %.6f, float64 reference = %.6f", red, g, want)
			}
			if want <= 0 {
				t.Errorf("reference KL %.6f should be positive for different peers", want)
			}
		})
	}
}

func TestDoGoKLSendsNoGradientIntoDetachedPeer(t *testing.T) {
	b := testBackend(t)
	rng := rand.New(rand.NewPCG(5, 6))
	n, d := 5, 4
	sa, sb, ta, tb := randMatrix(rng, n, d), randMatrix(rng, n, d), randMatrix(rng, n, d), randMatrix(rng, n, d)
	outs := MustExecOnceN(b, func(sa, sb, ta, tb *Node) []*Node {
		kl := dogoKL(crossView(sa, sb, 0.1), crossView(ta, tb, 0.1), "element-mean")
		return Gradient(kl, sa, ta, tb)
	}, sa, sb, ta, tb)
	selfGrad := tensors.MustCopyFlatData[float32](outs[0])
	nonzero := false
	for _, v := range selfGrad {
		nonzero = nonzero || v != 0
	}
	if !nonzero {
		t.Error("gradient into the learning peer is all zero")
	}
	for i, o := range outs[1:] {
		for _, v := range tensors.MustCopyFlatData[float32](o) {
			if v != 0 {
				t.Fatalf("gradient into detached peer input %d is %g, want 0", i, v)
			}
		}
	}
}

// refSimSiam is SimSiam's loss in float64 from the method's definition.
func refSimSiam(zx, zy, px, py [][]float32) float64 {
	cos := func(z, p [][]float32) float64 {
		s := 0.0
		for i := range z {
			s += dot64(normalize64(z[i]), normalize64(p[i]))
		}
		return s / float64(len(z))
	}
	return 0.5 * (-cos(zx, py) - cos(zy, px))
}

func TestSimSiamLossMatchesFloat64Reference(t *testing.T) {
	b := testBackend(t)
	rng := rand.New(rand.NewPCG(7, 8))
	n, d := 6, 9
	zx, zy, px, py := randMatrix(rng, n, d), randMatrix(rng, n, d), randMatrix(rng, n, d), randMatrix(rng, n, d)
	got := MustExecOnce(b, func(zx, zy, px, py *Node) *Node { return simsiamLoss(zx, zy, px, py) }, zx, zy, px, py)
	want := refSimSiam(zx, zy, px, py)
	if g := float64(tensors.ToScalar[float32](got)); math.Abs(g-want) > 1e-5 {
		t.Errorf("simsiamLoss = %.6f, float64 reference = %.6f", g, want)
	}
	// The projections are detached: no gradient flows into them.
	outs := MustExecOnceN(b, func(zx, zy, px, py *Node) []*Node {
		return Gradient(simsiamLoss(zx, zy, px, py), zx, zy, px)
	}, zx, zy, px, py)
	for i, o := range outs[:2] {
		for _, v := range tensors.MustCopyFlatData[float32](o) {
			if v != 0 {
				t.Fatalf("gradient into projection %d is %g, want 0", i, v)
			}
		}
	}
	nonzero := false
	for _, v := range tensors.MustCopyFlatData[float32](outs[2]) {
		nonzero = nonzero || v != 0
	}
	if !nonzero {
		t.Error("no gradient into the predictions")
	}
}

// "auto" takes xla:cuda only with XLA built in and a GPU visible; when the
// CUDA plugin then fails to open, the job falls back to the Go backend with a
// warning, while an explicit backend's failure stays an error.
func TestBackendChoice(t *testing.T) {
	t.Setenv("GOMLX_BACKEND", "")
	yes, no := func() bool { return true }, func() bool { return false }
	for _, tc := range []struct {
		setting string
		xla     bool
		gpu     func() bool
		want    string
	}{
		{"auto", true, yes, "xla:cuda"},
		{"auto", true, no, goConfig},
		{"auto", false, yes, goConfig},
		{"go", true, yes, goConfig},
		{"xla:/opt/plugin.so", false, no, "xla:/opt/plugin.so"},
	} {
		if got := backendConfig(tc.setting, tc.xla, tc.gpu); got != tc.want {
			t.Errorf("backendConfig(%q, xla %v) = %q, want %q", tc.setting, tc.xla, got, tc.want)
		}
	}
	noCUDA := func(cfg string) (compute.Backend, error) {
		if cfg == "xla:cuda" {
			return nil, errors.New("plugin not found")
		}
		return NewBackend(cfg)
	}
	b, cfg, warning, err := openBackend("auto", "xla:cuda", noCUDA)
	if err != nil || cfg != goConfig || !strings.Contains(warning, "plugin not found") {
		t.Fatalf("auto without the plugin: %q %q %v", cfg, warning, err)
	}
	b.Finalize()
	if _, _, _, err := openBackend("xla:cuda", "xla:cuda", noCUDA); err == nil {
		t.Fatal("an explicit xla:cuda without the plugin must fail")
	}
}
