// Command gen writes the Grafana dashboards as JSON into dashboards/.
// Run it from the repository root: go run ./dashboards/gen
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dogo-sweep/dogo-sweep/dashboards"
)

func main() {
	for name, b := range dashboards.All() {
		d, err := b.Build()
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", name, err)
			os.Exit(1)
		}
		out, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", name, err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join("dashboards", name), append(out, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
