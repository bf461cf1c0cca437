package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/dogo-sweep/dogo-sweep/"

// deps lists what a package depends on, transitively (`go list -deps`).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestPackageLayers(t *testing.T) {
	machinery := []string{mod + "sweep/controller", mod + "sweep/workspace", mod + "sweep/grid", mod + "sweep/local", mod + "sweep/slurm",
		"gopkg.in/yaml.v3"}
	for _, tc := range []struct {
		pkg       string
		forbidden []string // import path prefixes
	}{
		{"job", []string{mod}},
		{"data", []string{mod}},
		{"jobdir", []string{mod + "data", mod + "probe", mod + "runner", mod + "results", mod + "sweep", mod + "worker"}},
		{"worker", machinery},
		{"results", append(machinery, "github.com/gomlx")},
		{"metrics", append(machinery, "github.com/gomlx")},
		{"reports", append(machinery, "github.com/gomlx")},
		{"probe", append(machinery, "github.com/gomlx")},
		{"runner", machinery},
		{"sweep/grid", []string{"github.com/gomlx", mod + "sweep/controller"}},
		{"sweep/controller", []string{"github.com/gomlx", "gopkg.in/yaml.v3"}},
		{"sweep/workspace", []string{"github.com/gomlx", "gopkg.in/yaml.v3"}},
		{"sweep/local", []string{"github.com/gomlx", "gopkg.in/yaml.v3"}},
		{"sweep/slurm", []string{"github.com/gomlx", "gopkg.in/yaml.v3"}},
		{"sweep/launch", []string{"github.com/gomlx"}},
		{"sweep/progress", []string{"github.com/gomlx", "gopkg.in/yaml.v3", mod + "sweep/workspace"}},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			for _, d := range deps(t, tc.pkg) {
				if d == mod+tc.pkg || strings.HasPrefix(d, mod+"internal/") {
					continue
				}
				for _, f := range tc.forbidden {
					if d == f || strings.HasPrefix(d, f) {
						t.Errorf("%s imports %s", tc.pkg, d)
					}
				}
			}
		})
	}
}
