// Package reports writes report.md from a run's Parquet results: DoGo against
// solo per dataset, objective and architecture, with the spread over seeds.
package reports

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// MeanStd returns the mean and the sample standard deviation (n-1); the
// deviation of one value is NaN.
func MeanStd(x []float64) (mean, std float64) {
	switch len(x) {
	case 0:
		return math.NaN(), math.NaN()
	case 1:
		return x[0], math.NaN()
	}
	return stat.MeanStdDev(x, nil)
}

// PairedCI returns the mean difference of paired samples and the half-width
// of its 95% confidence interval (Student t with n-1 degrees of freedom).
func PairedCI(d []float64) (mean, half float64) {
	m, s := MeanStd(d)
	if len(d) < 2 {
		return m, math.NaN()
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(d) - 1)}.Quantile(0.975)
	return m, t * s / math.Sqrt(float64(len(d)))
}
