package results

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"testing"
)

// Summary keeps the finished probes' last attempt numbers, skips pretraining,
// feature extraction and failed attempts, and orders rows by data set, probe,
// encoder, labels and seed, whatever order the job IDs give. The selected
// accuracy (the one the report uses) is the probe's accuracy_selected when
// it reported one, its best-validation accuracy otherwise (results written
// before the selection rule); the OOD accuracies are by set.
func TestSummary(t *testing.T) {
	job := func(id, kind, method, arch string, noise, fraction float64, seed int64, status string) JobRow {
		return JobRow{Job: id, Attempt: 1, Kind: kind, Dataset: "fashion-mnist", Objective: "simclr", Method: method,
			Arch: arch, NoiseRate: noise, Fraction: fraction, Seed: seed, Status: status}
	}
	tb := &Tables{Jobs: []JobRow{
		job("a1", "linear", "solo", "cnn-s", 0, 1, 2, "done"),
		job("b2", "linear", "solo", "cnn-s", 0, 1, 1, "done"),
		job("c3", "knn", "dogo", "cnn-s", 0, 1, 1, "done"),
		job("d4", "noise", "solo", "cnn-s", 0.5, 1, 1, "done"),
		job("e5", "noise", "solo", "cnn-s", 0.2, 1, 1, "done"),
		job("f6", "linear", "dogo", "cnn-l", 0, 1, 1, "failed"),
		job("g7", "pretrain", "solo", "cnn-s", 0, 1, 1, "done"),
		job("h8", "linear", "dogo", "cnn-l", 0, 1, 1, "done"),
	}}
	for i, j := range tb.Jobs {
		tb.Metrics = append(tb.Metrics,
			MetricRow{Job: j.Job, Attempt: 1, Split: "test", Name: "accuracy_at_best_val", Value: float64(i) / 10},
			MetricRow{Job: j.Job, Attempt: 1, Split: "test", Name: "accuracy_final", Value: float64(i) / 20},
			MetricRow{Job: j.Job, Attempt: 1, Split: "ood:gaussian_noise-3", Name: "accuracy_at_best_val", Value: 0.5})
	}
	tb.Metrics = append(tb.Metrics, MetricRow{Job: "c3", Attempt: 1, Split: "test", Name: "knn_accuracy", Value: 0.9},
		MetricRow{Job: "e5", Attempt: 1, Split: "test", Name: "accuracy_selected", Value: 0.2}, // its final epoch's
		MetricRow{Job: "b2", Attempt: 1, Split: "ood:dataset:mnist", Name: "accuracy_at_best_val", Value: 0.25},
		MetricRow{Job: "b2", Attempt: 1, Split: "ood:dataset:mnist", Name: "accuracy_final", Value: 0.75})
	var got []string
	for _, r := range Summary(tb) {
		got = append(got, fmt.Sprintf("%s %s %s %s %g %d %.2f %.2f %.2f %v", r.Job, r.Kind, r.Arch, r.Method, r.NoiseRate, r.Seed, r.AccBest, r.AccFinal, r.AccSelected, r.OOD))
	}
	want := []string{
		"c3 knn cnn-s dogo 0 1 0.90 0.90 0.90 map[gaussian_noise-3:0.5]",
		"h8 linear cnn-l dogo 0 1 0.70 0.35 0.70 map[gaussian_noise-3:0.5]",
		"b2 linear cnn-s solo 0 1 0.10 0.05 0.10 map[dataset:mnist:0.25 gaussian_noise-3:0.5]",
		"a1 linear cnn-s solo 0 2 0.00 0.00 0.00 map[gaussian_noise-3:0.5]",
		"e5 noise cnn-s solo 0.2 1 0.40 0.20 0.20 map[gaussian_noise-3:0.5]",
		"d4 noise cnn-s solo 0.5 1 0.30 0.15 0.30 map[gaussian_noise-3:0.5]",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Summary rows:\n got %q\nwant %q", got, want)
	}
}

// The CSV holds every value the JSON holds: the same columns, an OOD set
// each, and the same numbers.
func TestSummaryCSVHasTheJSONsColumns(t *testing.T) {
	rows := []SummaryRow{
		{Job: "a", Kind: "linear", Dataset: "cifar10", Method: "dogo", Arch: "resnet18", Role: "small", PeerArch: "resnet50", Fraction: 1, Seed: 1,
			AccBest: 0.8123, AccFinal: 0.8, AccSelected: 0.8123, OOD: map[string]float64{"gaussian_noise-3": 0.5, "dataset:stl10": 0.61}},
		{Job: "b", Kind: "fraction", Dataset: "cifar10", Method: "solo", Arch: "resnet18", Role: "solo", Fraction: 0.01, Seed: 1,
			AccBest: 0.3, AccFinal: 0.35, AccSelected: 0.35},
	}
	var js, cs bytes.Buffer
	if err := WriteSummary(&js, rows, "json"); err != nil {
		t.Fatal(err)
	}
	if err := WriteSummary(&cs, rows, "csv"); err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(js.Bytes(), &objs); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, obj := range objs {
		csvRow := map[string]string{}
		for c, name := range recs[0] {
			csvRow[name] = recs[i+1][c]
		}
		for k, v := range obj {
			if ood, ok := v.(map[string]any); ok {
				for set, x := range ood {
					if got := csvRow["ood_acc_best_val_pct:"+set]; got != fmt.Sprint(x) {
						t.Errorf("row %d, OOD %s: csv %q, json %v", i, set, got, x)
					}
				}
				continue
			}
			if got, ok := csvRow[k]; !ok || got != fmt.Sprint(v) {
				t.Errorf("row %d, %s: csv %q (present %v), json %v", i, k, got, ok, v)
			}
		}
	}
	if len(recs[0]) != 17 { // 15 columns and two OOD sets
		t.Errorf("csv columns: %v", recs[0])
	}
}
