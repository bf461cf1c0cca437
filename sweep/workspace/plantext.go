package workspace

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// WritePlanTable prints a plan as sweep plan does: its size, how many of
// its jobs the store st holds (nil: none) and which sweeps ran them, how
// many another build made, per kind, then one line per job.
func WritePlanTable(out io.Writer, p *job.Plan, st *Store) error {
	s := p.Stats
	fmt.Fprintf(out, "sweep %s: %d grid points -> %d jobs (%d pretraining, %d feature extraction, %d evaluation); %d jobs saved by sharing\n",
		p.Name, s.Points, s.Jobs, s.Pretrain, s.Features, s.Eval, s.Saved)
	stored := st.Holds(p) // nil store: holds nothing
	have := map[string]string{}
	others, n := map[string]int{}, 0
	this := jobdir.CurrentBuild().Code()
	for id, m := range stored {
		have[id] = cmp.Or(m.Origin.Sweep, "?")
		if b := m.Build.Code(); b != this {
			others[b]++
			n++
		}
	}
	fmt.Fprintf(out, "%d jobs to run, %d in the store already\n", len(p.Jobs)-len(have), len(have))
	if n > 0 {
		var parts []string
		for _, b := range slices.Sorted(maps.Keys(others)) {
			parts = append(parts, fmt.Sprintf("%d by %s", others[b], b))
		}
		fmt.Fprintf(out, "%d of the stored jobs were made by another build than this one (%s): %s\n", n, this, strings.Join(parts, ", "))
	}
	for _, kc := range p.KindCounts() {
		from := map[string]int{}
		n := 0
		for _, j := range p.Jobs {
			if sweep, ok := have[j.ID]; ok && j.Spec.Kind == kc.Kind {
				from[sweep]++
				n++
			}
		}
		line := fmt.Sprintf("  %-9s %4d new", kc.Kind, kc.N-n)
		if n > 0 {
			var parts []string
			for _, sw := range slices.Sorted(maps.Keys(from)) {
				parts = append(parts, fmt.Sprintf("%d from %s", from[sw], sw))
			}
			line += fmt.Sprintf(", %4d stored (%s)", n, strings.Join(parts, ", "))
		}
		fmt.Fprintln(out, line)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tDATASET\tMETHOD\tENCODER\tSEED\tLABELS\tDEPENDS ON\tSTORE")
	for _, j := range p.Jobs {
		sp := j.Spec
		enc := sp.ArchLabel()
		if sp.Role == job.RoleSmall || sp.Role == job.RoleLarge {
			enc += " (" + sp.Role + ", with " + sp.PeerArch + ")"
		}
		if enc == "" {
			enc = "-"
		}
		deps := "-"
		if len(j.Deps) > 0 {
			deps = j.Deps[0]
		}
		where := "new"
		if sw, ok := have[j.ID]; ok {
			where = "from " + sw
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", j.ID, sp.Kind, sp.Dataset, sp.Method, enc, sp.Seed, sp.LabelsText(), deps, where)
	}
	return tw.Flush()
}
