// Package metrics exports a sweep's progress to Prometheus from the
// controller, fed by the records its child jobs report, so that metrics
// survive job crashes. Labels stay bounded (sweep, run, dataset, objective,
// method, architecture, role, kind, outcome): job IDs and seeds belong in
// Parquet. Every series carries the grid's name (sweep) and the run
// folder's (run), so two sweeps of one grid are two series.
package metrics

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
)

// Exporter is a controller.Observer that keeps Prometheus metrics.
type Exporter struct {
	reg      *prometheus.Registry
	sweep    string
	run      string
	now      func() time.Time
	mu       sync.Mutex
	state    map[string]job.State
	jobs     *prometheus.GaugeVec
	finished *prometheus.CounterVec
	retries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	imgs     *prometheus.GaugeVec
	loss     *prometheus.GaugeVec
	acc      *prometheus.GaugeVec
	slots    *prometheus.GaugeVec
	eta      prometheus.Gauge
	planned  *prometheus.GaugeVec
	accSum   map[string]*meanAcc
	ips      map[string]float64 // images/s of running pretraining jobs, by job
	left     map[job.Kind]int
	durs     map[job.Kind][]time.Duration
	running  int
	groups   map[string]string // pretraining jobs' groups, by job
}

type meanAcc struct {
	sum float64
	n   int
}

// New makes an exporter for a plan run in the run folder named run,
// registering on its own registry. Every series a dashboard panel reads
// exists from the start (counters at 0), so that a sweep whose jobs all
// come from the store shows zeros, not empty panels.
func New(p *job.Plan, run string, now func() time.Time) *Exporter {
	if now == nil {
		now = time.Now
	}
	c := prometheus.Labels{"sweep": p.Name, "run": run}
	e := &Exporter{reg: prometheus.NewRegistry(), sweep: p.Name, run: run, now: now, state: map[string]job.State{}, accSum: map[string]*meanAcc{},
		ips: map[string]float64{}, left: map[job.Kind]int{}, durs: map[job.Kind][]time.Duration{}, groups: map[string]string{}}
	e.jobs = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sweep_jobs", Help: "Jobs by kind and state.", ConstLabels: c}, []string{"kind", "state"})
	e.planned = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sweep_planned_jobs", Help: "Jobs of the plan, by data set and kind (every sweep has it: dashboards take their variables from it).", ConstLabels: c}, []string{"dataset", "kind"})
	e.finished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sweep_jobs_finished_total", Help: "Job attempts finished, by kind and outcome (jobs reused from the store are not attempts).", ConstLabels: c}, []string{"kind", "outcome"})
	e.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sweep_job_retries_total", Help: "Job attempts after the first, by kind.", ConstLabels: c}, []string{"kind"})
	e.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sweep_job_duration_seconds", Help: "Wall time of job attempts.", ConstLabels: c,
		Buckets: prometheus.ExponentialBuckets(1, 2.5, 12)}, []string{"kind", "outcome"})
	e.imgs = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sweep_training_images_per_second", Help: "Training throughput of running pretraining jobs, summed over the running jobs of each group.", ConstLabels: c}, []string{"dataset", "objective", "method", "architecture"})
	e.loss = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sweep_training_loss", Help: "Last reported training loss of running pretraining jobs, by group.", ConstLabels: c}, []string{"dataset", "objective", "method", "architecture"})
	e.acc = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sweep_eval_accuracy_ratio", Help: "Mean test accuracy (at the selected epoch, as the report's; kNN for kind=knn) of finished evaluations, run or reused from the store, over seeds and probe settings of the kind.", ConstLabels: c}, []string{"dataset", "objective", "method", "architecture", "role", "kind"})
	e.slots = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sweep_slots_in_use", Help: "CPU cores and GPUs held by running jobs.", ConstLabels: c}, []string{"resource"})
	e.eta = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sweep_eta_seconds", Help: "Estimated seconds until the sweep ends: jobs left of each kind times the kind's mean duration, over the jobs running at once.", ConstLabels: c})
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sweep_build_info", Help: "Version of the sweep binary.", ConstLabels: prometheus.Labels{"sweep": p.Name, "run": run, "version": job.Version}})
	build.Set(1)
	e.reg.MustRegister(e.jobs, e.planned, e.finished, e.retries, e.duration, e.imgs, e.loss, e.acc, e.slots, e.eta, build)
	e.addJobs(p)
	for _, r := range []string{"cpu", "gpu"} {
		e.slots.WithLabelValues(r).Set(0)
	}
	return e
}

// Grow adds the jobs of a grown plan (a sequential sweep's next round)
// that the exporter does not know yet, as pending.
func (e *Exporter) Grow(p *job.Plan) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addJobs(p)
}

func (e *Exporter) addJobs(p *job.Plan) {
	for _, j := range p.Jobs {
		if _, known := e.state[j.ID]; known {
			continue
		}
		k := string(j.Spec.Kind)
		e.groups[j.ID] = strings.Join(group(j), "|")
		e.state[j.ID] = job.StatePending
		e.jobs.WithLabelValues(k, string(job.StatePending)).Inc()
		e.planned.WithLabelValues(j.Spec.Dataset, k).Inc()
		e.left[j.Spec.Kind]++
		e.retries.WithLabelValues(k).Add(0)
		for _, st := range []job.State{job.StateRunning, job.StateDone, job.StateFailed, job.StateGaveUp, job.StateSkipped} {
			e.jobs.WithLabelValues(k, string(st)).Add(0)
		}
		for _, o := range []string{"success", "failure"} {
			e.finished.WithLabelValues(k, o).Add(0)
		}
	}
}

// Registry returns the exporter's registry.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler serves /metrics.
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{Registry: e.reg})
}

// Serve serves /metrics at addr ("host:port"; port 0 picks one) until the
// returned function is called; where is the address it listens on.
func (e *Exporter) Serve(addr string) (where string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// MarkDone records a job found finished (in the store) rather than run.
func (e *Exporter) MarkDone(j *job.Job) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.move(j, job.StateDone)
	e.left[j.Spec.Kind]--
}

func (e *Exporter) move(j *job.Job, to job.State) {
	k := string(j.Spec.Kind)
	e.jobs.WithLabelValues(k, string(e.state[j.ID])).Dec()
	e.jobs.WithLabelValues(k, string(to)).Inc()
	e.state[j.ID] = to
}

func group(j *job.Job) []string {
	s := j.Spec
	arch := s.Arch
	if s.Kind == job.KindPretrain {
		arch = ""
		for i, a := range s.Archs {
			if i > 0 {
				arch += "+"
			}
			arch += a
		}
	}
	return []string{s.Dataset, s.Objective, s.Method, arch}
}

// JobStarted counts a running job and its slots.
func (e *Exporter) JobStarted(j *job.Job, attempt int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.move(j, job.StateRunning)
	e.running++
	if attempt > 1 {
		e.retries.WithLabelValues(string(j.Spec.Kind)).Inc()
	}
	e.slots.WithLabelValues("cpu").Add(float64(max(j.CPUs, 1)))
	if j.GPUs > 0 {
		e.slots.WithLabelValues("gpu").Add(float64(j.GPUs))
	}
}

// JobRecord updates throughput, loss and accuracy.
func (e *Exporter) JobRecord(j *job.Job, attempt int, r job.Record) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case r.Type == job.RecProgress && j.Spec.Kind == job.KindPretrain:
		e.ips[j.ID] = r.ImagesPerSec
		e.setImages(j)
		e.loss.WithLabelValues(group(j)...).Set(r.Value)
	case r.Type == job.RecMetric && r.Split == job.SplitTest && (r.Name == job.MetricAccSelected || r.Name == job.MetricKNN):
		s := j.Spec
		labels := []string{s.Dataset, s.Objective, s.Method, s.Arch, s.Role, string(s.Kind)}
		k := ""
		for _, l := range labels {
			k += l + "|"
		}
		m := e.accSum[k]
		if m == nil {
			m = &meanAcc{}
			e.accSum[k] = m
		}
		m.sum += r.Value
		m.n++
		e.acc.WithLabelValues(labels...).Set(m.sum / float64(m.n))
	}
}

// JobEnded counts the outcome and updates the ETA. A job reused from the
// store (attempt 0) is only counted done.
func (e *Exporter) JobEnded(j *job.Job, attempt int, st job.State, err error, start, end time.Time) {
	if attempt == 0 {
		e.MarkDone(j)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	outcome := "success"
	if st != job.StateDone {
		outcome = "failure"
	}
	k := string(j.Spec.Kind)
	e.move(j, st)
	e.finished.WithLabelValues(k, outcome).Inc()
	e.duration.WithLabelValues(k, outcome).Observe(end.Sub(start).Seconds())
	e.slots.WithLabelValues("cpu").Sub(float64(max(j.CPUs, 1)))
	if j.GPUs > 0 {
		e.slots.WithLabelValues("gpu").Sub(float64(j.GPUs))
	}
	if j.Spec.Kind == job.KindPretrain {
		delete(e.ips, j.ID)
		e.setImages(j)
	}
	// The ETA divides the work left by the jobs that run at once: as many
	// as ran until this one ended (the next one starts in its place).
	parallel := max(e.running, 1)
	e.running--
	if st == job.StateDone {
		e.left[j.Spec.Kind]--
		e.durs[j.Spec.Kind] = append(e.durs[j.Spec.Kind], end.Sub(start))
	}
	eta, _ := ETA(e.left, e.durs, parallel)
	e.eta.Set(eta.Seconds())
}

// setImages sets a group's throughput: the sum over its running jobs.
func (e *Exporter) setImages(j *job.Job) {
	sum := 0.0
	for id, v := range e.ips {
		if e.groups[id] == e.groups[j.ID] {
			sum += v
		}
	}
	e.imgs.WithLabelValues(group(j)...).Set(sum)
}

// Push sends the exporter's metrics to a Prometheus Pushgateway, grouped by
// run, for sweeps whose controller exits before a scrape.
func (e *Exporter) Push(url string) error {
	return push.New(url, "dogo_sweep").Gatherer(e.reg).Grouping("instance", e.run).Push()
}

// Names lists every series name the exporter serves (histograms with their
// _bucket, _sum and _count series). Dashboards are checked against it.
func Names() []string {
	return []string{
		"sweep_jobs", "sweep_planned_jobs", "sweep_jobs_finished_total", "sweep_job_retries_total",
		"sweep_job_duration_seconds_bucket", "sweep_job_duration_seconds_sum", "sweep_job_duration_seconds_count",
		"sweep_training_images_per_second", "sweep_training_loss", "sweep_eval_accuracy_ratio",
		"sweep_slots_in_use", "sweep_eta_seconds", "sweep_build_info",
	}
}
