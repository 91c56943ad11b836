package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/paysync/paysync/sandbox"
	_ "github.com/paysync/paysync/sandbox/all" // every double of this release
)

func init() {
	register(command{name: "sandbox", usage: "serve the local doubles of the payment providers, the CRMs and Instagram [--addr HOST:PORT] [--paysync URL]", help: sandboxHelp, run: runSandbox})
}

// listenSandbox starts the composed doubles on addr; o.BaseURL is set from
// the address it got.
func listenSandbox(addr string, o sandbox.Options) (*sandbox.Sandbox, *http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, &exitError{code: 1, msg: fmt.Sprintf("paysync: cannot listen on %s: %v (pass --addr HOST:PORT)", addr, err)}
	}
	sb, srv := serveSandbox(ln, o)
	return sb, srv, nil
}

func sandboxHelp() string {
	return "Reads no config file; PAYSYNC_HTTP_ADDR sets the default of --paysync.\n"
}

func runSandbox(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.bareFlags("sandbox")
	addr := fs.String("addr", "127.0.0.1:8090", "address to serve the doubles on")
	defPaysync := "http://127.0.0.1:8080"
	if a := os.Getenv("PAYSYNC_HTTP_ADDR"); a != "" {
		defPaysync = "http://" + a
	}
	paysync := fs.String("paysync", defPaysync, "paysync base URL that receives the doubles' webhooks and callbacks (default http://$PAYSYNC_HTTP_ADDR)")
	dir := fs.String("dir", "", "folder for files the doubles hand out, such as the Google service-account key (default a temporary folder)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "paysync-sandbox-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	log := slog.New(slog.NewTextHandler(env.stderr, nil))
	sb, srv, err := listenSandbox(*addr, sandbox.Options{PaysyncURL: *paysync, Dir: *dir, Logger: log})
	if err != nil {
		return err
	}
	defer sb.Close()
	fmt.Fprintf(env.stdout, "sandbox serving on %s; webhooks go to %s\nPoint paysync at it with:\n", srv.Addr, *paysync)
	vars := sb.Env()
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(env.stdout, "  export %s='%s'\n", k, vars[k])
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
