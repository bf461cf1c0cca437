package jobdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/job"
)

// entry makes a finished features job's folder with its manifest.
func entry(t *testing.T) Dir {
	t.Helper()
	d := Dir(t.TempDir())
	jobs, metrics := PartFiles(d.Results(), "f1", 1)
	os.MkdirAll(filepath.Dir(jobs), 0o755)
	for path, content := range map[string]string{d.Spec(): "{}", d.Records(): "{}\n", jobs: "j", metrics: "m", d.Features(): strings.Repeat("x", CheapHash+1)} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.WriteManifest(Manifest{Job: "f1", Kind: string(job.KindFeatures)}); err != nil {
		t.Fatal(err)
	}
	return d
}

// Check finds every kind of mismatch with the manifest: a file's size, a
// small file's hash (a large one's only when asked for every hash), a
// missing file, another job's manifest, an output the kind must have.
func TestCheckAgainstTheManifest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(d Dir)
		hash   int64
		want   string
	}{
		{"healthy", func(Dir) {}, CheapHash, ""},
		{"size", func(d Dir) { os.WriteFile(d.Spec(), []byte("{ }"), 0o644) }, CheapHash, "spec.json has 3 bytes"},
		{"small file's hash", func(d Dir) { os.WriteFile(d.Spec(), []byte("[]"), 0o644) }, CheapHash, "spec.json does not match"},
		{"large file, sizes only", func(d Dir) { os.WriteFile(d.Features(), []byte(strings.Repeat("y", CheapHash+1)), 0o644) }, CheapHash, ""},
		{"large file, every hash", func(d Dir) { os.WriteFile(d.Features(), []byte(strings.Repeat("y", CheapHash+1)), 0o644) }, -1, "features.bin does not match"},
		{"missing", func(d Dir) { os.Remove(d.Records()) }, CheapHash, "records.jsonl is missing"},
		{"no manifest", func(d Dir) { os.Remove(d.Manifest()) }, CheapHash, "has no done.json"},
		{"lacks its features", func(d Dir) {
			m, _ := d.ReadManifest()
			os.Remove(d.Features())
			d.WriteManifest(*m)
		}, CheapHash, "lacks its features"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := entry(t)
			tc.damage(d)
			_, err := d.Check("f1", tc.hash)
			var dm *Damaged
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("healthy entry: %v", err)
			case tc.want != "" && (!errors.As(err, &dm) || !strings.Contains(dm.Reason, tc.want)):
				t.Errorf("error %v, want damage saying %q", err, tc.want)
			}
		})
	}
	if _, err := entry(t).Check("other", CheapHash); err == nil || !strings.Contains(err.Error(), "job f1's") {
		t.Errorf("another job's entry: %v", err)
	}
}

// A new holder of a job carries over what the old folder holds: the
// append-only files copied (the old holder's later writes never reach the
// new folder), the others linked, what each attempt rewrites left behind.
func TestCarryOver(t *testing.T) {
	from := entry(t)
	os.MkdirAll(from.Checkpoints(), 0o755)
	js, bin, _ := from.CheckpointFiles("checkpoint-n0000001-x")
	os.WriteFile(bin, []byte("weights"), 0o644)
	os.WriteFile(js, []byte("{}"), 0o644)
	os.WriteFile(from.Task(), []byte("{}"), 0o644)
	to := Dir(filepath.Join(t.TempDir(), "new"))
	if err := CarryOver(from, to); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(from.Records(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("late\n")
	f.Close()
	if b, _ := os.ReadFile(to.Records()); string(b) != "{}\n" {
		t.Errorf("records %q: the old holder's late write reached the new folder", b)
	}
	nbin := filepath.Join(to.Checkpoints(), filepath.Base(bin))
	a, _ := os.Stat(bin)
	b, err := os.Stat(nbin)
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("the checkpoint was not linked: %v", err)
	}
	for _, gone := range []string{to.Task(), to.Manifest(), to.Results()} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s was carried over", gone)
		}
	}
}

// Progress reads the last attempt and whether it succeeded from the
// records and the verdicts; the last verdict of an attempt counts.
func TestReadProgress(t *testing.T) {
	d := Dir(t.TempDir())
	os.WriteFile(d.Records(), []byte(`{"type":"progress","attempt":1}
{"type":"done","attempt":2}
{"type":"progress","attem`), 0o644)
	p, err := d.ReadProgress()
	if err != nil || p.Last != 2 || !p.Succeeded {
		t.Fatalf("%+v, %v", p, err)
	}
	d.AppendVerdict(Verdict{Attempt: 2, State: job.StateDone})
	d.AppendVerdict(Verdict{Attempt: 2, State: job.StateFailed, Error: "incomplete"})
	if p, _ := d.ReadProgress(); p.Succeeded || p.Verdict.State != job.StateFailed {
		t.Errorf("after a failed verdict: %+v", p)
	}
}

// A job takes its controller's hash of the executable only when it runs
// from the very file the controller hashed; otherwise it hashes its own.
func TestCurrentBuildAsReusesOnlyTheSameFilesHash(t *testing.T) {
	own := CurrentBuild()
	if own.Revision != "" && !own.Modified {
		t.Skip("a VCS-stamped build hashes no executable")
	}
	if own.Binary == "" || own.Exe == "" {
		t.Fatalf("a build without a clean VCS stamp names its executable: binary %q, exe %q", own.Binary, own.Exe)
	}
	for _, tc := range []struct {
		name  string
		known Build
		want  string
	}{
		{"the same file", Build{Binary: "0123456789ab", Exe: own.Exe}, "0123456789ab"},
		{"another file", Build{Binary: "0123456789ab", Exe: own.Exe + "x"}, own.Binary},
		{"no identity", Build{Binary: "0123456789ab"}, own.Binary},
		{"no hash", Build{Exe: own.Exe}, own.Binary},
	} {
		if got := CurrentBuildAs(tc.known).Binary; got != tc.want {
			t.Errorf("%s: binary %q, want %q", tc.name, got, tc.want)
		}
	}
}
