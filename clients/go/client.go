package vigil

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults, chosen so that a dead monitor costs a job nothing it would notice.
const (
	DefaultTimeout    = 5 * time.Second        // per request
	DefaultRetries    = 3                      // after the first attempt
	DefaultBackoff    = 500 * time.Millisecond // first retry waits up to this, doubling
	DefaultMaxBackoff = 10 * time.Second
	DefaultQueueSize  = 64
	// DefaultBodyLimit is Vigil's and Healthchecks' default; the server's Ping-Body-Limit
	// header replaces it as soon as one reply has arrived.
	DefaultBodyLimit = 10000
	userAgent        = "vigil-go/1"
)

var (
	uuidForm = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	slugForm = regexp.MustCompile(`^[-a-z0-9_]+$`)
	keyForm  = regexp.MustCompile(`^[-a-zA-Z0-9_]+$`)
)

// Logger receives the client's own troubles (a ping not delivered, pings dropped). A
// *log.Logger satisfies it.
type Logger interface {
	Printf(format string, v ...any)
}

// Option configures a Client.
type Option func(*config)

type config struct {
	timeout    time.Duration
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	queueSize  int
	httpClient *http.Client
	logger     Logger
}

// WithTimeout bounds each request (default 5 s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithRetries sets how many times a failed ping is retried (default 3). Only network errors,
// 5xx and 429 are retried: any other 4xx means the URL is wrong, and retrying cannot help.
func WithRetries(n int) Option { return func(c *config) { c.retries = n } }

// WithBackoff sets the first retry's delay and the cap; each retry doubles the delay and
// waits a random time between half of it and all of it (jitter), so that many jobs failing
// together do not retry together.
func WithBackoff(first, max time.Duration) Option {
	return func(c *config) { c.backoff, c.maxBackoff = first, max }
}

// WithHTTPClient sends through hc (proxies, TLS settings, instrumentation). Its own Timeout,
// if any, applies on top of WithTimeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithLogger replaces the default logger (standard error).
func WithLogger(l Logger) Option { return func(c *config) { c.logger = l } }

// WithQueueSize bounds how many pings may wait (default 64). When it is full, the oldest
// progress ping is dropped first, then the oldest log ping, then the oldest ping; the count
// is logged.
func WithQueueSize(n int) Option { return func(c *config) { c.queueSize = n } }

// Client sends pings for one check. It is safe for concurrent use. Close it when done.
//
// A nil *Client (what New returns with an error) is usable: it sends nothing, Wrap just runs
// the job, and Close returns at once. So a bad or missing URL never stops the job.
type Client struct {
	base     *url.URL
	cfg      config
	ownHTTP  bool
	queue    queue
	wake     chan struct{} // a ping was queued
	closing  chan struct{} // Close was called: drain, then stop
	abort    chan struct{} // Close's context is done: stop now
	done     chan struct{} // the sender has stopped
	closeMu  sync.Mutex
	closed   bool
	limit    atomic.Int64 // the server's Ping-Body-Limit
	abortOne sync.Once
	// Used by the sender goroutine only.
	rng         *rand.Rand
	unreachable bool                                   // the last ping used up its retries
	onRetry     func(attempt int, delay time.Duration) // tests watch the backoff here
}

// New makes a Client from a check's ping URL and starts its sender goroutine.
func New(pingURL string, opts ...Option) (*Client, error) {
	base, err := parsePingURL(pingURL)
	if err != nil {
		return nil, err
	}
	cfg := config{
		timeout:    DefaultTimeout,
		retries:    DefaultRetries,
		backoff:    DefaultBackoff,
		maxBackoff: DefaultMaxBackoff,
		queueSize:  DefaultQueueSize,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.timeout <= 0 || cfg.retries < 0 || cfg.backoff < 0 || cfg.maxBackoff < cfg.backoff ||
		cfg.queueSize < 1 {
		return nil, errors.New("vigil: timeout and queue size must be positive, retries and backoff not negative")
	}
	c := &Client{
		base:    base,
		cfg:     cfg,
		queue:   queue{capacity: cfg.queueSize},
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		abort:   make(chan struct{}),
		done:    make(chan struct{}),
		rng:     rand.New(rand.NewSource(time.Now().UnixNano())),
	}
	if c.cfg.httpClient == nil {
		// A transport of our own, so Close can drop its idle connections and leave nothing behind.
		c.cfg.httpClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		c.ownHTTP = true
	}
	if c.cfg.logger == nil {
		c.cfg.logger = log.New(os.Stderr, "", log.LstdFlags)
	}
	c.limit.Store(DefaultBodyLimit)
	go c.send()
	return c, nil
}

// parsePingURL accepts <base>/<uuid> and <base>/<ping_key>/<slug>, the two forms a check's
// ping URL takes, and refuses anything else now rather than losing every ping later.
func parsePingURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("vigil: ping URL %q is not an http(s) URL", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	parts := strings.Split(u.Path, "/")
	last := parts[len(parts)-1]
	if uuidForm.MatchString(last) {
		return u, nil
	}
	if len(parts) >= 3 && slugForm.MatchString(last) && keyForm.MatchString(parts[len(parts)-2]) &&
		!uuidForm.MatchString(parts[len(parts)-2]) {
		return u, nil
	}
	return nil, fmt.Errorf("vigil: ping URL %q must end in /<uuid> or /<ping_key>/<slug>", raw)
}

// Close sends what is queued, waiting at most until ctx is done. Then whatever is left is
// dropped (and counted in the log), an in-flight request is abandoned, and Close returns
// ctx's error. The Client sends nothing after Close. Calling it again is harmless.
func (c *Client) Close(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.closeMu.Lock()
	if !c.closed {
		c.closed = true
		close(c.closing)
	}
	c.closeMu.Unlock()
	var err error
	select {
	case <-c.done:
	case <-ctx.Done():
		err = ctx.Err()
		c.abortOne.Do(func() { close(c.abort) })
		<-c.done // prompt: every wait in the sender also watches abort
	}
	if left := c.queue.drain(); left > 0 {
		c.cfg.logger.Printf("vigil: %d pings not sent: Close's deadline came first", left)
	}
	if c.ownHTTP {
		c.cfg.httpClient.CloseIdleConnections()
	}
	return err
}

// enqueue hands a ping to the sender; it never blocks.
func (c *Client) enqueue(p ping) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		c.cfg.logger.Printf("vigil: %s ping after Close not sent", p.kind)
		return
	}
	c.queue.push(p)
	select {
	case c.wake <- struct{}{}:
	default: // the sender has a wake-up pending already
	}
}
