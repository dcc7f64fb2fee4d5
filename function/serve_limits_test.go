package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s2s-authorizer/s2s-authorizer/internal/emulator"
	te "github.com/s2s-authorizer/s2s-authorizer/internal/testenv"
)

// serveInProcess runs `serve` on a free loopback port against a fresh emulator and returns its
// base URL; it is stopped like Code Engine stops it when the test ends.
func serveInProcess(t *testing.T) string {
	t.Helper()
	_, env := emulatorEnv(t, te.World())
	return serveWithEnv(t, env)
}

// serveWithEnv runs `serve` with env as its whole environment.
func serveWithEnv(t *testing.T, env map[string]string) string {
	t.Helper()
	return serveWithArgs(t, env)
}

// serveWithArgs runs `serve` with env as its whole environment and extra flags.
func serveWithArgs(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errOut := &te.Buffer{}
	a := &app{stdout: io.Discard, stderr: errOut, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)) }()
	url := waitForListening(t, errOut, done)
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop")
		}
	})
	return url
}

// TestServeCutsOffSlowHeaders: a client that trickles its request header (slowloris) is
// disconnected once serve's header timeout has passed, however steadily it sends.
func TestServeCutsOffSlowHeaders(t *testing.T) {
	t.Parallel()
	url := serveInProcess(t)
	conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	header := "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("a", 100)
	cut := make(chan time.Duration, 1)
	go func() {
		_, _ = io.Copy(io.Discard, conn) // returns when serve closes the connection
		cut <- time.Since(start)
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(readHeaderTimeout + 10*time.Second)
	for i := 0; ; i++ {
		select {
		case d := <-cut:
			if d < readHeaderTimeout-time.Second || d > readHeaderTimeout+3*time.Second {
				t.Errorf("connection closed after %s, want about %s (the header timeout)", d.Round(time.Millisecond), readHeaderTimeout)
			}
			return
		case <-tick.C:
			if i < len(header) {
				_, _ = conn.Write([]byte{header[i]}) // fails once serve has closed: the reader reports it
			}
		case <-giveUp:
			t.Fatalf("a client trickling its header was still connected after %s", time.Since(start).Round(time.Second))
		}
	}
}

// serveMaxInFlight is the cap serve runs with: handlers.HTTPOptions' default.
const serveMaxInFlight = 64

// TestServeInFlightCap: when every in-flight slot is taken (here by events waiting for a slow
// IBM Cloud), another event is answered 503 with Retry-After at once, while a client that never
// finishes its body holds no slot; once the slow calls return, events are handled again.
func TestServeInFlightCap(t *testing.T) {
	t.Parallel()
	srv, env := emulatorEnv(t, te.World())
	url := serveWithEnv(t, env)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")

	// Bodies that never finish must not take slots: with all of them stalled, events still pass.
	var stalled []net.Conn
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()
	for range serveMaxInFlight {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
		if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
	}
	attach := []byte(`{"action":"is.tag.attach","outcome":"success","target":{"id":"` + te.SnapCRN + `"}}`)
	post := func(body []byte) (int, string, string) {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, "", ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}
	if status, _, body := post(attach); status != http.StatusOK {
		t.Fatalf("with %d stalled bodies an event got %d %s, want 200", serveMaxInFlight, status, body)
	}

	// Now hold every slot with events whose snapshot read takes 3 s.
	srv.SetFaults(emulator.Faults{Latency: 3 * time.Second, Routes: []string{"GET /v1/snapshots/{id}"}})
	var wg sync.WaitGroup
	for i := range serveMaxInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			post([]byte(strings.Replace(string(attach), `"success"`, fmt.Sprintf(`"success","eventTime":"%d"`, i), 1)))
		}()
	}
	// Probes are events that need no IBM call, so that they answer at once when they get a slot.
	probe := []byte(`{"action":"iam.nothing.to.do","outcome":"success","target":{"id":"x"}}`)
	deadline := time.Now().Add(2 * time.Second)
	for {
		status, retryAfter, body := post(probe)
		if status == http.StatusServiceUnavailable {
			if retryAfter != "1" || !strings.Contains(body, "too many events in flight") {
				t.Errorf("503 with Retry-After %q and body %s; want Retry-After 1 and the reason", retryAfter, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with %d events in flight an event got %d %s, want 503", serveMaxInFlight, status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.SetFaults(emulator.Faults{})
	wg.Wait()
	if status, _, body := post(attach); status != http.StatusOK {
		t.Errorf("after the slow events finished, an event got %d %s", status, body)
	}
}

// TestServeBodyLimit: a body of exactly 1 MiB is read (and judged on its content); one byte
// more is refused with 413 before it is decoded.
func TestServeBodyLimit(t *testing.T) {
	t.Parallel()
	url := serveInProcess(t)
	for _, tt := range []struct {
		size int
		want int
		text string
	}{
		{size: 1 << 20, want: http.StatusBadRequest, text: "malformed JSON"},
		{size: 1<<20 + 1, want: http.StatusRequestEntityTooLarge, text: "body larger than 1048576 bytes"},
	} {
		body := bytes.Repeat([]byte(" "), tt.size)
		body[len(body)-1] = '{'
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.Contains(string(answer), tt.text) {
			t.Errorf("%d bytes: %d %s, want %d %q", tt.size, resp.StatusCode, answer, tt.want, tt.text)
		}
	}
}
