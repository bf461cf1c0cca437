package results

import (
	"strings"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// WriteJobParts rebuilds a job's result parts in its folder from what the
// folder holds: every attempt's records (records.jsonl) and the
// controller's verdicts (attempts.jsonl). The rows are a function of those
// files alone, so that rewriting them is harmless, nothing the job reported
// is lost when its controller dies, and a job's results count once whatever
// moment a kill came at. An attempt with records but no verdict ended with
// its controller: it is counted stopped.
func WriteJobParts(dir jobdir.Dir, j *job.Job, settings *job.Settings) error {
	attempts := map[int]*attemptRows{}
	at := func(a int) *attemptRows {
		if attempts[a] == nil {
			attempts[a] = &attemptRows{}
		}
		return attempts[a]
	}
	err := job.ReadRecordsFile(dir.Records(), func(rec job.Record) {
		if rec.Attempt <= 0 {
			return
		}
		a := at(rec.Attempt)
		a.add(j, rec)
	})
	if err != nil {
		return err
	}
	verdicts, err := dir.ReadVerdicts()
	if err != nil {
		return err
	}
	for n := range verdicts {
		at(n)
	}
	for n, a := range attempts {
		row := JobRowOf(j, settings)
		row.Attempt = int64(n)
		row.Backend, row.Devices, row.RealizedNoiseRate, row.DataDir, row.Host, row.Build = a.Backend, a.Devices, a.RealizedNoise, a.DataDir, a.Host, a.Build
		row.Start, row.End = a.first, a.last
		if v, ok := verdicts[n]; ok {
			row.Status, row.Error = string(v.State), v.Error
			if !v.Start.IsZero() {
				row.Start, row.End = v.Start, v.End
			}
			if row.Host == "" {
				row.Host = v.Host
			}
		} else {
			row.Status, row.Error = string(job.StateStopped), "the controller ended before the attempt did"
		}
		row.Start, row.End = row.Start.UTC(), row.End.UTC()
		row.DurationS = row.End.Sub(row.Start).Seconds()
		jobsPart, metricsPart := jobdir.PartFiles(dir.Results(), j.ID, n)
		if err := writeAtomic(metricsPart, a.metrics); err != nil {
			return err
		}
		if err := writeAtomic(jobsPart, []JobRow{row}); err != nil {
			return err
		}
	}
	return nil
}

// attemptRows are the rows of one attempt, gathered from its records.
type attemptRows struct {
	job.RunInfo
	metrics     []MetricRow
	first, last time.Time
}

func (a *attemptRows) add(j *job.Job, rec job.Record) {
	if a.first.IsZero() || rec.Time.Before(a.first) {
		a.first = rec.Time
	}
	if rec.Time.After(a.last) {
		a.last = rec.Time
	}
	switch rec.Type {
	case job.RecMetric:
		a.metrics = append(a.metrics, MetricRow{Job: j.ID, Attempt: int64(rec.Attempt), Step: rec.Step, Epoch: int64(rec.Epoch),
			WallS: float64(rec.Time.UnixMilli()) / 1000, Peer: int64(rec.Peer), Split: rec.Split, Name: rec.Name, Value: rec.Value})
	case job.RecInfo:
		a.RunInfo.Add(rec)
	}
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

// Keeper keeps each attempt's verdict (attempts.jsonl) and rebuilds the
// job's result parts in its folder: the controller's ResultWriter.
type Keeper struct {
	// Settings are the sweep's (the plan's), for the rows' settings columns.
	Settings *job.Settings
}

// WriteResult appends an attempt's verdict, then rebuilds the job's parts.
func (k Keeper) WriteResult(dir jobdir.Dir, j *job.Job, v jobdir.Verdict) error {
	if err := dir.AppendVerdict(v); err != nil {
		return err
	}
	return WriteJobParts(dir, j, k.Settings)
}
