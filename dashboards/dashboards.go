// Package dashboards builds the project's Grafana dashboards with Grafana's
// own Go SDK: a sweep overview, training curves (DoGo vs solo) and the
// evaluation comparison. `go run ./dashboards/gen` writes them as JSON next
// to this file, where Grafana's provisioning (provisioning/) picks them up.
package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// DatasourceUID is the uid of the Prometheus data source in provisioning/.
const DatasourceUID = "dogo-sweep-prometheus"

func ptr[T any](v T) *T { return &v }

func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}
}

// sel is the label selector every query carries: the chosen sweeps (grid
// names) and runs (run folders: two sweeps of one grid are two runs), and
// for series by data set, the chosen data sets.
const sel = `sweep=~"$sweep", run=~"$run"`
const selData = `sweep=~"$sweep", run=~"$run", dataset=~"$dataset"`

// orZero makes a panel show an explicit 0 where a sweep has no such series
// yet, or only undefined values (no job of the kind has ended: a quantile
// or a mean over nothing): a sweep whose jobs all came from the store
// shows zeros, not empty panels.
func orZero(expr string) string { return "(" + expr + " >= 0) or on() vector(0)" }

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend).Datasource(datasource())
}

// variables are the data source, the sweeps, their runs and their data
// sets, all from sweep_planned_jobs, which every sweep exports from its
// start, whatever its jobs do.
func variables(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	v := func(name, label, query string) *dashboard.QueryVariableBuilder {
		return dashboard.NewQueryVariableBuilder(name).Label(label).Query(dashboard.StringOrMap{String: ptr(query)}).
			Datasource(datasource()).Multi(true).IncludeAll(true).Refresh(dashboard.VariableRefreshOnTimeRangeChanged)
	}
	return b.
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(v("sweep", "Sweep", "label_values(sweep_planned_jobs, sweep)")).
		WithVariable(v("run", "Run", `label_values(sweep_planned_jobs{sweep=~"$sweep"}, run)`)).
		WithVariable(v("dataset", "Data set", `label_values(sweep_planned_jobs{sweep=~"$sweep", run=~"$run"}, dataset)`))
}

func base(uid, title, description string) *dashboard.DashboardBuilder {
	return variables(dashboard.NewDashboardBuilder(title).Uid(uid).Description(description).
		Tags([]string{"dogo-sweep"}).Refresh("10s").Time("now-6h", "now").Timezone("browser").Editable())
}

func series(title, unit string, targets ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Unit(unit).Datasource(datasource()).Height(8).Span(12)
	for _, t := range targets {
		p = p.WithTarget(t)
	}
	return p
}

func single(title, unit string, target *prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Unit(unit).Datasource(datasource()).Height(4).Span(6).WithTarget(target)
}

// Overview is the sweep overview: jobs by state, throughput of finished jobs,
// failures and retries, job durations, slots in use, ETA.
func Overview() *dashboard.DashboardBuilder {
	return base("dogo-sweep-overview", "DoGo sweep: overview", "Jobs by state, outcomes, retries, durations, resources and ETA of running sweeps.").
		WithPanel(single("Jobs running", "none", query(`sum(sweep_jobs{`+sel+`, state="running"})`, "running"))).
		WithPanel(single("Jobs done", "none", query(`sum(sweep_jobs{`+sel+`, state="done"})`, "done"))).
		WithPanel(single("Jobs failed for good", "none", query(`sum(sweep_jobs{`+sel+`, state="gave_up"})`, "failed"))).
		WithPanel(single("ETA", "s", query(`max(sweep_eta_seconds{`+sel+`})`, "eta"))).
		WithPanel(series("Jobs by kind and state", "none", query(`sum by (kind, state) (sweep_jobs{`+sel+`})`, "{{kind}} {{state}}"))).
		WithPanel(series("Finished attempts per minute, by outcome", "none", query(`sum by (outcome) (rate(sweep_jobs_finished_total{`+sel+`}[5m])) * 60`, "{{outcome}}"))).
		WithPanel(series("Retries per hour", "none", query(`sum by (kind) (increase(sweep_job_retries_total{`+sel+`}[1h]))`, "{{kind}}"))).
		WithPanel(series("Job duration, 90th percentile", "s", query(orZero(`histogram_quantile(0.9, sum by (le, kind) (rate(sweep_job_duration_seconds_bucket{`+sel+`}[15m])))`), "{{kind}}"))).
		WithPanel(series("Mean job duration", "s", query(orZero(`sum by (kind) (rate(sweep_job_duration_seconds_sum{`+sel+`}[15m])) / sum by (kind) (rate(sweep_job_duration_seconds_count{`+sel+`}[15m]))`), "{{kind}}"))).
		WithPanel(series("Slots in use", "none", query(`sum by (resource) (sweep_slots_in_use{`+sel+`})`, "{{resource}}")))
}

// Training shows the training curves of running pretraining jobs, DoGo
// against solo (0 while none runs). The loss of a DoGo pair includes its KL
// term (kd_weight times the KL), a solo job's does not: the two are shown
// side by side, never divided.
func Training() *dashboard.DashboardBuilder {
	return base("dogo-sweep-training", "DoGo sweep: training, DoGo vs solo", "Loss and throughput of running pretraining jobs, by method and architecture (a DoGo pair's loss includes its weighted KL term).").
		WithPanel(series("Training loss (DoGo: SSL + weighted KL)", "none", query(orZero(`avg by (method, architecture) (sweep_training_loss{`+selData+`})`), "{{method}} {{architecture}}"))).
		WithPanel(series("Training throughput", "none", query(orZero(`sum by (method, architecture) (sweep_training_images_per_second{`+selData+`})`), "{{method}} {{architecture}} img/s")))
}

// Evaluation compares finished evaluations: each architecture solo, as a
// DoGo peer, and the reference encoders.
func Evaluation() *dashboard.DashboardBuilder {
	b := base("dogo-sweep-evaluation", "DoGo sweep: evaluation, DoGo vs solo", "Mean test accuracy of finished probes by protocol; the spread over seeds and the paired intervals are in report.md.")
	for _, k := range []struct{ kind, title string }{
		{"linear", "Linear probe, all labels"}, {"knn", "kNN accuracy"}, {"fraction", "Limited labels"}, {"noise", "Noisy labels"},
	} {
		b = b.WithPanel(series(k.title, "percentunit",
			query(`avg by (method, architecture, role) (sweep_eval_accuracy_ratio{`+selData+`, kind="`+k.kind+`"})`, "{{method}} {{architecture}} {{role}}")))
	}
	return b.WithPanel(series("DoGo small peer minus solo (linear probe)", "percentunit",
		query(`avg by (dataset, architecture) (sweep_eval_accuracy_ratio{`+selData+`, kind="linear", method="dogo", role="small"}) - on (dataset, architecture) avg by (dataset, architecture) (sweep_eval_accuracy_ratio{`+selData+`, kind="linear", method="solo"})`, "{{dataset}} {{architecture}}")))
}

// All returns every dashboard, by file name.
func All() map[string]cog.Builder[dashboard.Dashboard] {
	return map[string]cog.Builder[dashboard.Dashboard]{
		"overview.json":   Overview(),
		"training.json":   Training(),
		"evaluation.json": Evaluation(),
	}
}
