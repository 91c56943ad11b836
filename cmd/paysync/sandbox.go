package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/paysync/paysync/sandbox"
)

func init() {
	register(command{name: "sandbox", usage: "serve the local doubles of VPOS, ArCa and Bitrix24", run: runSandbox})
}

// listenSandbox starts the composed doubles on addr.
func listenSandbox(addr, paysyncURL string) (*sandbox.Sandbox, *http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, &exitError{code: 1, msg: fmt.Sprintf("paysync: cannot listen on %s: %v (pass --sandbox-addr HOST:PORT)", addr, err)}
	}
	sb := sandbox.New(sandbox.Options{BaseURL: "http://" + ln.Addr().String(), PaysyncURL: paysyncURL})
	srv := &http.Server{Addr: ln.Addr().String(), Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return sb, srv, nil
}

func runSandbox(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("sandbox")
	addr := fs.String("addr", "127.0.0.1:8090", "address to serve the doubles on")
	paysync := fs.String("paysync", "http://127.0.0.1:8080", "paysync base URL that receives the doubles' webhooks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sb, srv, err := listenSandbox(*addr, *paysync)
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
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
