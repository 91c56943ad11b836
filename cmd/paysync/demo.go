package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
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
	register(command{name: "demo", usage: "serve + sandbox CRMs + 20 sample Direct orders, on its own SQLite database in ./data/demo [--once]", run: runDemo})
}

// demoDir holds the demo's database, log and sandbox files, apart from
// the shop's data.
var demoDir = filepath.Join("data", "demo")

// demoSettled, when set (tests), sees the sandbox once the sample traffic
// has settled, before the demo closes it.
var demoSettled func(sb *sandbox.Sandbox)

func runDemo(ctx context.Context, env *cmdEnv, args []string) error {
	// No --config: the demo reads no config file.
	fs := flag.NewFlagSet("paysync demo", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	defAddr := "127.0.0.1:8080"
	if a := os.Getenv("PAYSYNC_HTTP_ADDR"); a != "" {
		defAddr = a
	}
	addr := fs.String("addr", defAddr, "address paysync serves on, from $PAYSYNC_HTTP_ADDR when set; a free port of the same host when it is busy")
	sbAddr := fs.String("sandbox-addr", "127.0.0.1:8090", "address the sandbox doubles serve on; a free port of the same host when it is busy")
	once := fs.Bool("once", false, "play the sample traffic as fast as paysync settles it, print the summary and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out := env.stdout
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go stopWhenOrphaned(ctx, stop)

	// The demo's own folder: a fresh database each run, never the shop's
	// (PAYSYNC_DATABASE_URL, PAYSYNC_DATA_DIR and config.yaml are not read).
	release, err := claimDemoDir(demoDir)
	if err != nil {
		return &exitError{code: 1, msg: "paysync demo: " + err.Error()}
	}
	defer release()
	logPath := filepath.Join(demoDir, "paysync.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("paysync demo: cannot write its log: %v", err)}
	}
	defer logFile.Close()
	logEnv := &cmdEnv{stdout: io.Discard, stderr: logFile}

	ln, addrNote, err := listenOrFree(*addr, "--addr")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	sbLn, sbNote, err := listenOrFree(*sbAddr, "--sandbox-addr")
	if err != nil {
		ln.Close()
		return err
	}
	sb, sbSrv := serveSandbox(sbLn, sandbox.Options{PaysyncURL: base, Dir: filepath.Join(demoDir, "sandbox"),
		Logger: logging.New(logFile, logging.Options{Level: "info", Format: "text"})})
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		sbSrv.Shutdown(sctx)
		sb.Close()
	}()

	token, ownToken := os.LookupEnv("PAYSYNC_ADMIN_TOKEN")
	if !ownToken || token == "" {
		token, ownToken = "demo-"+randomHex(6), false
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(24))
	cfg, err := demoConfig(ctx, sb, map[string]string{
		"PAYSYNC_ADMIN_TOKEN":            token,
		"PAYSYNC_HTTP_ADDR":              ln.Addr().String(),
		"PAYSYNC_PUBLIC_URL":             base,
		"PAYSYNC_DATA_DIR":               demoDir,
		"PAYSYNC_GENERIC_WEBHOOK_SECRET": secret,
	})
	if err != nil {
		ln.Close()
		return err
	}
	a, err := openAppWith(ctx, logEnv, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	d, err := startDaemon(ctx, a, ln)
	if err != nil {
		ln.Close()
		return err
	}

	login := "the admin token " + token
	curlToken := token
	if ownToken {
		login, curlToken = "your PAYSYNC_ADMIN_TOKEN", "$PAYSYNC_ADMIN_TOKEN"
	}
	sbURL := "http://" + sbLn.Addr().String()
	fmt.Fprintf(out, "paysync demo: %d Direct orders paid through the sandbox VPOS.am and ArCa, delivered to the sandbox %s.\n\n",
		len(demo.Orders()), strings.Join(crmTitles(sb, cfg.EnabledConnectors()), ", "))
	fmt.Fprintf(out, "  paysync   %s%s\n", base, addrNote)
	fmt.Fprintf(out, "  console   %s/ui/ (log in with %s)\n", base, login)
	fmt.Fprintf(out, "  sandbox   %s%s\n", sbURL, sbNote)
	fmt.Fprintf(out, "  database  %s (SQLite, new for this run; the shop's database and config.yaml are not used)\n", filepath.Join(demoDir, "paysync.db"))
	fmt.Fprintf(out, "  log       %s\n\n", logPath)

	o := demo.Options{API: base, Token: token, GenericSecret: secret, Sandbox: sb, Connectors: cfg.EnabledConnectors(),
		Scale: 1, ExpiresIn: demo.ExpiresIn, Out: out, Printer: printer(cfg)}
	if *once {
		o.Scale, o.ExpiresIn = 0, time.Second
		fmt.Fprintln(out, "The orders, as fast as paysync settles them (--once):")
	} else {
		fmt.Fprintln(out, "The orders, over about a minute:")
	}
	results, err := demo.Run(ctx, o)
	if err != nil {
		serr := d.shutdown()
		if ctx.Err() != nil {
			fmt.Fprintln(out, "\nInterrupted; stopped.")
			if *once {
				return &exitError{code: 130}
			}
			return serr
		}
		return fmt.Errorf("%w (log: %s)", err, logPath)
	}
	fmt.Fprintln(out, "\nWhere each order ended, in paysync and in each sandbox CRM:")
	if err := demo.Summary(out, o.Printer, sb, o.Connectors, results); err != nil {
		d.shutdown()
		return err
	}
	if demoSettled != nil {
		demoSettled(sb)
	}
	if *once {
		return d.shutdown()
	}
	review := ""
	for _, r := range results {
		if r.View.Order.Status == core.StatusManualReview {
			review += ", " + r.Order.ID
		}
	}
	fmt.Fprintf(out, "\nLook around while it serves:\n")
	fmt.Fprintf(out, "  console   %s/ui/ (log in with %s)", base, login)
	if review != "" {
		fmt.Fprintf(out, "; %s wait under Needs review for a person to settle", review[2:])
	}
	fmt.Fprintf(out, "\n  API       curl -H \"Authorization: Bearer %s\" %s/v1/orders/IG-1001\n", curlToken, base)
	fmt.Fprintf(out, "  sandbox   %s/ (an order's page in the console links to its deal, lead and row)\n", sbURL)
	fmt.Fprintln(out, "Press Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Fprintln(out, "\nStopping…")
	err = d.shutdown()
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
