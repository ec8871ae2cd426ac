package vigil

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"time"
)

// Run is one execution of the job. Every ping it sends carries its run id, so the monitor
// pairs start with finish even when runs overlap. Its methods return at once and are safe
// for concurrent use; on a nil *Run they do nothing.
type Run struct {
	client *Client
	ctx    context.Context
	rid    string
}

// Start opens a run: it queues a start ping with a fresh run id. ctx bounds the run's
// sending, not the job: once it is done, the run's pings still queued are dropped and one in
// flight is abandoned.
func (c *Client) Start(ctx context.Context) *Run {
	if c == nil {
		return nil
	}
	r := &Run{client: c, ctx: ctx, rid: newRID()}
	r.queue("start", "start", nil)
	return r
}

// RID is the run id, a random UUID.
func (r *Run) RID() string {
	if r == nil {
		return ""
	}
	return r.rid
}

// Progress says the job is still running; msg (may be empty) is kept as the ping's body.
func (r *Run) Progress(msg string) { r.queue("progress", "progress", []byte(msg)) }

// Log records an event with no effect on the check's status.
func (r *Run) Log(msg string) { r.queue("log", "log", []byte(msg)) }

// Success finishes the run; body (e.g. a summary) is kept with the ping.
func (r *Run) Success(body string) { r.queue("success", "", []byte(body)) }

// Fail finishes the run as failed, with the error's text as the body.
func (r *Run) Fail(err error) {
	text := "failed"
	if err != nil {
		text = err.Error()
	}
	r.queue("fail", "fail", []byte(text))
}

// ExitStatus finishes the run with a process exit status: 0 is success, 1-255 failure.
// Statuses outside 0-255 are reported as 255, since the monitor rejects them.
func (r *Run) ExitStatus(code int, body string) {
	if code < 0 || code > 255 {
		code = 255
	}
	r.queue("exit", strconv.Itoa(code), []byte(body))
}

func (r *Run) queue(kind, suffix string, body []byte) {
	if r == nil {
		return
	}
	r.client.enqueue(ping{ctx: r.ctx, kind: kind, suffix: suffix, rid: r.rid, body: body})
}

type runKey struct{}

// RunFrom returns the Run that Wrap put in the job's context, or nil (whose methods do
// nothing), so a job can report its own progress.
func RunFrom(ctx context.Context) *Run {
	r, _ := ctx.Value(runKey{}).(*Run)
	return r
}

// Wrap runs job as one monitored run: start; a progress ping every `every` while it runs (0
// turns them off; to keep a check with a stall timeout alive, use a fraction of it); then
// success, or fail with the error's text. It returns job's error unchanged, and a panic in
// job is reported as a failure and then re-raised.
//
// ctx is passed to job; once it is done no more progress is sent. The start and the outcome
// are sent whatever ctx does, so a job cancelled (say by SIGTERM) is reported as failed
// rather than left to time out; Close's deadline still bounds how long that may take.
func (c *Client) Wrap(ctx context.Context, every time.Duration, job func(context.Context) error) (err error) {
	if c == nil {
		return job(ctx)
	}
	run := c.Start(context.Background())
	stop := run.keepAlive(ctx, every)
	defer func() {
		stop()
		if p := recover(); p != nil {
			run.Fail(fmt.Errorf("panic: %v", p))
			panic(p)
		}
		if err != nil {
			run.Fail(err)
		} else {
			run.Success("")
		}
	}()
	return job(context.WithValue(ctx, runKey{}, run))
}

// keepAlive sends progress every `every` until ctx is done or the returned stop is called;
// stop returns only when no further progress can be queued, so the finish always comes last.
func (r *Run) keepAlive(ctx context.Context, every time.Duration) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	started := time.Now()
	go func() {
		defer close(exited)
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			select {
			case <-ticker.C:
				r.Progress("running for " + time.Since(started).Round(time.Second).String())
			case <-quit:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
	}
}

// newRID is a random (version 4) UUID, the form the monitor accepts as a run id.
func newRID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; a fixed-looking rid beats a panic.
		return "00000000-0000-4000-8000-000000000000"
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
