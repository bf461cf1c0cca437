package grid

import (
	"fmt"
	"strings"
)

// DefaultMaxJobs is the most jobs a grid may plan unless the user lifts
// the limit (--max-jobs): far more than a sweep of the paper's grids, far
// fewer than take a machine down to plan (a planned job holds about 570
// bytes and allocates 2 KB on the way, flat from 10^4 to 10^6 jobs; see
// BenchmarkPlanMemory).
const DefaultMaxJobs = 20_000

// SizeError says that a grid may plan more jobs than the limit the user
// set: how many, from which axes, and the flag that lifts the limit. It is
// the user's own limit, not a mistake in the grid.
type SizeError struct {
	File  string
	Jobs  float64 // an upper bound, before jobs are shared
	Axes  string  // what multiplies, e.g. "100000 seeds x 2 pairs x 25 jobs per point"
	Limit int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("%s plans up to %.0f jobs (%s), above the limit of %d: pass --max-jobs %.0f to plan it", e.File, e.Jobs, e.Axes, e.Limit, e.Jobs)
}

// Bound is an upper bound of the jobs a grid plans, computed from its
// axes' lengths without expanding anything, and what multiplies: the
// points of the product (zipped axes count once), plus those each include
// entry adds, times the jobs a point asks for (its pretraining, and a
// features job and two probes per encoder) before jobs are shared.
func (g *Grid) Bound() (float64, string) {
	var factors []string
	points := 1.0
	for _, u := range g.units() {
		n := u[0].n(g)
		if u[0].name == "seed" && g.Sequential != nil {
			n = g.Sequential.Max // as many as a sequential grid may add
		}
		points *= float64(n)
		if n != 1 {
			names := make([]string, len(u))
			for i, a := range u {
				names[i] = a.key
			}
			factors = append(factors, fmt.Sprintf("%d %s", n, strings.Join(names, "+")))
		}
	}
	for _, inc := range g.Include {
		added := 1.0
		for _, a := range axes {
			if _, named := inc[a.name]; !named {
				if a.name == "seed" && g.Sequential != nil {
					added *= float64(g.Sequential.Max)
				} else {
					added *= float64(a.n(g))
				}
			}
		}
		points += added
	}
	if len(g.Include) > 0 {
		factors = append(factors, fmt.Sprintf("%d include entries", len(g.Include)))
	}
	perPoint := g.jobsPerPoint()
	factors = append(factors, fmt.Sprintf("%d jobs per point", perPoint))
	return points * float64(perPoint), strings.Join(factors, " x ")
}

// jobsPerPoint is what one grid point asks for before sharing: three
// pretraining jobs (DoGo, and each architecture solo), and per encoder a
// features job and two probes (its protocol and kNN).
func (g *Grid) jobsPerPoint() int {
	encoders := 4 // two DoGo peers, two solo encoders
	for _, r := range g.References {
		switch r {
		case "random":
			encoders += 2
		case "pixels":
			encoders++
		}
	}
	return 3 + 3*encoders
}
