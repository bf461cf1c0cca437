package worker

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
	"github.com/dogo-sweep/dogo-sweep/probe"
	"github.com/dogo-sweep/dogo-sweep/sweep/grid"
)

var update = flag.Bool("update", false, "record the fingerprints of codes whose revision was bumped")

// goldenFile keeps, for each code, the revision its fingerprint was
// recorded under and the fingerprint.
const goldenFile = "testdata/revisions.json"

type revisionGolden struct {
	Revision    string    `json:"revision"`
	Fingerprint []float64 `json:"fingerprint"`
}

// Every code's output is held to its revision: a tiny job of each code
// (pretraining, features of a trained encoder, of a random one and of raw
// pixels, and each probe) runs through the job process's real dispatch,
// and a fingerprint of its output (losses, weights, features, accuracies)
// is compared with the one recorded under the code's revision. When the
// output changes and the revision does not, the store would hand back the
// old code's results as the new code's: the test fails and names the
// revision to bump. A bumped revision is recorded with -update, which
// refuses to overwrite a changed fingerprint under an unchanged revision.
// A code whose input changed (the probes read the features job's output) is
// not asked to bump: its jobs' IDs hold their input's. Its fingerprint is
// recorded again with the bump of the code upstream.
// The jobs run on one thread (go:parallelism=1), and fingerprints compare
// within a relative 1e-4, so that the last bits of another CPU's kernels
// pass and any change of what is computed does not.
func TestRevisions(t *testing.T) {
	got := fingerprints(t)
	want := map[job.Code]revisionGolden{}
	if b, err := os.ReadFile(goldenFile); err == nil {
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
	}
	changed := false
	moved, bumped := map[job.Code]bool{}, map[job.Code]bool{}
	for _, c := range codes {
		g, known := want[c]
		moved[c] = !known || !within(g.Fingerprint, got[c])
		bumped[c] = known && g.Revision != job.Revisions[c]
	}
	// upstreamBumped: a code its input comes from, directly or not, was
	// bumped (the probes read features, which read a pretraining job).
	upstreamBumped := func(c job.Code) bool {
		for in, ok := inputOf[c]; ok; in, ok = inputOf[in] {
			if bumped[in] {
				return true
			}
		}
		return false
	}
	for _, c := range codes {
		rev := job.Revisions[c]
		g, known := want[c]
		same := !moved[c]
		switch {
		case same && g.Revision == rev:
		case !same && g.Revision == rev && (moved[inputOf[c]] || upstreamBumped(c)):
			// Its input's code changed: bumping that one re-keys this
			// code's jobs too (their IDs hold their input's). Recorded
			// with the input's new revision.
			t.Logf("%s: its output changed with its input's (%s)", c, inputOf[c])
			if *update && upstreamBumped(c) {
				want[c] = revisionGolden{Revision: rev, Fingerprint: got[c]}
				changed = true
			}
		case *update && (!known || g.Revision != rev):
			want[c] = revisionGolden{Revision: rev, Fingerprint: got[c]}
			changed = true
		case g.Revision != rev:
			t.Errorf("%s: revision %q has no fingerprint yet (recorded: %q): run go test ./worker -run TestRevisions -update", c, rev, g.Revision)
		default:
			t.Errorf("the output of the %s code changed while its revision stayed %q: bump job.Revisions[%s] in job/revision.go, "+
				"so that stored results of the old code are not handed back as this code's, then record it with go test ./worker -run TestRevisions -update\n"+
				"  recorded %v\n  now      %v", c, rev, job.Code(c), g.Fingerprint, got[c])
		}
	}
	if changed {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// inputOf is the code whose output a code's tiny job reads.
var inputOf = map[job.Code]job.Code{
	job.CodeFeatures: job.CodePretrain,
	job.CodeLinear:   job.CodeFeatures, job.CodeFraction: job.CodeFeatures, job.CodeNoise: job.CodeFeatures, job.CodeKNN: job.CodeFeatures,
}

var codes = []job.Code{job.CodePretrain, job.CodeFeatures, job.CodeRandom, job.CodePixels, job.CodeLinear, job.CodeFraction, job.CodeNoise, job.CodeKNN}

func within(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-4*math.Max(math.Abs(a[i]), math.Abs(b[i]))+1e-9 {
			return false
		}
	}
	return true
}

// fingerprints runs a tiny job of each code and returns a fingerprint of
// its output.
func fingerprints(t *testing.T) map[job.Code][]float64 {
	t.Helper()
	dataDir := t.TempDir()
	if err := data.WriteSynthetic(dataDir, 160, 80, 3); err != nil {
		t.Fatal(err)
	}
	def := grid.Default()
	p := def.Pretrain
	p.Epochs, p.Batch, p.LR, p.KNNMonitor = 1, 32, 1e-3, 0
	e := def.Eval
	e.Epochs, e.Batch, e.LR, e.KNNK, e.Standardize = 8, 16, 1e-2, 5, true
	out := map[job.Code][]float64{}
	run := func(sp job.Spec, inputs map[string]string) (jobdir.Dir, []job.Record) {
		t.Helper()
		sp.Revision = job.RevisionOf(sp)
		j := job.Job{ID: job.SpecID(sp), Name: string(job.CodeOf(sp)), Spec: sp}
		d := jobdir.Dir(t.TempDir())
		var recs []job.Record
		a := Attempt{Task: jobdir.Task{Job: j, Attempt: 1, Inputs: inputs, Backend: "go:parallelism=1", DataDir: dataDir}, Dir: d,
			Emit: func(r job.Record) { recs = append(recs, r) }}
		if err := Dispatch(context.Background(), a); err != nil {
			t.Fatalf("%s: %v", job.CodeOf(sp), err)
		}
		if err := d.WriteSpec(sp); err != nil {
			t.Fatal(err)
		}
		if err := d.WriteManifest(jobdir.Manifest{Job: j.ID, Kind: string(sp.Kind)}); err != nil {
			t.Fatal(err)
		}
		return d, recs
	}
	pre := job.Spec{Kind: job.KindPretrain, Dataset: "fashion-mnist", Method: job.MethodDoGo, Objective: "simclr", Seed: 3,
		Archs: []string{"mlp-s", "mlp-s"}, Pretrain: &p}
	pd, recs := run(pre, nil)
	out[job.CodePretrain] = append(metricValues(recs, "images_per_second", "lr"), checkpointStats(t, pd)...)
	preID := job.SpecID(withRevision(pre))

	feat := func(method string) job.Spec {
		sp := job.Spec{Kind: job.KindFeatures, Dataset: "fashion-mnist", Method: method, Objective: "simclr", Seed: 3, Arch: "mlp-s",
			Role: job.RoleReference, OOD: []string{"gaussian_noise-3"}, TrainSubset: 120}
		if method == job.MethodDoGo {
			sp.Parent, sp.Role, sp.PeerArch = preID, job.RoleSmall, "mlp-s"
		}
		if method == job.MethodPixels {
			sp.Arch, sp.Objective = "", ""
		}
		return sp
	}
	fd, _ := run(feat(job.MethodDoGo), map[string]string{preID: pd.Path()})
	out[job.CodeFeatures] = featureStats(t, fd)
	rd, _ := run(feat(job.MethodRandom), nil)
	out[job.CodeRandom] = featureStats(t, rd)
	xd, _ := run(feat(job.MethodPixels), nil)
	out[job.CodePixels] = featureStats(t, xd)

	featID := job.SpecID(withRevision(feat(job.MethodDoGo)))
	probeSpec := func(kind job.Kind) job.Spec {
		sp := job.Spec{Kind: kind, Dataset: "fashion-mnist", Method: job.MethodDoGo, Seed: 3, Arch: "mlp-s", Role: job.RoleSmall, Features: featID}
		ev := e
		ev.TrainSubset = 0
		sp.Eval = &ev
		switch kind {
		case job.KindFraction:
			sp.Fraction = 0.5
		case job.KindNoise:
			sp.NoiseRate, sp.NoiseKind, sp.Fraction = 0.4, "symmetric", 1
		}
		return sp
	}
	for _, k := range []job.Kind{job.KindLinear, job.KindFraction, job.KindNoise, job.KindKNN} {
		_, recs := run(probeSpec(k), map[string]string{featID: fd.Path()})
		out[job.Code(k)] = metricValues(recs)
	}
	return out
}

func withRevision(sp job.Spec) job.Spec {
	sp.Revision = job.RevisionOf(sp)
	return sp
}

// metricValues are the values of a job's metric records, in order, but for
// the named ones (which depend on the machine's speed).
func metricValues(recs []job.Record, skip ...string) []float64 {
	var out []float64
	for _, r := range recs {
		if r.Type == job.RecMetric && !contains(skip, r.Name) {
			out = append(out, r.Value)
		}
		if r.Type == job.RecInfo && r.Name == "realized_noise_rate" {
			out = append(out, r.Value)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkpointStats summarises the newest checkpoint's values (read as
// float32s: weights and optimizer state).
func checkpointStats(t *testing.T, d jobdir.Dir) []float64 {
	t.Helper()
	list, err := d.ListCheckpoints()
	if err != nil || len(list) == 0 {
		t.Fatalf("no checkpoint: %v", err)
	}
	_, bin, _ := d.CheckpointFiles(list[len(list)-1])
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 0, len(b)/4)
	for i := 0; i+4 <= len(b); i += 4 {
		x = append(x, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
	}
	return stats(x)
}

// featureStats summarises a features file: each array's sums, in order.
func featureStats(t *testing.T, d jobdir.Dir) []float64 {
	t.Helper()
	f, err := probe.ReadFeatures(d.Features())
	if err != nil {
		t.Fatal(err)
	}
	out := []float64{float64(f.Dim), float64(len(f.TrainLabels))}
	for _, l := range f.TrainLabels {
		out[1] += float64(l) * 1e-3 // which images the subset holds
	}
	out = append(out, stats(f.Train)...)
	out = append(out, stats(f.Test)...)
	for _, name := range []string{"gaussian_noise-3"} {
		out = append(out, stats(f.OOD[name])...)
	}
	return out
}

// stats are the sum, the sum of squares and a sum weighted by position
// (so that the order counts) of the finite values.
func stats(x []float32) []float64 {
	var s, sq, w float64
	for i, v := range x {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e4 { // not weights: integers read as floats
			continue
		}
		s += f
		sq += f * f
		w += f * float64((i*2654435761)%1000) / 1000
	}
	return []float64{s, sq, w}
}

// The golden file names every code, and nothing else.
func TestRevisionGoldensNameEveryCode(t *testing.T) {
	b, err := os.ReadFile(filepath.Clean(goldenFile))
	if err != nil {
		t.Fatal(err)
	}
	var g map[job.Code]revisionGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for c := range job.Revisions {
		if _, ok := g[c]; !ok {
			missing = append(missing, string(c))
		}
	}
	if len(missing) > 0 || len(g) != len(job.Revisions) || len(codes) != len(job.Revisions) {
		t.Errorf("codes without a fingerprint: %s (%d recorded, %d codes)", strings.Join(missing, ", "), len(g), len(job.Revisions))
	}
}
