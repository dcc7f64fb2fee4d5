package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/IBM/platform-services-go-sdk/globaltaggingv1"

	"github.com/s2s-authorizer/s2s-authorizer/handlers"
	"github.com/s2s-authorizer/s2s-authorizer/internal/apply"
	"github.com/s2s-authorizer/s2s-authorizer/internal/converge"
)

// bag holds the deliveries that are due; senders take them in random order, so that events
// arrive shuffled and a duplicate may overtake its original. It stays small, so the world keeps
// changing while the senders work.
type bag struct {
	mu     sync.Mutex
	cond   *sync.Cond
	items  []*delivery
	closed bool
	rng    *rand.Rand
	max    int
}

func newBag(max int, seed uint64) *bag {
	b := &bag{max: max, rng: rand.New(rand.NewPCG(seed, 1))}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// put adds d, waiting while the bag is full.
func (b *bag) put(ctx context.Context, d ...*delivery) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.items) >= b.max && ctx.Err() == nil {
		b.cond.Wait()
	}
	b.items = append(b.items, d...)
	b.cond.Broadcast()
	return ctx.Err()
}

// take removes a random delivery; ok is false once the bag is closed and empty.
func (b *bag) take() (d *delivery, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.items) == 0 && !b.closed {
		b.cond.Wait()
	}
	if len(b.items) == 0 {
		return nil, false
	}
	i := b.rng.IntN(len(b.items))
	d = b.items[i]
	b.items[i] = b.items[len(b.items)-1]
	b.items = b.items[:len(b.items)-1]
	b.cond.Broadcast()
	return d, true
}

func (b *bag) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.cond.Broadcast()
}

// wake unblocks put and take when ctx ends.
func (b *bag) wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cond.Broadcast()
}

// tagger changes the world the way a user does: through Global Tagging, with the real SDK.
type tagger struct {
	client  *globaltaggingv1.GlobalTaggingV1
	retries int // attempts answered with an error and made again
}

func newTagger(url string) (*tagger, error) {
	auth, err := core.NewIamAuthenticatorBuilder().SetApiKey("soak-user-api-key").SetURL(url).Build()
	if err != nil {
		return nil, fmt.Errorf("tagging authenticator: %w", err)
	}
	client, err := globaltaggingv1.NewGlobalTaggingV1(&globaltaggingv1.GlobalTaggingV1Options{URL: url, Authenticator: auth})
	if err != nil {
		return nil, fmt.Errorf("tagging client: %w", err)
	}
	return &tagger{client: client}, nil
}

// apply makes c, retrying the emulator's injected faults; a fault answers before the write,
// so retrying is safe, and attach and detach are idempotent anyway.
func (t *tagger) apply(ctx context.Context, c *tagChange) error {
	resources := []globaltaggingv1.Resource{{ResourceID: core.StringPtr(c.crn)}}
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		var res *globaltaggingv1.TagResults
		if c.attach {
			res, _, err = t.client.AttachTagWithContext(ctx, t.client.NewAttachTagOptions().SetResources(resources).SetTagNames([]string{c.tag}))
		} else {
			res, _, err = t.client.DetachTagWithContext(ctx, t.client.NewDetachTagOptions().SetResources(resources).SetTagNames([]string{c.tag}))
		}
		if err == nil {
			if len(res.Results) != 1 || res.Results[0].IsError == nil || *res.Results[0].IsError {
				return fmt.Errorf("tag %q on %s: unexpected results %+v", c.tag, c.crn, res.Results)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t.retries++
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("tag %q on %s: %w", c.tag, c.crn, err)
}

// sent is what became of one delivery.
type sent struct {
	d         *delivery
	attempts  int
	status    int    // the final answer's status; 0 when no answer came
	outcome   string // the final answer's outcome
	exhausted bool   // still asked for a retry when the budget was spent
	retried   map[int]int
	writes    int // policies created or deleted, over all attempts
}

// sender delivers like Knative's Kafka delivery: a 5xx, 404, 408, 409, 429 or a failed
// connection is retried with exponential backoff and full jitter, up to a bounded number of
// attempts; anything else is final.
type sender struct {
	url, token  string
	client      *http.Client
	maxAttempts int
	backoff     func(attempt int) time.Duration
}

func retryable(status int) bool {
	switch status {
	case 0, http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return status >= 500
}

func (s *sender) deliver(ctx context.Context, d *delivery) sent {
	out := sent{d: d, retried: map[int]int{}}
	for {
		out.attempts++
		status, answer := s.post(ctx, d)
		out.status = status
		for _, r := range answer.Results {
			out.outcome = string(r.Outcome)
			out.writes += apply.Writes(r.Changes)
		}
		if len(answer.Results) == 0 && answer.Error != "" {
			out.outcome = string(converge.Rejected)
		}
		if !retryable(status) {
			return out
		}
		if out.attempts >= s.maxAttempts || ctx.Err() != nil {
			out.exhausted = true
			return out
		}
		out.retried[status]++
		select {
		case <-time.After(s.backoff(out.attempts)):
		case <-ctx.Done():
		}
	}
}

func (s *sender) post(ctx context.Context, d *delivery) (int, handlers.Response) {
	var answer handlers.Response
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, answer
	}
	req.Header = d.header(s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, answer
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		err = json.Unmarshal(body, &answer)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		answer.Error = "unreadable answer: " + err.Error()
	}
	return resp.StatusCode, answer
}

// expBackoff doubles from lo up to hi and draws uniformly below that (full jitter).
func expBackoff(lo, hi time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		step := lo << min(attempt-1, 20)
		if step <= 0 || step > hi {
			step = hi
		}
		return rand.N(step) + time.Millisecond
	}
}
