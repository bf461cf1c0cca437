package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Flags work after the positional arguments too, for every command.
func TestReorderArgs(t *testing.T) {
	app := newApp(slog.New(slog.DiscardHandler), io.Discard, testHooks())
	for _, tc := range []struct{ in, want string }{
		{"sweep launch g.yaml --runs DIR --cpus 2", "sweep launch --runs DIR --cpus 2 g.yaml"},
		{"sweep launch g.yaml --yes --cpus 2", "sweep launch --yes --cpus 2 g.yaml"},
		{"sweep launch --cpus 2 g.yaml", "sweep launch --cpus 2 g.yaml"},
		{"sweep plan g.yaml --format json --why abc", "sweep plan --format json --why abc g.yaml"},
		{"sweep plan g.yaml --show-defaults", "sweep plan --show-defaults g.yaml"},
		{"sweep validate a.yaml b.yaml", "sweep validate a.yaml b.yaml"},
		{"sweep resume RUN --cpus 1", "sweep resume --cpus 1 RUN"},
		{"sweep status RUN", "sweep status RUN"},
		{"sweep report RUN", "sweep report RUN"},
		{"sweep results RUN --format csv", "sweep results --format csv RUN"},
		{"sweep results RUN --format=csv", "sweep results --format=csv RUN"},
		{"sweep results compact RUN", "sweep results compact RUN"},
		{"sweep runs --runs DIR", "sweep runs --runs DIR"},
		{"sweep gc --yes --runs DIR", "sweep gc --yes --runs DIR"},
		{"sweep migrate A B", "sweep migrate A B"},
		{"sweep job run FOLDER", "sweep job run FOLDER"},
		{"sweep plan -- -odd.yaml --format json", "sweep plan -- -odd.yaml --format json"},
		{"sweep plan g.yaml --help", "sweep plan --help g.yaml"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got := reorderArgs(app, strings.Fields(tc.in))
			if d := cmp.Diff(strings.Fields(tc.want), got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// No flag's help says its default twice.
func TestFlagHelpSaysDefaultsOnce(t *testing.T) {
	for _, c := range []string{"launch", "plan", "validate", "resume", "status", "report", "results", "runs", "gc", "migrate"} {
		code, out, _ := runCLI(t, c, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", c, code)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Count(l, "(default") > 1 {
				t.Errorf("%s: %q", c, strings.TrimSpace(l))
			}
		}
	}
}
