package metrics

import (
	"sort"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// ETA estimates how long the remaining jobs take: for each kind, the jobs
// left times the mean duration of that kind's finished jobs, divided by the
// number of jobs that run at once. Kinds with no finished job yet cannot be
// timed; they are returned so that the estimate can say what it leaves out.
func ETA(left map[job.Kind]int, durations map[job.Kind][]time.Duration, parallel int) (time.Duration, []job.Kind) {
	var total time.Duration
	var untimed []job.Kind
	for k, n := range left {
		if n == 0 {
			continue
		}
		d := durations[k]
		if len(d) == 0 {
			untimed = append(untimed, k)
			continue
		}
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		total += sum / time.Duration(len(d)) * time.Duration(n)
	}
	sort.Slice(untimed, func(i, j int) bool { return untimed[i] < untimed[j] })
	return total / time.Duration(max(parallel, 1)), untimed
}
