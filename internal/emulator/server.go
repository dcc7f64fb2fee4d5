package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is one emulated account behind one HTTP address. It is safe for concurrent use: one
// mutex guards the state, the statistics, the faults and the issued tokens, and each API request
// runs under it, so every request sees and leaves a consistent account.
type Server struct {
	routes []*route

	mu      sync.Mutex
	st      *state
	stats   Stats
	faults  Faults
	rng     *rand.Rand
	tokens  map[string]tokenInfo // access token → holder
	refresh map[string]tokenInfo // refresh token → holder

	url       string
	srv       *http.Server
	served    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Endpoints are the service URLs to give each SDK client. VPC contains the literal "{region}"
// placeholder: replace it with the region the client should talk to.
type Endpoints struct {
	IAM                string // core.IamAuthenticator URL, iampolicymanagementv1, iamidentityv1
	VPC                string // vpcv1, e.g. http://127.0.0.1:PORT/vpc/{region}/v1
	ResourceController string // resourcecontrollerv2
	Tagging            string // globaltaggingv1
	KMS                string // keyprotect-go-client BaseURL (Key Protect and HPCS instances)
}

// emulatorAPIKey is the API key Env hands out; any non-empty key is accepted.
const emulatorAPIKey = "emulator-api-key"

// New makes a server for w that does not listen; serve it with Handler.
func New(w *World) (*Server, error) {
	s := &Server{
		routes:  routeTable(),
		stats:   newStats(),
		rng:     newRand(0),
		tokens:  map[string]tokenInfo{},
		refresh: map[string]tokenInfo{},
	}
	st, err := loadState(w)
	if err != nil {
		return nil, err
	}
	s.st = st
	return s, nil
}

// Start makes a server for w, listens on addr (e.g. "127.0.0.1:0") and serves in the
// background until Close.
func Start(w *World, addr string) (*Server, error) {
	s, err := New(w)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen on %s: %w", addr, err)
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		// Serve returns ErrServerClosed after Close; nothing else is expected on loopback.
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// loadState validates w the same way a world file is validated (through its JSON), so that a
// World built in Go gets the same error messages.
func loadState(w *World) (*state, error) {
	if w == nil {
		return nil, errors.New("emulator: nil world")
	}
	data, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("emulator: encode world: %w", err)
	}
	parsed, policies, err := parseWorld(data)
	if err != nil {
		return nil, fmt.Errorf("emulator: world: %w", err)
	}
	return newState(parsed, policies), nil
}

// Handler serves the emulated APIs and the /_emulator control endpoints.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// URL is "http://127.0.0.1:PORT", or "" when the server was made with New.
func (s *Server) URL() string { return s.url }

// Close stops listening, drops open connections and waits for the serving goroutine. It does
// not wait for idle keep-alive connections: SDK transports keep some that never send a request,
// and http.Server.Shutdown would wait seconds for those.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		if err := s.srv.Close(); err != nil {
			s.closeErr = fmt.Errorf("emulator: close: %w", err)
		}
		<-s.served
	})
	return s.closeErr
}

// Endpoints are the URLs to configure each SDK client with.
func (s *Server) Endpoints() Endpoints {
	return Endpoints{
		IAM:                s.url,
		VPC:                s.url + "/vpc/{region}/v1",
		ResourceController: s.url,
		Tagging:            s.url,
		KMS:                s.url,
	}
}

// Env is the environment that points the project's binary at this emulator.
func (s *Server) Env() []string {
	ep := s.Endpoints()
	s.mu.Lock()
	account := s.st.account
	s.mu.Unlock()
	return []string{
		"IBMCLOUD_API_KEY=" + emulatorAPIKey,
		"IBMCLOUD_ACCOUNT_ID=" + account,
		"IBMCLOUD_IAM_URL=" + ep.IAM,
		"IBMCLOUD_VPC_URL=" + ep.VPC,
		"IBMCLOUD_RESOURCE_CONTROLLER_URL=" + ep.ResourceController,
		"IBMCLOUD_KMS_URL=" + ep.KMS,
	}
}

// World is a deep copy of the current state: active policies with their ids, live instances,
// keys (deleted ones marked) and snapshots.
func (s *Server) World() *World {
	base := s.url
	if base == "" {
		base = "https://iam.cloud.ibm.com"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, err := s.st.world(base)
	if err != nil {
		// Rendering only marshals the emulator's own structs; keep the account at least.
		return &World{AccountID: s.st.account}
	}
	return w
}

// Reset loads w in place of the current state and clears statistics and faults. Issued tokens
// stay valid: a process holding one must not break when a test reloads the world.
func (s *Server) Reset(w *World) error {
	st, err := loadState(w)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	s.stats = newStats()
	s.faults = Faults{}
	s.rng = newRand(0)
	return nil
}

// Stats is a copy of the call counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.clone()
}

// ResetStats zeroes the call counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats()
}

// SetFaults replaces the injected faults and restarts their random source (from f.Seed when
// non-zero, so that a seeded run repeats).
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f.clone()
	s.rng = newRand(f.Seed)
}

func (s *Server) currentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.clone()
}
