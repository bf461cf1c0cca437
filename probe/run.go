package probe

import (
	"fmt"

	"github.com/dogo-sweep/sweep/data"
	"github.com/dogo-sweep/sweep/sweep"
)

// Run evaluates one probe job on the features in featuresDir and reports its
// metrics through emit.
func Run(spec sweep.Spec, featuresDir string, emit func(sweep.Record)) error {
	f, err := ReadFeatures(featuresDir)
	if err != nil {
		return err
	}
	e := spec.Eval
	seed := uint64(spec.Seed)
	metric := func(split, name string, v float64, epoch int) {
		emit(sweep.Record{Type: sweep.RecMetric, Split: split, Name: name, Value: v, Epoch: epoch})
	}
	if spec.Kind == sweep.KindKNN {
		metric("test", "knn_accuracy", KNN(f, e.KNNK, e.KNNTemperature), 0)
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
		emit(sweep.Record{Type: sweep.RecInfo, Name: "realized_noise_rate", Value: realized})
	}
	emit(sweep.Record{Type: sweep.RecInfo, Name: "train_labels", Value: float64(len(rows))})
	res := Linear(f, rows, labels, LinearConfig{Epochs: e.Epochs, Batch: e.Batch, LR: e.LR, WeightDecay: e.WeightDecay,
		ValFraction: e.ValFraction, Standardize: e.Standardize, Seed: seed})
	for i := range res.ValCurve {
		metric("val", "accuracy", res.ValCurve[i], i+1)
	}
	metric("val", "best_accuracy", res.BestVal, res.BestEpoch)
	metric("test", "accuracy_at_best_val", res.TestAtBest, res.BestEpoch)
	metric("test", "accuracy_final", res.TestFinal, e.Epochs)
	for name, v := range res.OODAtBest {
		metric("ood:"+name, "accuracy_at_best_val", v, res.BestEpoch)
	}
	for name, v := range res.OODFinal {
		metric("ood:"+name, "accuracy_final", v, e.Epochs)
	}
	return nil
}
