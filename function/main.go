// Command s2s-authorizer is the one binary of the project: the Code Engine app (serve), the Code
// Engine job (job), the full reconcile, the local harness and the emulator are its subcommands,
// so that what runs in the cloud and what runs on a laptop are the same code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/s2s-authorizer/s2s-authorizer/internal/ibm"
)

// version is stamped at build time with -ldflags "-X main.version=…"; a plain `go run` says dev.
var version = "dev"

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// app carries what a subcommand may touch of the process, so that tests run subcommands
// in-process with their own output and environment.
type app struct {
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
	// stdin is what `replay -` reads.
	stdin io.Reader
	// ibmOptions, when set, replaces ibm.DefaultOptions for the commands that connect, so that
	// tests of a broken IBM Cloud need not wait for the SDK's retries.
	ibmOptions func() ibm.Options
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) int
}

func commands() []command {
	return []command{
		{"bench", "measure calls per event, throughput, reconcile scaling and footprint", runBench},
		{"doctor", "check, without writing, that this deployment can work", runDoctor},
		{"emulator", "run the embedded IBM Cloud emulator", runEmulator},
		{"event", "write a test event to stdout (for replay - or curl)", runEvent},
		{"explain", "explain why a restore or an encrypted volume can or cannot work", runExplain},
		{"export", "export the Block Storage authorizations as Terraform", runExport},
		{"job", "handle the event given in the environment (Code Engine job), or reconcile all", runJob},
		{"policies", "list the authorization policies whose subject is Block Storage", runPolicies},
		{"reconcile", "converge every authorization of the account", runReconcile},
		{"replay", "replay recorded events and scenarios", runReplay},
		{"serve", "serve CloudEvents over HTTP (Code Engine app)", runServe},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ibm.LimitKeyProtectRetries(ibm.DefaultOptions())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv, stdin: os.Stdin}
	os.Exit(a.main(ctx, os.Args[1:]))
}

func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		a.usage(a.stderr)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		a.usage(a.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, a, args[1:])
		}
	}
	fmt.Fprintf(a.stderr, "s2s-authorizer: unknown command %q\n", name)
	a.usage(a.stderr)
	return exitUsage
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintln(w, "usage: s2s-authorizer COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 's2s-authorizer COMMAND --help' for a command's flags.")
}

// flags builds a subcommand's flag set; synopsis is what follows the command name in the usage
// line, e.g. "[flags] PATH...".
func (a *app) flags(name, synopsis, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: s2s-authorizer %s %s\n\n%s\n", name, synopsis, summary)
		if hasFlags(fs) {
			fmt.Fprintln(out, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses args and checks the number of positional arguments; it returns done=true with
// the exit code when the command must stop here (help asked, bad flags, wrong argument count).
// maxArgs < 0 means no upper bound.
func (a *app) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) (done bool, code int) {
	// flag would print the usage itself, to the wrong stream for --help: silence it and print here.
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(a.stderr)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(a.stdout)
		fs.Usage()
		return true, exitOK
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "%s: %v\n", fs.Name(), err)
		fs.Usage()
		return true, exitUsage
	}
	// flag stops at the first positional argument, so "replay PATH --dry-run" would take
	// --dry-run for a second path and run without it: refused, before anything runs.
	for _, arg := range fs.Args() {
		if len(arg) > 1 && strings.HasPrefix(arg, "-") {
			fmt.Fprintf(a.stderr, "%s: %q after the arguments looks like a flag: put flags before the arguments\n", fs.Name(), arg)
			fs.Usage()
			return true, exitUsage
		}
	}
	n := fs.NArg()
	switch {
	case n < minArgs:
		fmt.Fprintf(a.stderr, "%s: missing arguments\n", fs.Name())
	case maxArgs >= 0 && n > maxArgs:
		fmt.Fprintf(a.stderr, "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args()[maxArgs:], " "))
	default:
		return false, exitOK
	}
	fs.Usage()
	return true, exitUsage
}

// existingPaths reports, for a command's usage error (exit 2), the first of paths that does not
// exist; what names a missing file is a typo, and nothing may run on it.
func (a *app) existingPaths(fs *flag.FlagSet, what string, paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(a.stderr, "%s: %s %s: no such file or directory\n", fs.Name(), what, p)
			} else {
				fmt.Fprintf(a.stderr, "%s: %s %s: %v\n", fs.Name(), what, p, err)
			}
			return false
		}
	}
	return true
}

func runVersion(_ context.Context, a *app, args []string) int {
	fs := a.flags("version", "", "Print the version of this binary.")
	if done, code := a.parse(fs, args, 0, 0); done {
		return code
	}
	fmt.Fprintln(a.stdout, "s2s-authorizer", version)
	return exitOK
}
