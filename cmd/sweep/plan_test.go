package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", name, d)
	}
}

func TestPlanGolden(t *testing.T) {
	for _, tc := range []struct{ golden, format, grid string }{
		{"plan-quickstart.txt", "table", "../../configs/quickstart.yaml"},
		{"plan-small.json", "json", "testdata/small.yaml"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			code, out, errs := runCLI(t, "plan", "--format", tc.format, tc.grid)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			golden(t, tc.golden, out)
		})
	}
}

func TestShowDefaultsGolden(t *testing.T) {
	code, out, _ := runCLI(t, "plan", "--show-defaults")
	if code != 0 {
		t.Fatal(code)
	}
	golden(t, "defaults.yaml", out)
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
