package dashboards

import (
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/metrics"
	"github.com/google/go-cmp/cmp"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// The committed JSON is what the builders make (go run ./dashboards/gen), and
// Grafana's SDK accepts it strictly.
func TestDashboardsBuildValidateAndAreCommitted(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	uids := map[string]bool{}
	for name, b := range All() {
		d, err := b.Build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		built, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v (run go run ./dashboards/gen from the repository root)", err)
		}
		if diff := cmp.Diff(string(committed), string(built)+"\n"); diff != "" {
			t.Errorf("%s is stale; run go run ./dashboards/gen (-committed +built):\n%s", name, diff)
		}
		if err := validate(committed); err != nil {
			t.Errorf("%s does not validate: %v", name, err)
		}
		if d.Uid == nil || uids[*d.Uid] {
			t.Errorf("%s: missing or repeated uid", name)
		} else {
			uids[*d.Uid] = true
		}
		for _, v := range []string{`"name": "sweep"`, `"name": "run"`, `"name": "dataset"`} {
			if !strings.Contains(string(committed), v) {
				t.Errorf("%s lacks the template variable %s", name, v)
			}
		}
	}
}

// validate checks dashboard JSON strictly with the SDK. On success the SDK
// returns a typed-nil cog.BuildErrors: an error value with no entries.
func validate(raw []byte) error {
	var d dashboard.Dashboard
	err := d.UnmarshalJSONStrict(raw)
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

func TestValidateRejectsBadDashboards(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, bad := range []string{`{"title": 3}`, `{"panels": "none"}`, `{"uid": "x", "time": {"from": 1}}`} {
		if validate([]byte(bad)) == nil {
			t.Errorf("validate accepted %s", bad)
		}
	}
}

var metricName = regexp.MustCompile(`\b(sweep_[a-z_]+)\b`)

// Every metric a panel or variable queries must be one the exporter serves.
func TestPanelsQueryServedMetrics(t *testing.T) {
	served := map[string]bool{}
	for _, n := range metrics.Names() {
		served[n] = true
	}
	for name, b := range All() {
		d, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(d)
		found := 0
		for _, m := range metricName.FindAllStringSubmatch(string(raw), -1) {
			found++
			if !served[m[1]] {
				t.Errorf("%s queries %s, which the exporter does not serve", name, m[1])
			}
		}
		if found == 0 {
			t.Errorf("%s queries no sweep metric", name)
		}
	}
}
