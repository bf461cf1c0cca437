package slurm

import (
	"testing"

	"github.com/dogo-sweep/dogo-sweep/internal/golden"
	"github.com/dogo-sweep/dogo-sweep/job"
)

func TestScriptGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    ScriptData
	}{
		{"cpu-array", ScriptData{Name: "quickstart", RunDir: "/runs/q-1", TaskFile: "/runs/q-1/slurm/a.tasks", Binary: "/opt/sweep",
			Output: "/runs/q-1/slurm/a-%a.out", Tasks: 12, CPUs: 1, Slurm: job.Slurm{Throttle: 4}}},
		{"gpu-array-all-settings", ScriptData{Name: "cifar10", RunDir: "/runs/c-1", TaskFile: "/runs/c-1/slurm/b.tasks", Binary: "/opt/sweep",
			Output: "/runs/c-1/slurm/b-%a.out", Tasks: 3, CPUs: 4, GPUs: 1, MemGB: 16,
			Slurm: job.Slurm{Partition: "gpu", Account: "lab", QoS: "normal", Time: "24:00:00", Throttle: 2, Extra: []string{"--constraint=a100", "--mail-type=FAIL"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Script(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name+".sbatch", got)
		})
	}
	if _, err := Script(ScriptData{Tasks: 0}); err == nil {
		t.Error("an empty array was rendered")
	}
}

func TestShapes(t *testing.T) {
	if s := shapeOf(&job.Job{CPUs: 2, GPUFraction: 0.25}); s.gpus != 1 || s.cpus != 2 {
		t.Errorf("a GPU share becomes one gres GPU: %+v", s)
	}
	if s := shapeOf(&job.Job{}); s.cpus != 1 {
		t.Errorf("at least one CPU: %+v", s)
	}
}

func TestTerminalStates(t *testing.T) {
	for s, want := range map[string]bool{"PENDING": false, "RUNNING": false, "COMPLETING": false, "COMPLETED": true, "FAILED": true,
		"CANCELLED": true, "TIMEOUT": true, "PREEMPTED": true, "NODE_FAIL": true, "OUT_OF_MEMORY": true} {
		if terminal(s) != want {
			t.Errorf("terminal(%s) = %v", s, !want)
		}
	}
}

func TestParseSqueue(t *testing.T) {
	out := []byte(`{"jobs": [
	 {"job_id": 12, "array_job_id": 10, "array_task_id": 0, "array_task_string": "", "job_state": "COMPLETED", "exit_code": 0, "state_reason": "None"},
	 {"job_id": 13, "array_job_id": 10, "array_task_id": 1, "array_task_string": "", "job_state": "FAILED", "exit_code": 768, "state_reason": "NonZeroExitCode"},
	 {"job_id": 10, "array_job_id": 10, "array_task_id": null, "array_task_string": "2-4,7%2", "job_state": "PENDING", "exit_code": 0, "state_reason": "JobArrayTaskLimit"},
	 {"job_id": 20, "array_job_id": 0, "job_state": "RUNNING"}]}`)
	states, err := parseSqueue(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"10_0": "COMPLETED", "10_1": "FAILED", "10_2": "PENDING", "10_3": "PENDING", "10_4": "PENDING", "10_7": "PENDING"}
	if len(states) != len(want) {
		t.Fatalf("states %v", states)
	}
	for id, st := range want {
		if states[id].state != st {
			t.Errorf("%s: %q, want %q", id, states[id].state, st)
		}
	}
	if states["10_1"].exitCode>>8 != 3 {
		t.Errorf("exit code %d", states["10_1"].exitCode)
	}
	if got := expandTasks("2-8:3"); len(got) != 3 || got[2] != 8 {
		t.Errorf("expandTasks(2-8:3) = %v", got)
	}
}

func TestParseScontrol(t *testing.T) {
	st, ok := parseScontrol("JobId=41 ArrayJobId=40 ArrayTaskId=1 JobName=sweep-ctl JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 RunTime=00:00:01\n")
	if !ok || st.state != "FAILED" || st.reason != "NonZeroExitCode" || st.exitCode>>8 != 3 {
		t.Errorf("parsed %+v, %v", st, ok)
	}
	if _, ok := parseScontrol("slurm_load_jobs error: Invalid job id specified"); ok {
		t.Error("an error message parsed as a state")
	}
}
