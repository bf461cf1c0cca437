package results

import (
	"path/filepath"
	"time"

	"github.com/dogo-sweep/dogo-sweep/jobdir"
)

// DecisionRow is one deciding comparison of a sequential sweep's decision
// about a cell (a pair on a data set with an objective) after a round:
// the seeds the cell had, whether it was decided, the seeds it got next (0:
// it stopped), and the comparison's statistics (mean and half-width in
// accuracy, the look's level, the p-value scaled to it).
type DecisionRow struct {
	Time     time.Time `parquet:"time,timestamp(millisecond)"`
	Cell     string    `parquet:"cell"`
	Seeds    int64     `parquet:"seeds"`
	Decided  bool      `parquet:"decided"`
	Next     int64     `parquet:"next"`
	Protocol string    `parquet:"protocol"`
	Setting  string    `parquet:"setting"`
	Encoder  string    `parquet:"encoder"`
	Verdict  string    `parquet:"verdict"`
	N        int64     `parquet:"n"`
	Mean     float64   `parquet:"mean"`
	Half     float64   `parquet:"half"`
	Level    float64   `parquet:"level"`
	P        float64   `parquet:"p"`
}

// WriteDecisions replaces dir's decisions.parquet with rows.
func WriteDecisions(dir string, rows []DecisionRow) error {
	return writeAtomic(filepath.Join(dir, jobdir.DecisionsTable), rows)
}

// ReadDecisions reads dir's decisions.parquet (none: no rows).
func ReadDecisions(dir string) ([]DecisionRow, error) {
	return readIfExists[DecisionRow](filepath.Join(dir, jobdir.DecisionsTable))
}
