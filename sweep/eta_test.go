package sweep

import (
	"testing"
	"time"
)

func TestETAByKind(t *testing.T) {
	left := map[Kind]int{KindPretrain: 2, KindLinear: 10, KindKNN: 3}
	durs := map[Kind][]time.Duration{KindPretrain: {100 * time.Second, 200 * time.Second}, KindLinear: {2 * time.Second}}
	// (2 x 150 s + 10 x 2 s) / 2 slots = 160 s; kNN not yet timed.
	eta, untimed := ETA(left, durs, 2)
	if eta != 160*time.Second || len(untimed) != 1 || untimed[0] != KindKNN {
		t.Errorf("ETA %s, untimed %v", eta, untimed)
	}
}
