package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves each command's flags before its positional arguments,
// so that `sweep results RUN --format csv` works like `sweep results
// --format csv RUN` (urfave/cli stops reading flags at the first argument).
// A flag keeps its value (the next word, unless the flag is boolean or
// written --flag=value); everything after "--" stays positional; the first
// argument that names a subcommand switches to that subcommand's flags.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := []string{args[0]}
	flags, subs := app.Flags, app.Commands
	var pending, positional []string
	dashdash := false
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case dashdash:
			positional = append(positional, a)
		case a == "--":
			dashdash = true
		case len(a) > 1 && a[0] == '-':
			pending = append(pending, a)
			if takesValue(flags, a) && i+1 < len(args) {
				i++
				pending = append(pending, args[i])
			}
		default:
			if sub := findCommand(subs, a); sub != nil && len(positional) == 0 {
				out = append(append(out, pending...), a)
				pending, flags, subs = nil, sub.Flags, sub.Subcommands
				continue
			}
			positional = append(positional, a)
		}
	}
	out = append(out, pending...)
	if dashdash {
		out = append(out, "--")
	}
	return append(out, positional...)
}

// takesValue reports whether a flag word is a known non-boolean flag written
// without "=value".
func takesValue(flags []cli.Flag, word string) bool {
	name := strings.TrimLeft(word, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); isBool {
				return false
			}
			return true
		}
	}
	return false // unknown (or --help): leave it alone
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
