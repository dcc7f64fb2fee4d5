package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/netutil"

	"github.com/s2s-authorizer/s2s-authorizer/config"
	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	"github.com/s2s-authorizer/s2s-authorizer/internal/reconcile"
	"github.com/s2s-authorizer/s2s-authorizer/internal/record"
)

// Server limits: a slow or hostile client cannot hold a connection or a goroutine for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute // an event may wait for IAM's retries
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	drainTimeout      = 25 * time.Second // Code Engine sends SIGKILL 30 s after SIGTERM
	// eventDeadline bounds the work of one request (a batch's members together), well inside
	// writeTimeout, so that the answer, with 503 for what was not done, reaches the sender
	// instead of a cut connection that would make it redeliver everything.
	eventDeadline = writeTimeout - 30*time.Second
	// defaultMaxConnections caps the connections open at once; more wait in the kernel's
	// backlog until one closes. Code Engine's default concurrency per instance is 100.
	defaultMaxConnections = 256
)

func runServe(ctx context.Context, a *app, args []string) int {
	fs := a.flags("serve", "[flags]", "Serve CloudEvents over HTTP: the Code Engine app. Events are POSTed to --path;\nGET /healthz answers while the process lives, GET /readyz once an IAM token can be had.")
	var l localFlags
	l.register(fs)
	port := fs.Int("port", 0, "port to listen on (default $PORT, else 8080)")
	listen := fs.String("listen", "", "address to listen on, e.g. 127.0.0.1:8080 (overrides --port)")
	path := fs.String("path", "/", "URL path that receives events")
	recordDir := fs.String("record", "", "write every event received to `DIR` before handling it, one structured CloudEvent file\neach, for s2s-authorizer replay (default $RECORD_DIR)")
	redact := fs.Bool("redact", true, "with --record: remove the initiator's IDs, names and addresses from recorded events\n(credential-like extensions are always redacted)")
	recordQuota := fs.Int64("record-quota", record.DefaultMaxBytes, "with --record: stop recording once the directory holds this many `BYTES`")
	readyTTL := fs.Duration("ready-ttl", handlers.DefaultReadyTTL, "reuse a /readyz result this long, so that probes cost one IAM token request")
	maxConns := fs.Int("max-connections", defaultMaxConnections, "connections open at once; more wait until one closes")
	if done, code := a.parse(fs, args, 0, 0); done {
		return code
	}
	if *maxConns < 1 || *recordQuota < 1 || *readyTTL <= 0 {
		fmt.Fprintln(a.stderr, "serve: --max-connections, --record-quota and --ready-ttl must be positive")
		return exitUsage
	}
	s, code := a.open(ctx, l, func(c *config.Config) {
		if *port != 0 {
			c.Port = *port
		}
		if *recordDir != "" {
			c.RecordDir = *recordDir
		}
	})
	if code != exitOK {
		return code
	}
	defer s.Close()
	addr := *listen
	if addr == "" {
		addr = ":" + strconv.Itoa(s.Config.Port)
	}

	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	rec := reconcile.NewBackground(runCtx, s.Reconciler(0, 0), s.Logger)
	service := s.Service(func(context.Context) string {
		if rec.Start() {
			return "full reconcile started"
		}
		return "full reconcile already running"
	})
	httpOptions := handlers.HTTPOptions{Path: *path, Token: s.Config.EventAuthToken, Ready: s.Cloud.Ready, Deadline: eventDeadline, ReadyTTL: *readyTTL}
	if s.Config.RecordDir != "" {
		httpOptions.Record = record.New(s.Config.RecordDir, record.Options{Redact: *redact, Logger: s.Logger, MaxBytes: *recordQuota}).Record
		s.Logger.Info("recording events", zap.String("dir", s.Config.RecordDir), zap.Bool("redact", *redact))
	}
	handler := service.NewHTTPHandler(httpOptions)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(a.stderr, "serve: %v\n", err)
		return exitFailure
	}
	ln = netutil.LimitListener(ln, *maxConns)
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		BaseContext: func(net.Listener) context.Context { return runCtx },
	}
	fields := []zap.Field{zap.String("url", "http://"+ln.Addr().String()+*path), zap.String("account", s.Config.AccountID),
		zap.String("version", version), zap.Bool("dry_run", s.Config.DryRun), zap.String("sync_mode", string(s.Config.SyncMode)),
		zap.Int("max_connections", *maxConns), zap.Duration("event_deadline", eventDeadline), zap.Strings("regions", s.Config.Regions)}
	if s.emulator != nil {
		fields = append(fields, zap.String("emulator", s.emulator.URL()))
	}
	s.Logger.Info("listening", fields...)
	if s.emulator != nil {
		localHint(a.stderr, s.emulator, "http://"+ln.Addr().String()+*path)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintf(a.stderr, "serve: %v\n", err)
		return exitFailure
	case <-ctx.Done():
	}
	// SIGTERM: stop accepting, let in-flight events finish, then stop a background reconcile.
	s.Logger.Info("draining")
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err = srv.Shutdown(drainCtx)
	cancelRuns()
	rec.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.Logger.Error("drain", zap.Error(err))
		return exitFailure
	}
	s.Logger.Info("stopped")
	return exitOK
}

// localHint tells a person running serve --local where the app's emulator is and how to look at
// what the app makes there: 'policies --local' would start a fresh emulator of its own, and the
// address is otherwise only in a log line.
func localHint(w io.Writer, emu *emulator.Server, url string) {
	fmt.Fprintf(w, "serve --local: the app is at %s, its emulator at %s.\n", url, emu.URL())
	fmt.Fprint(w, "To list the policies the app has made there, run in another terminal (from the repository):\n  env")
	for _, kv := range emu.Env() {
		name, value, _ := strings.Cut(kv, "=")
		fmt.Fprintf(w, " %s=%s", name, shellQuote(value))
	}
	fmt.Fprintln(w, " go run ./function policies")
}
