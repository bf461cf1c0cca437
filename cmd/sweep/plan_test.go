package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dogo-sweep/dogo-sweep/internal/golden"
)

func TestPlanGolden(t *testing.T) {
	for _, tc := range []struct{ golden, format, grid string }{
		{"plan-quickstart.txt", "table", "../../configs/quickstart.yaml"},
		{"plan-small.json", "json", "testdata/small.yaml"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			// A fixed stand-in for the data set, and an empty workspace: the
			// IDs hash those bytes, and every job is new.
			code, out, errs := runCLI(t, "plan", "--format", tc.format, "--data-dir", "testdata/data", "--runs", t.TempDir(), tc.grid)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden.Check(t, tc.golden, out)
		})
	}
}

func TestShowDefaultsGolden(t *testing.T) {
	code, out, _ := runCLI(t, "plan", "--show-defaults")
	if code != 0 {
		t.Fatal(code)
	}
	golden.Check(t, "defaults.yaml", out)
}

func TestValidateConfigs(t *testing.T) {
	grids, _ := filepath.Glob("../../configs/*.yaml")
	if len(grids) < 5 {
		t.Fatalf("found %d grids in configs/", len(grids))
	}
	code, out, errs := runCLI(t, append([]string{"validate"}, grids...)...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errs)
	}
	if strings.Count(out, ": ok") != len(grids) {
		t.Errorf("output:\n%s", out)
	}
}
