// Package vigil sends a job's heartbeats to Vigil (or any Healthchecks-compatible monitor)
// without ever hurting the job.
//
// A Client is made from a check's ping URL, either form:
//
//	http://127.0.0.1:8000/ping/<uuid>
//	http://127.0.0.1:8000/ping/<ping_key>/<slug>
//
// Every call returns at once: pings go through a bounded queue to one goroutine, which sends
// them in order, each with a per-request timeout and a few retries (exponential backoff with
// jitter, on network errors, 5xx and 429 only). A ping that cannot be delivered is logged and
// dropped; the job never sees an error from the monitor, never waits for it, and its result is
// never changed. Close flushes what is queued within its context's deadline.
//
// A Run is one execution of the job, identified by a fresh run id (rid) that every ping of
// the run carries, so overlapping runs are paired correctly by the monitor. Client.Wrap does
// the whole dance around a func(ctx) error: start, progress every so often, then success or
// fail with the error's text, and returns the job's own error unchanged.
//
// The package uses only the standard library and builds with Go 1.19 and newer.
package vigil
