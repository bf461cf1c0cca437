// Package require is for tests that need something of the machine: root, a
// tmpfs, Slurm, Prometheus, DuckDB, the real data set. A plain `go test`
// skips them when it is missing, and says why; `make test` (and so CI) sets
// SWEEP_REQUIRE_ALL=1, under which they fail instead, so that a test run
// cannot pass by skipping what the README promises.
package require

import (
	"os"
	"testing"
)

// Env is the switch `make test` sets.
const Env = "SWEEP_REQUIRE_ALL"

// Missing ends a test that cannot run here: a skip that says why, or a
// failure under the switch.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(Env) != "" {
		t.Fatalf("%s (%s is set: this test must run; make test-deps installs what the tests need)", why, Env)
	}
	t.Skip(why)
}
