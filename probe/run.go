package probe

import (
	"context"
	"fmt"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/internal/matmul"
	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// Run evaluates one probe job on the features of the features job
// featuresID, whose store entry is in, and reports its metrics through
// emit. The features are checked against the entry's manifest as they are
// read: damaged ones are that job's damage (*job.DamagedInputError), never
// probed. Cancelling ctx stops it at the next minibatch or block.
func Run(ctx context.Context, spec job.Spec, in jobdir.Dir, featuresID string, emit func(job.Record)) error {
	f, err := ReadStoredFeatures(in, featuresID)
	if err != nil {
		return err
	}
	e := spec.Eval
	seed := uint64(spec.Seed)
	mm := matmul.Measure()
	emit(job.Record{Type: job.RecInfo, Name: "matmul", Message: mm.String()})
	metric := func(split, name string, v float64, epoch int) {
		emit(job.Record{Type: job.RecMetric, Split: split, Name: name, Value: v, Epoch: epoch})
	}
	if spec.Kind == job.KindKNN {
		acc, err := KNN(ctx, mm.Kernels, f, e.KNNK, e.KNNTemperature)
		if err != nil {
			return err
		}
		metric(job.SplitTest, job.MetricKNN, acc, 0)
		return nil
	}
	rows := seq(len(f.TrainLabels))
	if spec.Fraction > 0 && spec.Fraction < 1 {
		rows = data.Fraction(f.TrainLabels, f.Classes, spec.Fraction, seed)
	}
	labels := make([]int32, len(rows))
	for i, r := range rows {
		labels[i] = f.TrainLabels[r]
	}
	if spec.NoiseRate > 0 {
		noisy, realized, err := data.Noisy(labels, f.Classes, spec.NoiseRate, spec.NoiseKind, spec.Dataset, seed)
		if err != nil {
			return fmt.Errorf("label noise: %w", err)
		}
		labels = noisy
		emit(job.Record{Type: job.RecInfo, Name: "realized_noise_rate", Value: realized})
	}
	emit(job.Record{Type: job.RecInfo, Name: "train_labels", Value: float64(len(rows))})
	res, err := Linear(ctx, f, rows, labels, LinearConfig{Epochs: e.Epochs, Batch: e.Batch, LR: e.LR, WeightDecay: e.WeightDecay,
		ValFraction: e.ValFraction, Standardize: e.Standardize, Seed: seed, Kernels: mm.Kernels})
	if err != nil {
		return err
	}
	for i := range res.ValCurve {
		metric(job.SplitVal, "accuracy", res.ValCurve[i], i+1)
	}
	metric(job.SplitVal, "best_accuracy", res.BestVal, res.BestEpoch)
	metric(job.SplitTest, job.MetricAccBest, res.TestAtBest, res.BestEpoch)
	metric(job.SplitTest, job.MetricAccFinal, res.TestFinal, e.Epochs)
	selected, epoch, byVal := res.Selected(f.Classes, e.Epochs)
	metric(job.SplitTest, job.MetricAccSelected, selected, epoch)
	metric(job.SplitVal, "images", float64(res.ValImages), 0)
	rule := "final epoch (validation split under the floor)"
	if byVal {
		rule = "best-validation epoch"
	}
	emit(job.Record{Type: job.RecInfo, Name: "selection", Message: rule})
	for name, v := range res.OODAtBest {
		metric(job.OODSplit(name), job.MetricAccBest, v, res.BestEpoch)
	}
	for name, v := range res.OODFinal {
		metric(job.OODSplit(name), job.MetricAccFinal, v, e.Epochs)
	}
	return nil
}
