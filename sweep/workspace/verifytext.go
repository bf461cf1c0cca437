package workspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// VerifyReport checks entries completely (VerifyEntries, parallel ways at
// once) and prints as sweep verify does: how much was read and how fast,
// and each damaged entry with why; with quarantine it moves them aside. It
// returns how many were damaged.
func (s *Store) VerifyReport(ctx context.Context, out io.Writer, ids []string, parallel int, quarantine bool) (int, error) {
	start := time.Now()
	checks, err := s.VerifyEntries(ctx, ids, parallel)
	if err != nil {
		return 0, err
	}
	secs := time.Since(start).Seconds()
	var total int64
	var damaged []EntryCheck
	for _, ch := range checks {
		total += ch.Bytes
		if ch.Err != nil {
			damaged = append(damaged, ch)
		}
	}
	fmt.Fprintf(out, "checked %d entries, %s, in %.1f s (%s/s): %d healthy, %d damaged\n",
		len(checks), BytesText(total), secs, BytesText(int64(float64(total)/max(secs, 1e-3))), len(checks)-len(damaged), len(damaged))
	for _, d := range damaged {
		reason := d.Err.Error()
		var dm *jobdir.Damaged
		if errors.As(d.Err, &dm) {
			reason = dm.Reason
		}
		fmt.Fprintf(out, "  damaged: %s: %s\n", d.ID, reason)
		if !quarantine {
			continue
		}
		to, err := s.Quarantine(d.ID, reason)
		if err != nil {
			return len(damaged), err
		}
		if to != "" {
			fmt.Fprintf(out, "    moved to %s; the next launch that needs it runs its job again\n", to)
		}
	}
	if len(damaged) > 0 && !quarantine {
		fmt.Fprintln(out, "(sweep verify --quarantine moves them aside; the next launch that needs them runs their jobs again)")
	}
	return len(damaged), nil
}
