package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dogo-sweep/dogo-sweep/job"
	"github.com/dogo-sweep/dogo-sweep/sweep/workspace"
	"github.com/urfave/cli/v2"
)

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "free space: remove store entries no sweep refers to (and, with --checkpoints, intermediate checkpoints)",
		Description: `A job in the store is kept while any run folder's plan refers to it; remove a run
folder (rm -r runs/NAME-HASH) and gc frees the jobs only it used. --checkpoints also removes
every checkpoint but the newest (the final encoders) of finished pretraining jobs. Jobs that
a running sweep refers to, or that a controller has claimed, are never touched. It prints
what it would free and asks before removing anything, unless --yes.

Examples:
   sweep gc
   sweep gc --checkpoints --yes`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "runs", Value: "runs", Usage: "the workspace"},
			&cli.BoolFlag{Name: "checkpoints", Usage: "also remove intermediate checkpoints of finished pretraining jobs"},
			&cli.BoolFlag{Name: "yes", Usage: "remove without asking"},
		},
		Action: func(c *cli.Context) error {
			root := c.String("runs")
			st := storeOf(root)
			if st == nil {
				fmt.Fprintf(c.App.Writer, "%s has no store: nothing to free\n", root)
				return nil
			}
			plan, err := gcPlan(root, st, c.Bool("checkpoints"))
			if err != nil {
				return err
			}
			out := c.App.Writer
			plan.print(out)
			if len(plan.paths) == 0 {
				return nil
			}
			if !c.Bool("yes") && !confirm(c.App.Reader, out, "remove them?") {
				fmt.Fprintln(out, "nothing removed")
				return nil
			}
			freed, err := plan.remove(st)
			fmt.Fprintf(out, "freed %s\n", bytesText(freed))
			return err
		},
	}
}

// gcWork is what gc would remove.
type gcWork struct {
	entries, work, checkpoints int
	paths                      []string
	bytes                      int64
}

// gcPlan finds the store entries and work folders no run folder refers to,
// and (with checkpoints) the intermediate checkpoints of the finished
// pretraining jobs that no running sweep refers to.
func gcPlan(root string, st *workspace.Store, checkpoints bool) (*gcWork, error) {
	dirs, err := runFolders(root)
	if err != nil {
		return nil, err
	}
	referenced, inUse := map[string]bool{}, map[string]bool{}
	kinds := map[string]job.Kind{}
	for _, d := range dirs {
		r, err := workspace.OpenRun(d)
		if err != nil {
			return nil, err
		}
		running := r.Locked()
		for _, j := range r.Plan.Jobs {
			referenced[j.ID] = true
			kinds[j.ID] = j.Spec.Kind
			if running {
				inUse[j.ID] = true
			}
		}
	}
	w := &gcWork{}
	add := func(path string) {
		w.paths = append(w.paths, path)
		w.bytes += dirSize(path)
	}
	entries, err := st.Entries()
	if err != nil {
		return nil, err
	}
	for _, id := range entries {
		if _, claimed := st.Claimed(id); referenced[id] || claimed {
			continue
		}
		add(st.EntryDir(id))
		w.entries++
	}
	work, _ := os.ReadDir(filepath.Dir(st.WorkDir("x")))
	for _, e := range work {
		if _, claimed := st.Claimed(e.Name()); referenced[e.Name()] || claimed {
			continue
		}
		add(st.WorkDir(e.Name()))
		w.work++
	}
	if checkpoints {
		for _, id := range entries {
			if !referenced[id] || inUse[id] || kinds[id] != job.KindPretrain {
				continue
			}
			for _, p := range olderCheckpoints(filepath.Join(st.EntryDir(id), "checkpoints")) {
				add(p)
				w.checkpoints++
			}
		}
	}
	return w, nil
}

// olderCheckpoints lists the files of every checkpoint but the newest, and
// the unreadable ones moved aside.
func olderCheckpoints(dir string) []string {
	jsons, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*.json"))
	sort.Strings(jsons)
	var out []string
	for i := 0; i+1 < len(jsons); i++ {
		base := strings.TrimSuffix(jsons[i], ".json")
		out = append(out, base+".json", base+".bin")
	}
	if _, err := os.Stat(filepath.Join(dir, "unreadable")); err == nil {
		out = append(out, filepath.Join(dir, "unreadable"))
	}
	return out
}

func (w *gcWork) print(out io.Writer) {
	if len(w.paths) == 0 {
		fmt.Fprintln(out, "nothing to free: every job in the store is used by a sweep")
		return
	}
	fmt.Fprintf(out, "%d store entries and %d unfinished job folders no sweep refers to", w.entries, w.work)
	if w.checkpoints > 0 {
		fmt.Fprintf(out, ", %d intermediate checkpoint files", w.checkpoints)
	}
	fmt.Fprintf(out, ": %s\n", bytesText(w.bytes))
}

// remove deletes the planned paths; a store entry is first renamed out of
// the store, so that no sweep ever sees half of one.
func (w *gcWork) remove(st *workspace.Store) (int64, error) {
	var freed int64
	for _, p := range w.paths {
		size := dirSize(p)
		target := p
		if filepath.Dir(p) == st.Dir {
			target = filepath.Join(st.Dir, ".trash-"+filepath.Base(p))
			if err := os.Rename(p, target); err != nil {
				return freed, err
			}
		}
		if err := os.RemoveAll(target); err != nil {
			return freed, err
		}
		freed += size
	}
	return freed, nil
}

func confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprintf(out, "%s [y/N] ", question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}
