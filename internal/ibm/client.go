package ibm

import (
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/IBM/go-sdk-core/v5/core"
	"github.com/hashicorp/go-retryablehttp"
)

// Options tunes how every SDK client talks to IBM Cloud.
type Options struct {
	// Timeout bounds one HTTP attempt; retries get their own.
	Timeout time.Duration
	// MaxRetries is how often a 429, a 5xx (but 501) or a connection error is retried.
	MaxRetries int
	// MinRetryWait and MaxRetryWait bound the exponential backoff between retries.
	MinRetryWait, MaxRetryWait time.Duration
	// Transport is shared by all clients so that connections are reused.
	Transport http.RoundTripper
}

// DefaultOptions suit a function answering an event: a few quick retries, then the event's
// sender redelivers.
func DefaultOptions() Options {
	return Options{
		Timeout:      20 * time.Second,
		MaxRetries:   3,
		MinRetryWait: 500 * time.Millisecond,
		MaxRetryWait: 5 * time.Second,
		Transport:    NewTransport(),
	}
}

// NewTransport is a keep-alive transport sized for a handful of concurrent IBM endpoints.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return t
}

func (o Options) httpClient() *http.Client {
	return &http.Client{Timeout: o.Timeout, Transport: o.Transport}
}

// configure gives an SDK service the shared HTTP client, then go-sdk-core's retries, with a
// backoff that adds jitter: core's own backoff has none, and many instances retrying in lock
// step are what IAM's rate limiter punishes.
func configure(service *core.BaseService, o Options) {
	service.SetHTTPClient(o.httpClient())
	service.EnableRetries(o.MaxRetries, o.MaxRetryWait)
	if rt, ok := service.Client.Transport.(*retryablehttp.RoundTripper); ok {
		rt.Client.RetryWaitMin = o.MinRetryWait
		rt.Client.Backoff = jitteredBackoff
	}
}

// jitteredBackoff honours Retry-After like core's policy, and otherwise waits a random time
// between half and all of the exponential step.
func jitteredBackoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && resp.Header.Get("Retry-After") != "" {
		return core.IBMCloudSDKBackoffPolicy(minWait, maxWait, attempt, resp)
	}
	step := minWait << min(attempt, 20)
	if step <= 0 || step > maxWait {
		step = maxWait
	}
	half := step / 2
	return half + rand.N(half+1)
}
