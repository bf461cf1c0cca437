package grid

import (
	"errors"
	"strings"
	"testing"
)

const base = "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\n"

func TestParseGridErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // each must appear in the error text
	}{
		{"unknown key with suggestion", base + "fractons: [0.1]\n", []string{"grid.yaml:4:1:", `unknown key "fractons"`, `did you mean "fractions"?`}},
		{"unknown nested key", base + "pretrain:\n  epochz: 3\n", []string{"grid.yaml:5:3:", `unknown key "epochz"`, `did you mean "epochs"?`}},
		{"wrong type", base + "seeds: [a, 2]\n", []string{"grid.yaml:4:9:", `wrong type for "seeds"`, "want an integer", "write an integer"}},
		{"wrong nested type", base + "pretrain:\n  epochs: many\n", []string{"grid.yaml:5:11:", `wrong type for "epochs"`}},
		{"empty axis", base + "seeds: []\n", []string{"grid.yaml:4:8:", `axis "seeds" is empty`}},
		{"noise rate out of range", base + "noise:\n  rates: [0, 1.5]\n", []string{"grid.yaml:5:14:", "noise rate 1.5 is out of range"}},
		{"fraction zero", base + "fractions: [0]\n", []string{"grid.yaml:4:13:", "label fraction 0 is out of range"}},
		{"unknown dataset", "name: t\ndatasets: [fashion-mnst]\npairs: [cnn-s+cnn-l]\n", []string{"grid.yaml:2:12:", `unknown dataset "fashion-mnst"`, `did you mean "fashion-mnist"?`}},
		{"unknown objective", base + "objectives: [simclar]\n", []string{"grid.yaml:4:14:", `unknown objective "simclar"`, `did you mean "simclr"?`}},
		{"unknown architecture", "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+resnet81]\n", []string{"grid.yaml:3:9:", `unknown architecture "resnet81"`, `did you mean "resnet18"?`}},
		{"pair without plus", "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s]\n", []string{"grid.yaml:3:9:", "is not small+large"}},
		{"missing name", "datasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\n", []string{"grid.yaml:1:1:", `missing key "name"`}},
		{"duplicate key", base + "name: u\n", []string{"grid.yaml:4:1:", "already defined"}},
		{"duplicate value", base + "seeds: [1, 1]\n", []string{"grid.yaml:4:12:", `duplicate value in "seeds"`}},
		{"duplicate point", base + "include:\n  - {pair: cnn-s+cnn-l}\n", []string{"duplicate grid point"}},
		{"zip length mismatch", base + "seeds: [1, 2]\nfractions: [1]\nzip: [[seed, fraction]]\n", []string{"grid.yaml:6:", "same number of values"}},
		{"zip unknown axis", base + "zip: [[seed, fractoin]]\n", []string{`unknown axis "fractoin"`, `did you mean "fraction"?`}},
		{"exclude matches nothing", base + "exclude:\n  - {seed: 9}\n", []string{"grid.yaml:5:5:", "exclude entry matches no grid point"}},
		{"include bad value", base + "include:\n  - {fraction: 2}\n", []string{"grid.yaml:5:16:", "label fraction 2 is out of range"}},
		{"mlp on colour images", "name: t\ndatasets: [cifar10]\npairs: [mlp-s+cnn-l]\n", []string{"grid.yaml:3:9:", "takes 28x28 grey images"}},
		{"views crop scale out of range", base + "pretrain:\n  views: {min_scale: 0}\n", []string{"grid.yaml:5:22:", "min_scale", "min_scale 0 is out of range", "0.3 on grey images"}},
		{"views negative noise", base + "pretrain:\n  views:\n    noise: -0.1\n", []string{"grid.yaml:6:12:", "noise -0.1 is out of range"}},
		{"views jitter of 1", base + "pretrain:\n  views: {jitter: 1}\n", []string{"grid.yaml:5:19:", "jitter 1 is out of range"}},
		{"views unknown key", base + "pretrain:\n  views: {crop: 0.5}\n", []string{"grid.yaml:5:", `unknown key "crop"`}},
		{"bad OOD set", base + "ood: [fog-3]\n", []string{"grid.yaml:4:7:", `unknown OOD set "fog-3"`}},
		{"cross-dataset OOD without shared classes", base + "ood: [dataset:mnist]\n", []string{"grid.yaml:4:7:", "mnist shares 0 classes with fashion-mnist"}},
		{"empty file", "", []string{"grid.yaml:1:1:", "empty"}},
		{"syntax error", base + "seeds: [1, 2\n", []string{"grid.yaml:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("grid.yaml", []byte(tc.src))
			if err == nil {
				t.Fatal("no error for an invalid grid")
			}
			var ge Errors
			if !errors.As(err, &ge) {
				t.Fatalf("error %v is not Errors", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseGridDefaults(t *testing.T) {
	g, err := Parse("grid.yaml", []byte(base+"pretrain:\n  epochs: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if g.Pretrain.Epochs != 3 || g.Pretrain.Batch != d.Pretrain.Batch || g.Pretrain.LR != d.Pretrain.LR || g.Pretrain.KDWeight != 100 {
		t.Errorf("pretrain = %+v: a nested key must override only itself", g.Pretrain)
	}
	if len(g.Seeds) != 1 || g.Seeds[0] != 0 || g.Objectives[0] != "simclr" || g.Noise.Kinds[0] != "symmetric" {
		t.Errorf("axis defaults not applied: %+v", g)
	}
	g, err = Parse("grid.yaml", []byte(base+"seeds: [3, 4]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Seeds) != 2 || g.Seeds[0] != 3 {
		t.Errorf("seeds = %v: a list in the file replaces the default", g.Seeds)
	}
}

// The job IDs must not depend on key order or formatting of the grid file.
func TestPlanIDsStableAcrossFormatting(t *testing.T) {
	a := "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: [1, 2]\npretrain: {epochs: 3, batch: 64}\n"
	b := "# same grid\nseeds:\n  - 1\n  - 2\npretrain:\n  batch: 64\n  epochs: 3\npairs:\n  - \"cnn-s+cnn-l\"\ndatasets: [ fashion-mnist ]\nname: t\n"
	ga, err := Parse("a.yaml", []byte(a))
	if err != nil {
		t.Fatal(err)
	}
	gb, err := Parse("b.yaml", []byte(b))
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := NewPlan(ga, nil), NewPlan(gb, nil)
	if len(pa.Jobs) != len(pb.Jobs) {
		t.Fatalf("%d vs %d jobs", len(pa.Jobs), len(pb.Jobs))
	}
	for i := range pa.Jobs {
		if pa.Jobs[i].ID != pb.Jobs[i].ID {
			t.Errorf("job %d: ID %s vs %s", i, pa.Jobs[i].ID, pb.Jobs[i].ID)
		}
	}
	// A setting that changes pretraining changes the pretraining IDs.
	gc, _ := Parse("c.yaml", []byte(strings.Replace(a, "epochs: 3", "epochs: 4", 1)))
	if NewPlan(gc, nil).Jobs[0].ID == pa.Jobs[0].ID {
		t.Error("changing epochs kept the pretraining job ID")
	}
}

// A job's ID covers what changes its result and nothing else: the KD
// settings leave solo pretraining alone, the kNN settings the linear
// probes, and the linear probe's settings the kNN jobs.
func TestIDsIgnoreSettingsAJobDoesNotRead(t *testing.T) {
	base := "name: t\ndatasets: [fashion-mnist]\npairs: [cnn-s+cnn-l]\nseeds: [1]\nreferences: []\n"
	ids := func(src string) map[string]string {
		g, err := Parse("g.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, j := range NewPlan(g, nil).Jobs {
			out[j.Name[:strings.LastIndex(j.Name, "-")]] = j.ID
		}
		return out
	}
	a := ids(base)
	for _, tc := range []struct {
		edit    string
		changed func(name string) bool
	}{
		{"pretrain: {kd_weight: 10}", func(n string) bool { return strings.Contains(n, "dogo") }},
		{"eval: {knn_k: 5}", func(n string) bool { return strings.HasPrefix(n, "knn-") }},
		{"eval: {lr: 0.01}", func(n string) bool { return strings.HasPrefix(n, "linear-") }},
		// Views that equal nothing set leave every ID alone; any view set moves
		// every pretraining job and what depends on it, never the references.
		{"pretrain: {views: {}}", func(n string) bool { return false }},
		{"pretrain: {views: {noise: 0}}", func(n string) bool { return !strings.Contains(n, "random") && !strings.Contains(n, "pixels") }},
	} {
		b := ids(base + tc.edit + "\n")
		for name, id := range a {
			if moved := b[name] != id; moved != tc.changed(name) {
				t.Errorf("%s: %s changed ID: %v, want %v", tc.edit, name, moved, tc.changed(name))
			}
		}
	}
}
