// Package reports writes report.md from a run's Parquet results: DoGo against
// solo per dataset, objective and architecture, with the spread over seeds.
package reports

import (
	"math"

	"gonum.org/v1/gonum/stat"
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
