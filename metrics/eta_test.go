package metrics

import (
	"testing"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
)

func TestETAByKind(t *testing.T) {
	left := map[job.Kind]int{job.KindPretrain: 2, job.KindLinear: 10, job.KindKNN: 3}
	durs := map[job.Kind][]time.Duration{job.KindPretrain: {100 * time.Second, 200 * time.Second}, job.KindLinear: {2 * time.Second}}
	// (2 x 150 s + 10 x 2 s) / 2 slots = 160 s; kNN not yet timed.
	eta, untimed := ETA(left, durs, 2)
	if eta != 160*time.Second || len(untimed) != 1 || untimed[0] != job.KindKNN {
		t.Errorf("ETA %s, untimed %v", eta, untimed)
	}
}
