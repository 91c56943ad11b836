package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/paysync/paysync/cmd/paysync/internal/demo"
	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/logging"
	"github.com/paysync/paysync/sandbox"
	_ "github.com/paysync/paysync/sandbox/all" // every double of this release
)

func init() {
	register(command{name: "demo", usage: "serve + sandbox CRMs + 20 sample Direct orders, on its own SQLite database in ./data/demo [--once]", help: demoHelp, run: runDemo})
}

// demoDir holds the demo's database, log and sandbox files, apart from
// the shop's data.
var demoDir = filepath.Join("data", "demo")

// demoSettled, when set (tests), sees the sandbox once the sample traffic
// has settled, before the demo closes it.
var demoSettled func(sb *sandbox.Sandbox)

// demoRun is one run of `paysync demo`: its folder and log, the sandbox
// doubles, and paysync serving against them.
type demoRun struct {
	out  io.Writer
	once bool // --once: play as fast as paysync settles, then exit

	logPath string
	logFile *os.File

	base, addrNote string // paysync's URL, and what --addr became
	sbURL, sbNote  string // the sandbox's
	sb             *sandbox.Sandbox

	token    string
	ownToken bool // the shop's PAYSYNC_ADMIN_TOKEN: named, never printed
	secret   string
	cfg      *config.Config
	app      *app
	d        *daemon
}

// demoFlags are what `paysync demo` takes; it reads no config file.
type demoFlags struct {
	addr, sandboxAddr string
	once              bool
}

func demoHelp() string {
	return "Reads no config file and never the shop's database: each run starts a fresh SQLite\n" +
		"database in ./data/demo, with its log there. PAYSYNC_HTTP_ADDR sets the default of\n" +
		"--addr; PAYSYNC_ADMIN_TOKEN, when set, is the console's token (else one is made and printed).\n"
}

func runDemo(ctx context.Context, env *cmdEnv, args []string) error {
	f, err := parseDemoFlags(env, args)
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go stopWhenOrphaned(ctx, stop)

	r := &demoRun{out: env.stdout, once: f.once}
	closeFolder, err := r.prepareFolder()
	if err != nil {
		return err
	}
	defer closeFolder()
	ln, addrNote, err := listenOrFree(f.addr, "--addr")
	if err != nil {
		return err
	}
	r.base, r.addrNote = "http://"+ln.Addr().String(), addrNote
	stopSandbox, err := r.startSandbox(ctx, f.sandboxAddr)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopSandbox()
	if err := r.startPaysync(ctx, ln); err != nil {
		return err
	}
	defer r.app.Close()

	r.printIntro()
	results, err := r.play(ctx)
	if err != nil {
		return r.stopEarly(ctx, err)
	}
	if err := r.printSummary(results); err != nil {
		r.d.shutdown()
		return err
	}
	if demoSettled != nil {
		demoSettled(r.sb)
	}
	if r.once {
		return r.d.shutdown()
	}
	return r.serveUntilInterrupted(ctx, results)
}

func parseDemoFlags(env *cmdEnv, args []string) (demoFlags, error) {
	fs := env.bareFlags("demo")
	defAddr := "127.0.0.1:8080"
	if a := os.Getenv("PAYSYNC_HTTP_ADDR"); a != "" {
		defAddr = a
	}
	var f demoFlags
	fs.StringVar(&f.addr, "addr", defAddr, "address paysync serves on, from $PAYSYNC_HTTP_ADDR when set; a free port of the same host when it is busy")
	fs.StringVar(&f.sandboxAddr, "sandbox-addr", "127.0.0.1:8090", "address the sandbox doubles serve on; a free port of the same host when it is busy")
	fs.BoolVar(&f.once, "once", false, "play the sample traffic as fast as paysync settles it, print the summary and exit")
	return f, fs.Parse(args)
}

// prepareFolder claims the demo's own folder, with a fresh database each
// run, never the shop's (PAYSYNC_DATABASE_URL, PAYSYNC_DATA_DIR and
// config.yaml are not read), and opens the log there. done closes the log
// and hands the folder on.
func (r *demoRun) prepareFolder() (done func(), err error) {
	release, err := claimDemoDir(demoDir)
	if err != nil {
		return nil, &exitError{code: 1, msg: "paysync demo: " + err.Error()}
	}
	r.logPath = filepath.Join(demoDir, "paysync.log")
	r.logFile, err = os.Create(r.logPath)
	if err != nil {
		release()
		return nil, &exitError{code: 1, msg: fmt.Sprintf("paysync demo: cannot write its log: %v", err)}
	}
	return func() {
		r.logFile.Close()
		release()
	}, nil
}

// startSandbox serves the doubles on addr, or a free port of its host,
// pointed at paysync's URL; stop shuts them down.
func (r *demoRun) startSandbox(ctx context.Context, addr string) (stop func(), err error) {
	ln, note, err := listenOrFree(addr, "--sandbox-addr")
	if err != nil {
		return nil, err
	}
	r.sbURL, r.sbNote = "http://"+ln.Addr().String(), note
	sb, srv := serveSandbox(ln, sandbox.Options{PaysyncURL: r.base, Dir: filepath.Join(demoDir, "sandbox"),
		Logger: logging.New(r.logFile, logging.Options{Level: "info", Format: "text"})})
	r.sb = sb
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		sb.Close()
	}, nil
}

// startPaysync serves paysync on ln, configured for the sandbox, logging to
// the demo's log; the admin token is the shop's PAYSYNC_ADMIN_TOKEN or a
// made-up one. When it fails, ln is closed.
func (r *demoRun) startPaysync(ctx context.Context, ln net.Listener) error {
	r.token, r.ownToken = os.LookupEnv("PAYSYNC_ADMIN_TOKEN")
	if !r.ownToken || r.token == "" {
		r.token, r.ownToken = "demo-"+randomHex(6), false
	}
	r.secret = "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(24))
	cfg, err := demoConfig(ctx, r.sb, map[string]string{
		"PAYSYNC_ADMIN_TOKEN":            r.token,
		"PAYSYNC_HTTP_ADDR":              ln.Addr().String(),
		"PAYSYNC_PUBLIC_URL":             r.base,
		"PAYSYNC_DATA_DIR":               demoDir,
		"PAYSYNC_GENERIC_WEBHOOK_SECRET": r.secret,
	})
	if err != nil {
		ln.Close()
		return err
	}
	a, err := openAppWith(ctx, &cmdEnv{stdout: io.Discard, stderr: r.logFile}, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	d, err := startDaemon(ctx, a, ln)
	if err != nil {
		ln.Close()
		a.Close()
		return err
	}
	r.cfg, r.app, r.d = cfg, a, d
	return nil
}

// login says how to log in to the console.
func (r *demoRun) login() string {
	if r.ownToken {
		return "your PAYSYNC_ADMIN_TOKEN"
	}
	return "the admin token " + r.token
}

// printIntro says what the demo does and where everything is.
func (r *demoRun) printIntro() {
	out := r.out
	fmt.Fprintf(out, "paysync demo: %d Direct orders paid through the sandbox VPOS.am, ArCa, Idram and Ameriabank vPOS, delivered to the sandbox %s.\n\n",
		len(demo.Orders()), strings.Join(crmTitles(r.sb, r.cfg.EnabledConnectors()), ", "))
	fmt.Fprintf(out, "  paysync   %s%s\n", r.base, r.addrNote)
	fmt.Fprintf(out, "  console   %s/ui/ (log in with %s)\n", r.base, r.login())
	fmt.Fprintf(out, "  sandbox   %s%s\n", r.sbURL, r.sbNote)
	fmt.Fprintf(out, "  database  %s (SQLite, new for this run; the shop's database and config.yaml are not used)\n", filepath.Join(demoDir, "paysync.db"))
	fmt.Fprintf(out, "  log       %s\n\n", r.logPath)
}

// play sends the sample orders and tells each one's story as paysync
// settles it: over about a minute, or as fast as it can with --once.
func (r *demoRun) play(ctx context.Context) ([]demo.Result, error) {
	o := demo.Options{API: r.base, Token: r.token, GenericSecret: r.secret, Sandbox: r.sb, Connectors: r.cfg.EnabledConnectors(),
		Scale: 1, ExpiresIn: demo.ExpiresIn, Out: r.out, Printer: printer(r.cfg)}
	if r.once {
		o.Scale, o.ExpiresIn = 0, time.Second
		fmt.Fprintln(r.out, "The orders, as fast as paysync settles them (--once):")
	} else {
		fmt.Fprintln(r.out, "The orders, over about a minute:")
	}
	return demo.Run(ctx, o)
}

// stopEarly stops paysync when the play did not finish: interrupted (130
// with --once), or failed, pointing at the log.
func (r *demoRun) stopEarly(ctx context.Context, err error) error {
	serr := r.d.shutdown()
	if ctx.Err() != nil {
		fmt.Fprintln(r.out, "\nInterrupted; stopped.")
		if r.once {
			return &exitError{code: 130}
		}
		return serr
	}
	return fmt.Errorf("%w (log: %s)", err, r.logPath)
}

// printSummary prints where each order ended, in paysync and in each
// sandbox CRM.
func (r *demoRun) printSummary(results []demo.Result) error {
	fmt.Fprintln(r.out, "\nWhere each order ended, in paysync and in each sandbox CRM:")
	if err := demo.Summary(r.out, printer(r.cfg), r.sb, r.cfg.EnabledConnectors(), results); err != nil {
		return err
	}
	if len(r.sb.Chats) > 0 {
		fmt.Fprintln(r.out, "\nThe Direct threads, as the customers see them:")
		demo.Threads(r.out, r.sb, r.cfg.EnabledConnectors(), results)
	}
	return nil
}

// serveUntilInterrupted says where to look around, then serves until
// Ctrl-C.
func (r *demoRun) serveUntilInterrupted(ctx context.Context, results []demo.Result) error {
	out := r.out
	review := ""
	for _, res := range results {
		if res.View.Order.Status == core.StatusManualReview {
			review += ", " + res.Order.ID
		}
	}
	curlToken := r.token
	if r.ownToken {
		curlToken = "$PAYSYNC_ADMIN_TOKEN"
	}
	fmt.Fprintf(out, "\nLook around while it serves:\n")
	fmt.Fprintf(out, "  console   %s/ui/ (log in with %s)", r.base, r.login())
	if review != "" {
		fmt.Fprintf(out, "; %s wait under Needs review for a person to settle", review[2:])
	}
	fmt.Fprintf(out, "\n  API       curl -H \"Authorization: Bearer %s\" %s/v1/orders/IG-1001\n", curlToken, r.base)
	fmt.Fprintf(out, "  sandbox   %s/ (an order's page in the console links to its deal, lead and row)\n", r.sbURL)
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Fprintln(out, "\nStopping…")
	err := r.d.shutdown()
	fmt.Fprintln(out, "Stopped.")
	return err
}

// demoConfig is the demo's configuration: the built-in defaults, the
// sandbox's environment and vars, and nothing from config.yaml or the
// shop's environment but its log level and format and time zone.
func demoConfig(ctx context.Context, sb *sandbox.Sandbox, vars map[string]string) (*config.Config, error) {
	env := sb.Env()
	for k, v := range vars {
		env[k] = v
	}
	env["PAYSYNC_LOG_FORMAT"] = "text" // a file for people to read
	for _, k := range []string{"PAYSYNC_LOG_LEVEL", "PAYSYNC_LOG_FORMAT", "PAYSYNC_TIME_ZONE"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	cfg, err := config.Load(ctx, "", envconfig.MapLookuper(env))
	if err != nil {
		return nil, &exitError{code: 2, msg: "paysync demo: " + err.Error()}
	}
	cfg.MappingDir = ""                        // the shipped mappings, whose ids the sandbox CRMs have
	cfg.Scheduler.ExpireSchedule = "@every 1s" // the demo's short payment windows end on time
	// Ameriabank tells nobody of a refund: reconcile finds it, within
	// seconds here rather than minutes.
	cfg.Scheduler.ReconcileSchedule, cfg.Scheduler.ReconcileAfter = "@every 2s", 0
	return cfg, nil
}

// claimDemoDir prepares dir for a new run: it refuses while another demo
// uses it (deleting that one's database under it), then removes the last
// run's database and sandbox files.
func claimDemoDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %v", dir, err)
	}
	pidFile := filepath.Join(dir, "demo.pid")
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 && pid != os.Getpid() && processAlive(pid) {
			return nil, fmt.Errorf("another paysync demo (pid %d) is running in %s: stop it, or run this one from another folder "+
				"(if none runs, delete %s)", pid, dir, pidFile)
		}
	}
	old, _ := filepath.Glob(filepath.Join(dir, "paysync.db*"))
	for _, p := range append(old, filepath.Join(dir, "sandbox")) {
		if err := os.RemoveAll(p); err != nil {
			return nil, fmt.Errorf("cannot remove the last run's %s: %v", p, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "sandbox"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, err
	}
	return func() { os.Remove(pidFile) }, nil
}

// stopWhenOrphaned stops the demo when the process that started it goes
// away: `go run` killed with SIGTERM does not pass the signal on, and the
// demo would keep its ports with nobody to stop it.
func stopWhenOrphaned(ctx context.Context, stop func()) {
	parent := os.Getppid()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				stop()
				return
			}
		}
	}
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// listenOrFree listens on addr or, when that fails (the port is busy), on
// a free port of the same host; the note says which it took.
func listenOrFree(addr, flagName string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, "", nil
	}
	host, _, serr := net.SplitHostPort(addr)
	if serr != nil {
		return nil, "", &exitError{code: 2, msg: fmt.Sprintf("paysync demo: %s %q is not HOST:PORT", flagName, addr)}
	}
	ln, err2 := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, "", &exitError{code: 1, msg: fmt.Sprintf("paysync demo: cannot listen on %s: %v (pass %s HOST:PORT)", addr, err, flagName)}
	}
	why := "busy"
	if !errors.Is(err, syscall.EADDRINUSE) {
		why = "not available"
	}
	return ln, fmt.Sprintf(" (%s is %s: took %s)", addr, why, ln.Addr()), nil
}

// crmTitles names the CRMs the demo delivers to.
func crmTitles(sb *sandbox.Sandbox, enabled []string) []string {
	var out []string
	for _, name := range sb.CRMNames() {
		for _, e := range enabled {
			if e == name {
				if spec, ok := connectors.Lookup(name); ok {
					out = append(out, spec.Title)
				}
			}
		}
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// serveSandbox serves the composed doubles on ln.
func serveSandbox(ln net.Listener, o sandbox.Options) (*sandbox.Sandbox, *http.Server) {
	o.BaseURL = "http://" + ln.Addr().String()
	sb := sandbox.New(o)
	srv := &http.Server{Addr: ln.Addr().String(), Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return sb, srv
}
