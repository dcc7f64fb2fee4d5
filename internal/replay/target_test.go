package replay_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/delivery"
	"github.com/s2s-authorizer/s2s-authorizer/internal/replay"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// requestLog remembers how each request arrived.
type requestLog struct {
	mu    sync.Mutex
	modes []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode := "plain " + r.Header.Get("Content-Type")
		if r.Header.Get("Ce-Specversion") != "" {
			mode = "binary " + r.Header.Get("Ce-Type")
		}
		l.mu.Lock()
		l.modes = append(l.modes, mode)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// TestServeTarget replays to the function's HTTP handler on loopback, as to a deployed serve:
// events go as binary-mode CloudEvents with the bearer token, the answers are reported, and
// the account is read afterwards with the configured credentials.
func TestServeTarget(t *testing.T) {
	env := te.Start(t, te.World(), nil)
	const token = "a-long-enough-event-token"
	var log requestLog
	srv := httptest.NewServer(log.wrap(env.Service().NewHTTPHandler(handlers.HTTPOptions{Token: token})))
	t.Cleanup(srv.Close)

	dir := writeFiles(t, map[string]string{
		"1-bare.json":          at("is.tag.attach", te.SnapCRN, 1),
		"2-batch.json":         "[" + kafka("p0/o1", at("kms.secrets.create", te.RootKeyCRN, 2)) + "," + kafka("p0/o1", at("kms.secrets.create", te.RootKeyCRN, 2)) + "]",
		"3-ping.json":          `{"specversion":"1.0","id":"tick","source":"/ping","type":"` + delivery.TypePing + `"}`,
		"malformed/4-bad.json": `{"action":`,
		"scenario.json":        `{"steps":[{"expect":[]}]}`,
	})
	want, err := replay.ParseExpectations([]byte(`[
		{"kind":"restore","subject_account":"` + te.Restorer + `","resource":{"serviceName":"is","accountId":"` + te.Account + `","snapshotId":"` + te.Snap + `"},"roles":["` + restorerRole + `"]},
		{"kind":"encryption","subject_account":"` + te.Account + `","resource":{"serviceName":"kms","accountId":"` + te.Account + `","serviceInstance":"` + te.KPGUID + `"},"roles":["` + readerRole + `"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	rep := replayIn(t, replay.Options{Paths: []string{dir}, Mode: replay.Serve, URL: srv.URL, Token: token,
		Config: env.Runtime.Config, Expect: want, ExpectName: "want.json"})
	out := text(rep)
	if got := outcomes(rep); !slices.Equal(got, []string{"applied", "applied", "duplicate", "accepted", "rejected"}) {
		t.Errorf("outcomes %v\n%s", got, out)
	}
	wantModes := []string{"binary " + delivery.TypeKafka, "binary " + delivery.TypeKafka, "binary " + delivery.TypeKafka,
		"binary " + delivery.TypePing, "plain application/json"}
	if !slices.Equal(log.modes, wantModes) {
		t.Errorf("requests %v, want %v", log.modes, wantModes)
	}
	// Only the scenario is a problem: it needs the emulator in-process.
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Reason, "runs only in-process") || rep.Summary.ExpectationsMet != 1 {
		t.Errorf("problems %+v, summary %+v\n%s", rep.Problems, rep.Summary, out)
	}
	for _, want := range []string{"Replaying to serve at " + srv.URL, "--expect want.json  expect: met, 2 authorizations",
		"+ create  restore server-protect@" + te.Restorer, "4-bad.json  -  -  - → rejected as expected: malformed JSON at byte 10: unexpected end of JSON input"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if evs := events(rep); evs[4].Result.Status != http.StatusBadRequest {
		t.Errorf("the malformed event was answered %d, want 400", evs[4].Result.Status)
	}
	if rep.Summary.APICalls != nil || rep.Summary.PolicyWrites != 2 {
		t.Errorf("summary %+v: want writes counted from the answers and no API call count", rep.Summary)
	}

	t.Run("wrong token", func(t *testing.T) {
		rep := replayIn(t, replay.Options{Paths: []string{dir + "/1-bare.json"}, Mode: replay.Serve, URL: srv.URL, Token: "wrong-token-but-long-enough"})
		out := text(rep)
		if rep.OK() || !strings.Contains(out, "→ failed: HTTP 401: missing or wrong bearer token") ||
			!strings.Contains(out, "Block Storage authorizations at the end: not readable from here") {
			t.Errorf("want a failure naming the 401:\n%s", out)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		rep := replayIn(t, replay.Options{Paths: []string{dir + "/1-bare.json"}, Mode: replay.Serve, URL: closed.URL})
		if rep.OK() || !strings.Contains(text(rep), "connection refused") {
			t.Errorf("want a connection failure:\n%s", text(rep))
		}
	})
}

// TestLiveMode runs the handlers against whatever the configuration points at: here an
// emulator standing in for IBM Cloud, reached only through the configured endpoints.
func TestLiveMode(t *testing.T) {
	env := te.Start(t, te.World(), nil)
	dir := writeFiles(t, map[string]string{"1.json": at("is.tag.attach", te.SnapCRN, 1)})
	rep := replayIn(t, replay.Options{Paths: []string{dir}, Mode: replay.Live, Config: env.Runtime.Config, DryRun: true})
	if got := outcomes(rep); !rep.OK() || !slices.Equal(got, []string{"planned"}) || len(env.Grants()) != 0 ||
		!strings.Contains(text(rep), "Replaying against IBM Cloud with the configured credentials, dry run: nothing is written (--apply writes).") {
		t.Fatalf("live dry run: %v, grants %v\n%s", got, env.Grants(), text(rep))
	}
	rep = replayIn(t, replay.Options{Paths: []string{dir}, Mode: replay.Live, Config: env.Runtime.Config})
	if got := outcomes(rep); !rep.OK() || !slices.Equal(got, []string{"applied"}) || len(env.Grants()) != 1 || rep.Summary.PolicyWrites != 1 {
		t.Errorf("live apply: %v, grants %v\n%s", got, env.Grants(), text(rep))
	}
}
