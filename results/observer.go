package results

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// Recorder turns job records into Parquet parts as each job attempt ends.
type Recorder struct {
	Dir      string
	Settings *job.Settings
	mu       sync.Mutex
	pending  map[string]*attemptRows
	host     string
	lastErrs []error
}

type attemptRows struct {
	metrics  []MetricRow
	realized *float64
	backend  string
	devices  string
}

// NewRecorder writes parts under dir; settings are the sweep's (the plan's).
func NewRecorder(dir string, settings *job.Settings) *Recorder {
	h, _ := os.Hostname()
	return &Recorder{Dir: dir, Settings: settings, pending: map[string]*attemptRows{}, host: h}
}

func akey(j *job.Job, a int) string { return j.ID + "/" + strconv.Itoa(a) }

// JobStarted starts collecting an attempt's rows.
func (r *Recorder) JobStarted(j *job.Job, attempt int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[akey(j, attempt)] = &attemptRows{}
}

// JobRecord keeps metric records (progress records stay in the job's records.jsonl).
func (r *Recorder) JobRecord(j *job.Job, attempt int, rec job.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.pending[akey(j, attempt)]
	if a == nil {
		return
	}
	switch rec.Type {
	case job.RecMetric:
		a.metrics = append(a.metrics, MetricRow{Job: j.ID, Attempt: int64(attempt), Step: rec.Step, Epoch: int64(rec.Epoch),
			WallS: float64(rec.Time.UnixMilli()) / 1000, Peer: int64(rec.Peer), Split: rec.Split, Name: rec.Name, Value: rec.Value})
	case job.RecInfo:
		switch rec.Name {
		case "realized_noise_rate":
			v := rec.Value
			a.realized = &v
		case "backend":
			a.backend = rec.Backend
		case "devices":
			a.devices = rec.Message
		}
	}
}

// JobEnded writes the attempt's part files.
func (r *Recorder) JobEnded(j *job.Job, attempt int, st job.State, err error, start, end time.Time) {
	r.mu.Lock()
	a := r.pending[akey(j, attempt)]
	delete(r.pending, akey(j, attempt))
	r.mu.Unlock()
	if a == nil {
		a = &attemptRows{}
	}
	row := JobRowOf(j, r.Settings)
	row.Status, row.Attempt, row.Start, row.End = string(st), int64(attempt), start.UTC(), end.UTC()
	row.DurationS = end.Sub(start).Seconds()
	row.Host, row.Backend, row.Devices, row.RealizedNoiseRate = r.host, a.backend, a.devices, a.realized
	if err != nil {
		row.Error = err.Error()
	}
	if werr := WritePart(r.Dir, row, a.metrics); werr != nil {
		r.mu.Lock()
		r.lastErrs = append(r.lastErrs, werr)
		r.mu.Unlock()
	}
}

// Errors returns the errors met while writing parts.
func (r *Recorder) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErrs
}

// JobRowOf fills the configuration columns of a job's row.
func JobRowOf(j *job.Job, g *job.Settings) JobRow {
	s := j.Spec
	row := JobRow{Job: j.ID, Name: j.Name, Parent: s.Parent, Kind: string(s.Kind), Dataset: s.Dataset, Objective: s.Objective,
		Method: s.Method, Arch: s.Arch, Role: s.Role, PeerArch: s.PeerArch, NoiseRate: s.NoiseRate, NoiseKind: s.NoiseKind,
		Fraction: s.Fraction, Seed: int64(s.Seed), Version: job.Version}
	if s.Kind == job.KindPretrain {
		row.Arch = strings.Join(s.Archs, "+")
	}
	if s.Kind == job.KindLinear || s.Kind == job.KindKNN {
		row.Fraction = 1
	}
	if s.Kind == job.KindFeatures {
		row.OOD = strings.Join(s.OOD, ",")
	}
	if g != nil {
		row.Epochs, row.Batch, row.LR = int64(g.Pretrain.Epochs), int64(g.Pretrain.Batch), g.Pretrain.LR
		row.KDWeight, row.KDReduction = g.Pretrain.KDWeight, g.Pretrain.KDReduction
		if s.Method != job.MethodDoGo {
			row.KDWeight = 0
		}
	}
	return row
}
