package results

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// Recorder collects each job attempt's records and, when the attempt ends,
// writes them as Parquet parts into the job's folder (before the job enters
// the store, so a stored job always has its results).
type Recorder struct {
	// Dir is the folder of a job's results (JobResultsDir of its folder).
	Dir      func(j *job.Job) string
	Settings *job.Settings
	mu       sync.Mutex
	pending  map[string]*attemptRows
	host     string
}

type attemptRows struct {
	metrics  []MetricRow
	realized *float64
	backend  string
	devices  string
	dataDir  string
}

// NewRecorder writes a job's parts into dir(job); settings are the sweep's
// (the plan's).
func NewRecorder(dir func(j *job.Job) string, settings *job.Settings) *Recorder {
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
		case "data_dir":
			a.dataDir = rec.Message
		}
	}
}

// JobEnded does nothing: WriteResult writes the attempt's rows.
func (r *Recorder) JobEnded(*job.Job, int, job.State, error, time.Time, time.Time) {}

// WriteResult writes an attempt's part files into the job's folder.
func (r *Recorder) WriteResult(j *job.Job, attempt int, st job.State, err error, start, end time.Time) error {
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
	row.Host, row.Backend, row.Devices, row.RealizedNoiseRate, row.DataDir = r.host, a.backend, a.devices, a.realized, a.dataDir
	if err != nil {
		row.Error = err.Error()
	}
	return WritePart(r.Dir(j), row, a.metrics)
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
