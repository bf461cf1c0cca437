// Package reports writes report.md from a run's Parquet results: DoGo against
// solo per dataset, objective and architecture, with the spread over seeds.
package reports

import "math"

// MeanStd returns the mean and the sample standard deviation (n-1).
func MeanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, math.NaN()
	}
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)-1))
}

// PairedCI returns the mean difference of paired samples and the half-width
// of its 95% confidence interval (Student t with n-1 degrees of freedom).
func PairedCI(d []float64) (mean, half float64) {
	m, s := MeanStd(d)
	if len(d) < 2 {
		return m, math.NaN()
	}
	return m, tQuantile975(len(d)-1) * s / math.Sqrt(float64(len(d)))
}

// tQuantile975 is the 97.5% quantile of Student's t distribution.
func tQuantile975(df int) float64 {
	table := []float64{0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}
	if df < len(table) {
		return table[df]
	}
	return 1.96 + 2.4/float64(df) // within 0.002 of the exact value for df > 30
}
