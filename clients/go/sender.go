package vigil

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// send is the one goroutine that talks to the monitor: one ping at a time, oldest first, so
// each run's pings arrive in the order they were made.
func (c *Client) send() {
	defer close(c.done)
	for {
		select {
		case <-c.abort: // Close's deadline: what is still queued stays unsent
			return
		default:
		}
		p, ok, dropped := c.queue.pop()
		if dropped > 0 {
			c.cfg.logger.Printf("vigil: queue full: dropped %d pings (progress first)", dropped)
		}
		if ok {
			c.deliver(p)
			continue
		}
		select {
		case <-c.wake:
		case <-c.abort:
			return
		case <-c.closing:
			if c.queue.empty() {
				return
			}
		}
	}
}

// deliver sends one ping with its retries; a ping that cannot be delivered is logged, never
// returned to anyone.
//
// While the monitor is unreachable (the last ping used up its retries), only a run's outcome
// is retried: start, progress and log get one attempt each, so they cannot eat the time Close
// has left for the success or failure that matters.
func (c *Client) deliver(p ping) {
	retries := c.cfg.retries
	if c.unreachable && !p.isOutcome() {
		retries = 0
	}
	for attempt := 0; ; attempt++ {
		if p.ctx.Err() != nil {
			c.cfg.logger.Printf("vigil: %s ping not sent: %v", p.kind, p.ctx.Err())
			return
		}
		status, retryAfter, err := c.post(p)
		if err == nil && status < 300 {
			c.unreachable = false
			return
		}
		problem := fmt.Sprintf("HTTP %d", status)
		if err != nil {
			problem = err.Error()
		}
		retryable := err != nil || status >= 500 || status == http.StatusTooManyRequests
		if !retryable || attempt >= retries {
			c.unreachable = retryable
			c.cfg.logger.Printf("vigil: %s ping not delivered after %d attempts: %s",
				p.kind, attempt+1, problem)
			return
		}
		if !c.wait(p.ctx, c.retryDelay(attempt, retryAfter), attempt) {
			c.cfg.logger.Printf("vigil: %s ping not sent: gave up retrying (%s)", p.kind, problem)
			return
		}
	}
}

// retryDelay is exponential backoff with jitter: a random time between half and all of
// backoff·2^attempt, capped; a 429's Retry-After, if longer, wins up to the cap.
func (c *Client) retryDelay(attempt int, retryAfter time.Duration) time.Duration {
	ceiling := c.cfg.backoff << attempt
	if ceiling > c.cfg.maxBackoff || ceiling <= 0 {
		ceiling = c.cfg.maxBackoff
	}
	delay := ceiling / 2
	if half := int64(ceiling - delay); half > 0 {
		delay += time.Duration(c.rng.Int63n(half + 1))
	}
	if retryAfter > delay {
		delay = retryAfter
	}
	if delay > c.cfg.maxBackoff {
		delay = c.cfg.maxBackoff
	}
	return delay
}

// wait sleeps before a retry; false if the run's context or Close's deadline ends it first.
func (c *Client) wait(ctx context.Context, d time.Duration, attempt int) bool {
	if c.onRetry != nil {
		c.onRetry(attempt, d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-c.abort:
		return false
	}
}

// post makes one attempt. It returns the HTTP status and a 429's Retry-After.
func (c *Client) post(p ping) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(p.ctx, c.cfg.timeout)
	defer cancel()
	stop, exited := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-exited }()
	go func() { // Close's deadline abandons the request in flight
		defer close(exited)
		select {
		case <-c.abort:
			cancel()
		case <-stop:
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url(p), bytes.NewReader(c.cut(p.body)))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.cfg.httpClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // so the connection is reused
	if limit, err := strconv.ParseInt(resp.Header.Get("Ping-Body-Limit"), 10, 64); err == nil && limit >= 0 {
		c.limit.Store(limit)
	}
	var retryAfter time.Duration
	if seconds, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && seconds > 0 {
		retryAfter = time.Duration(seconds) * time.Second
	}
	return resp.StatusCode, retryAfter, nil
}

// url is the check's ping URL with the action's suffix and the run id.
func (c *Client) url(p ping) string {
	u := *c.base
	if p.suffix != "" {
		u.Path += "/" + p.suffix
	}
	if p.rid != "" {
		q := u.Query()
		q.Set("rid", p.rid)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// cut keeps a body within the server's Ping-Body-Limit: the server would cut it anyway, and
// sending less is cheaper.
func (c *Client) cut(body []byte) []byte {
	if limit := c.limit.Load(); int64(len(body)) > limit {
		return body[:limit]
	}
	return body
}
