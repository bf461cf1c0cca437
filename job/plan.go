package job

import (
	"fmt"
	"sort"
	"strings"
)

// Plan is the job graph a grid expands to, in dependency order.
type Plan struct {
	Name string `json:"name"`
	// Revision is the pretraining revision of the sweep that made the plan;
	// Revisions every code's (plans made before they existed lack them).
	Revision  string          `json:"pretrain_revision"`
	Revisions map[Code]string `json:"revisions,omitempty"`
	// Settings are the grid's axes and shared settings, for reports.
	Settings *Settings `json:"settings,omitempty"`
	Jobs     []*Job    `json:"jobs"`
	Stats    PlanStats `json:"stats"`
	index    map[string]*Job
}

// Settings summarise the grid a plan came from.
type Settings struct {
	Datasets   []string `json:"datasets"`
	Objectives []string `json:"objectives"`
	Pairs      []string `json:"pairs"`
	Seeds      []int    `json:"seeds"`
	Pretrain   Pretrain `json:"pretrain"`
	Eval       Eval     `json:"eval"`
	// DataDir is the folder the data sets were read from.
	DataDir string `json:"data_dir,omitempty"`
	// Decide is how the report (and a sequential sweep) decides
	// comparisons.
	Decide Decide `json:"decide"`
}

// Decide is how comparisons are decided: the protocols that decide a
// sequential sweep's cells, the margin in accuracy points within which a
// difference counts as none, and a sequential sweep's seeds (Max 0: fixed
// seeds).
type Decide struct {
	On     []string `json:"on,omitempty"`
	Margin float64  `json:"margin,omitempty"`
	Min    int      `json:"min,omitempty"`
	Max    int      `json:"max,omitempty"`
}

// MarginOr is the margin, or the default of half a point for plans made
// before it was recorded.
func (d Decide) MarginOr() float64 {
	if d.Margin > 0 {
		return d.Margin
	}
	return 0.5
}

// PlanStats counts what the plan holds.
type PlanStats struct {
	Points    int `json:"points"`
	Pretrain  int `json:"pretrain_jobs"`
	Features  int `json:"feature_jobs"`
	Eval      int `json:"eval_jobs"`
	Jobs      int `json:"jobs"`
	Requested int `json:"jobs_requested"`
	Saved     int `json:"jobs_saved_by_sharing"`
}

// Job returns the job with the given ID, or nil.
func (p *Plan) Job(id string) *Job {
	if p.index == nil {
		p.index = make(map[string]*Job, len(p.Jobs))
		for _, j := range p.Jobs {
			p.index[j.ID] = j
		}
	}
	return p.index[id]
}

// Topo checks that every dependency precedes its dependents.
func (p *Plan) Topo() error {
	seen := map[string]bool{}
	for _, j := range p.Jobs {
		for _, d := range j.Deps {
			if !seen[d] {
				return fmt.Errorf("plan: job %s depends on %s, which is not before it", j.ID, d)
			}
		}
		seen[j.ID] = true
	}
	return nil
}

// KindCount is a number of jobs of one kind.
type KindCount struct {
	Kind Kind
	N    int
}

// KindCounts returns how many jobs of each kind the plan holds, sorted by kind.
func (p *Plan) KindCounts() []KindCount {
	m := map[Kind]int{}
	for _, j := range p.Jobs {
		m[j.Spec.Kind]++
	}
	var out []KindCount
	for k, n := range m {
		out = append(out, KindCount{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// Find is the job with an ID, a name, or an ID's first 6 or more
// characters (nil if none).
func (p *Plan) Find(ref string) *Job {
	if j := p.Job(ref); j != nil {
		return j
	}
	for _, j := range p.Jobs {
		if j.Name == ref || strings.HasPrefix(j.ID, ref) && len(ref) >= 6 {
			return j
		}
	}
	return nil
}
