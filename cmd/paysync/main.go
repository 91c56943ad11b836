// Command paysync turns verified online payments into CRM records.
// This package only parses flags and wires packages; the rules live elsewhere.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand. Files in this package register theirs in init.
type command struct {
	name  string // may hold a space: "config check"
	usage string
	// help, when set, is printed by `paysync NAME --help` after the flags:
	// what else the command reads (serve lists its environment variables).
	help func() string
	run  func(ctx context.Context, env *cmdEnv, args []string) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// cmdEnv carries what every command gets: output streams and the --config flag.
type cmdEnv struct {
	stdout, stderr io.Writer
	configPath     string
	cmd            command       // the command being run, for its help
	helpAsked      bool          // its arguments ask for help: the help goes to stdout
	fs             *flag.FlagSet // the command's flags, once it has made them
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&cmdEnv{stdout: stdout, stderr: stderr}).run(ctx, args)
}

func (env *cmdEnv) run(ctx context.Context, args []string) int {
	stdout, stderr := env.stdout, env.stderr
	// A global --config may come before the subcommand.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "--config" || args[0] == "-config":
			if len(args) < 2 {
				fmt.Fprintln(stderr, "paysync: --config needs a file name")
				return 2
			}
			env.configPath, args = args[1], args[2:]
		case strings.HasPrefix(args[0], "--config="):
			env.configPath, args = strings.TrimPrefix(args[0], "--config="), args[1:]
		case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
			usage(stdout)
			return 0
		case args[0] == "--version" || args[0] == "-version":
			args = append([]string{"version"}, args[1:]...)
			continue
		default:
			fmt.Fprintf(stderr, "paysync: unknown flag %s\n", args[0])
			usage(stderr)
			return 2
		}
	}
	if len(args) == 0 {
		// A bare paysync is a mistake of use: help, and a failing exit for scripts.
		usage(stderr)
		return 2
	}
	if args[0] == "help" {
		if len(args) == 1 {
			usage(stdout)
			return 0
		}
		// `paysync help outbox retry` is `paysync outbox retry --help`.
		args = append(args[1:], "--help")
	}
	cmd, ok := commands[args[0]]
	rest := args[1:]
	if len(args) > 1 {
		if c2, ok2 := commands[args[0]+" "+args[1]]; ok2 {
			cmd, ok, rest = c2, true, args[2:]
		}
	}
	if !ok && isGroup(args[0]) {
		// `paysync outbox`, `paysync mapping --help`: the group's commands.
		if len(args) > 1 && (args[1] == "-h" || args[1] == "--help" || args[1] == "help") {
			groupUsage(stdout, args[0])
			return 0
		}
		if len(args) > 1 {
			fmt.Fprintf(stderr, "paysync: unknown command %q\n", args[0]+" "+args[1])
		}
		groupUsage(stderr, args[0])
		return 2
	}
	if !ok {
		fmt.Fprintf(stderr, "paysync: unknown command %q\n", strings.Join(args[:min(2, len(args))], " "))
		usage(stderr)
		return 2
	}
	env.cmd, env.helpAsked = cmd, helpAsked(rest)
	if err := cmd.run(ctx, env, rest); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(stderr, ee.msg)
			}
			return ee.code
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "paysync %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "paysync turns verified online payments into CRM records.")
	fmt.Fprintln(w, "\nUsage: paysync [--config FILE] COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].usage)
	}
	fmt.Fprintln(w, "\nRun `paysync COMMAND --help` for a command's flags; `paysync serve --help` lists")
	fmt.Fprintln(w, "the PAYSYNC_* environment variables. `paysync --version` prints the version.")
}

// helpAsked reports whether args ask for help before any "--".
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// isGroup reports whether name is the first word of two-word commands
// ("outbox" of "outbox stats").
func isGroup(name string) bool {
	for n := range commands {
		if strings.HasPrefix(n, name+" ") {
			return true
		}
	}
	return false
}

// groupUsage lists the commands of one group.
func groupUsage(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage: paysync %s COMMAND [flags]\n\nCommands:\n", group)
	names := make([]string, 0)
	for n := range commands {
		if strings.HasPrefix(n, group+" ") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].usage)
	}
	fmt.Fprintf(w, "\nRun `paysync %s COMMAND --help` for a command's flags.\n", group)
}

// flags returns the command's FlagSet, with --config too. Its help goes to
// stdout when asked for (--help) and to stderr after a mistake.
func (env *cmdEnv) flags(name string) *flag.FlagSet { return env.newFlags(name, true) }

// bareFlags is flags without --config, for commands that read no config.
func (env *cmdEnv) bareFlags(name string) *flag.FlagSet { return env.newFlags(name, false) }

func (env *cmdEnv) newFlags(name string, withConfig bool) *flag.FlagSet {
	fs := flag.NewFlagSet("paysync "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	if env.helpAsked {
		fs.SetOutput(env.stdout)
	}
	if withConfig {
		fs.StringVar(&env.configPath, "config", env.configPath, "config file (default $PAYSYNC_CONFIG, else ./config.yaml if present, else built-in defaults)")
	}
	fs.Usage = func() { env.printHelp(fs, withConfig) }
	env.fs = fs
	return fs
}

// printHelp is a command's --help: what it does, its flags, what else it reads.
func (env *cmdEnv) printHelp(fs *flag.FlagSet, withConfig bool) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s [flags]\n", fs.Name())
	if env.cmd.usage != "" {
		fmt.Fprintf(w, "  %s\n", env.cmd.usage)
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.PrintDefaults()
	if env.cmd.help != nil {
		fmt.Fprintf(w, "\n%s", env.cmd.help())
	}
	if withConfig && env.cmd.name != "serve" {
		fmt.Fprintln(w, "\nReads the config file and the PAYSYNC_* variables that override it;")
		fmt.Fprintln(w, "`paysync serve --help` lists them.")
	}
}
