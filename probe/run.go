package probe

import (
	"fmt"

	"github.com/dogo-sweep/dogo-sweep/data"
	"github.com/dogo-sweep/dogo-sweep/job"
)

// Run evaluates one probe job on the features in featuresDir and reports its
// metrics through emit.
func Run(spec job.Spec, featuresDir string, emit func(job.Record)) error {
	f, err := ReadFeatures(featuresDir)
	if err != nil {
		return err
	}
	e := spec.Eval
	seed := uint64(spec.Seed)
	metric := func(split, name string, v float64, epoch int) {
		emit(job.Record{Type: job.RecMetric, Split: split, Name: name, Value: v, Epoch: epoch})
	}
	if spec.Kind == job.KindKNN {
		metric(job.SplitTest, job.MetricKNN, KNN(f, e.KNNK, e.KNNTemperature), 0)
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
	res := Linear(f, rows, labels, LinearConfig{Epochs: e.Epochs, Batch: e.Batch, LR: e.LR, WeightDecay: e.WeightDecay,
		ValFraction: e.ValFraction, Standardize: e.Standardize, Seed: seed})
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
