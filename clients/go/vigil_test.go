package vigil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const testUUID = "7b1a0c52-3f5e-4d7a-9b2c-1e0f9a8b7c6d"

// waitLimit bounds every wait on a condition: generous, because the machine may be busy.
const waitLimit = 10 * time.Second

// hit is one request the fake monitor received.
type hit struct {
	path, rid, body string
}

// monitor is a fake Vigil: it records pings and answers with respond (default 200 OK).
type monitor struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	hits    []hit
	arrived chan hit
	respond func(w http.ResponseWriter, r *http.Request, n int)
}

func newMonitor(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *monitor {
	t.Helper()
	m := &monitor{t: t, arrived: make(chan hit, 1000), respond: respond}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hit{path: strings.TrimPrefix(r.URL.Path, "/ping/"+testUUID), rid: r.URL.Query().Get("rid"), body: string(body)}
		m.mu.Lock()
		m.hits = append(m.hits, h)
		n := len(m.hits)
		m.mu.Unlock()
		m.arrived <- h
		if m.respond != nil {
			m.respond(w, r, n)
			return
		}
		w.Header().Set("Ping-Body-Limit", "10000")
		_, _ = w.Write([]byte("OK"))
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *monitor) url() string { return m.srv.URL + "/ping/" + testUUID }

func (m *monitor) all() []hit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]hit(nil), m.hits...)
}

// next waits for the next request, failing the test after waitLimit.
func (m *monitor) next() hit {
	m.t.Helper()
	select {
	case h := <-m.arrived:
		return h
	case <-time.After(waitLimit):
		m.t.Fatalf("no request arrived within %s; got %v", waitLimit, m.all())
		return hit{}
	}
}

// logs collects what the client logs.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

func (l *logs) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newClient(t *testing.T, url string, opts ...Option) (*Client, *logs) {
	t.Helper()
	l := &logs{}
	c, err := New(url, append([]Option{WithLogger(l), WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

func closeWithin(t *testing.T, c *Client, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertNoLeak(t)
}

// assertNoLeak fails if a goroutine of this package is still running shortly after Close
// returned. A goroutine that has run its last deferred call can still sit in the stack dump
// for a moment on its way out (seen under -race on a loaded machine), so the dump is read
// again until it is clean or leakWait has passed: long enough for a goroutine on its way out
// to be scheduled, short enough that one Close forgot to wait for (a flush) still fails.
func assertNoLeak(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(leakWait)
	for {
		left := ourGoroutines()
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutine left running after Close:\n%s", left)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

const leakWait = 500 * time.Millisecond

// ourGoroutines is the stack of the first goroutine of this package other than the test's own.
func ourGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "vigil.(*") && !strings.Contains(g, "testing.tRunner") {
			return g
		}
	}
	return ""
}

func TestNewAcceptsBothPingURLFormsAndRefusesOthers(t *testing.T) {
	good := []string{
		"http://127.0.0.1:8000/ping/" + testUUID,
		"https://x.execute-api.eu-west-1.amazonaws.com/api/ping/" + testUUID + "/",
		"http://127.0.0.1:8000/ping/9w6ljzz2gxasthren0ydas/nightly-backup",
		"http://127.0.0.1:8000/ping/9w6ljzz2gxasthren0ydas/nightly-backup?create=1",
	}
	for _, u := range good {
		if _, err := parsePingURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	bad := []string{
		"", "127.0.0.1:8000/ping/" + testUUID, "ftp://h/ping/" + testUUID,
		"http://127.0.0.1:8000/ping/" + testUUID + "/start",
		"http://127.0.0.1:8000/ping/key/Nightly", "http://127.0.0.1:8000/",
	}
	for _, u := range bad {
		if _, err := New(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestURLsCarryActionRidAndKeepTheQuery(t *testing.T) {
	c, _ := newClient(t, "http://127.0.0.1:1/ping/key_1/nightly?create=1")
	defer closeWithin(t, c, time.Second)
	got := c.url(ping{suffix: "progress", rid: "r1"})
	if want := "http://127.0.0.1:1/ping/key_1/nightly/progress?create=1&rid=r1"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestEachRunsPingsArriveInOrderWithOneRid(t *testing.T) {
	m := newMonitor(t, nil)
	c, _ := newClient(t, m.url())
	var wg sync.WaitGroup
	rids := make(chan string, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			run := c.Start(context.Background())
			rids <- run.RID()
			for j := 0; j < 3; j++ {
				run.Progress(fmt.Sprint(j))
			}
			run.Log("note")
			run.Success(fmt.Sprint("run ", i))
		}(i)
	}
	wg.Wait()
	close(rids)
	closeWithin(t, c, waitLimit)
	byRid := map[string][]string{}
	for _, h := range m.all() {
		byRid[h.rid] = append(byRid[h.rid], h.path+":"+h.body)
	}
	for rid := range rids {
		got := byRid[rid]
		if len(got) != 6 || got[0] != "/start:" || got[1] != "/progress:0" || got[2] != "/progress:1" ||
			got[3] != "/progress:2" || got[4] != "/log:note" || !strings.HasPrefix(got[5], ":run ") {
			t.Errorf("run %s: %v", rid, got)
		}
	}
	if len(byRid) != 8 {
		t.Fatalf("want 8 distinct rids, got %d", len(byRid))
	}
}

func TestRetriesBackOffExponentiallyWithJitterOn5xxAnd429(t *testing.T) {
	m := newMonitor(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2, 3:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			_, _ = w.Write([]byte("OK"))
		}
	})
	c, _ := newClient(t, m.url(), WithRetries(5), WithBackoff(40*time.Millisecond, 100*time.Millisecond))
	var delays []time.Duration
	c.onRetry = func(_ int, d time.Duration) { delays = append(delays, d) }
	start := time.Now()
	c.Start(context.Background())
	closeWithin(t, c, waitLimit)
	if len(m.all()) != 4 {
		t.Fatalf("want 4 attempts, got %d", len(m.all()))
	}
	bounds := [][2]time.Duration{{20, 40}, {40, 80}, {50, 100}} // ms: half to all of 40·2^n, capped at 100
	for i, d := range delays {
		if d < bounds[i][0]*time.Millisecond || d > bounds[i][1]*time.Millisecond {
			t.Errorf("retry %d waited %s, want %d-%dms", i, d, bounds[i][0], bounds[i][1])
		}
	}
	if elapsed := time.Since(start); elapsed < delays[0]+delays[1]+delays[2] {
		t.Errorf("retries did not wait: %s elapsed for delays %v", elapsed, delays)
	}
}

func TestWhileTheMonitorIsDownOnlyTheOutcomeIsRetried(t *testing.T) {
	m := newMonitor(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 5 { // down for the start's 3 attempts, the progress's and the success's first
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = w.Write([]byte("OK"))
	})
	c, l := newClient(t, m.url(), WithRetries(2))
	run := c.Start(context.Background())
	run.Progress("p")
	run.Success("s")
	run2 := c.Start(context.Background())
	run2.Progress("p2")
	closeWithin(t, c, waitLimit)
	var got []string
	for _, h := range m.all() {
		got = append(got, strings.TrimPrefix(h.path, "/"))
		if h.path == "" {
			got[len(got)-1] = "success"
		}
	}
	// start ×3 (down), progress ×1 (still down), success ×2 (back up), then full service again.
	want := "start start start progress success success start progress"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q; log: %s", got, want, l.text())
	}
}

func TestRetryAfterIsHonouredUpToTheCap(t *testing.T) {
	c, _ := newClient(t, "http://127.0.0.1:1/ping/"+testUUID, WithBackoff(time.Millisecond, 700*time.Millisecond))
	defer closeWithin(t, c, time.Second)
	if d := c.retryDelay(0, 500*time.Millisecond); d != 500*time.Millisecond {
		t.Errorf("Retry-After 0.5s gave %s", d)
	}
	if d := c.retryDelay(0, time.Hour); d != 700*time.Millisecond {
		t.Errorf("Retry-After 1h gave %s, want the 700ms cap", d)
	}
}

func TestNoRetryOnOther4xx(t *testing.T) {
	m := newMonitor(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	c, l := newClient(t, m.url(), WithRetries(5))
	c.Start(context.Background())
	closeWithin(t, c, waitLimit)
	if n := len(m.all()); n != 1 {
		t.Fatalf("a 404 was tried %d times", n)
	}
	if !strings.Contains(l.text(), "start ping not delivered after 1 attempts: HTTP 404") {
		t.Fatalf("log: %s", l.text())
	}
}

func TestNetworkErrorsAreRetriedThenLogged(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close() // nothing listens there now: connection refused
	c, l := newClient(t, "http://"+addr+"/ping/"+testUUID, WithRetries(2))
	var attempts int
	c.onRetry = func(int, time.Duration) { attempts++ }
	c.Start(context.Background())
	closeWithin(t, c, waitLimit)
	if attempts != 2 || !strings.Contains(l.text(), "start ping not delivered after 3 attempts") {
		t.Fatalf("retries %d, log: %s", attempts, l.text())
	}
}

func TestRequestTimeoutIsHonoured(t *testing.T) {
	m := newMonitor(t, func(w http.ResponseWriter, r *http.Request, n int) {
		<-r.Context().Done() // never answers; returns when the client gives up
	})
	c, l := newClient(t, m.url(), WithTimeout(50*time.Millisecond), WithRetries(1))
	start := time.Now()
	c.Start(context.Background())
	closeWithin(t, c, waitLimit)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("two 50ms attempts took %s", elapsed)
	}
	if len(m.all()) != 2 || !strings.Contains(l.text(), "deadline exceeded") {
		t.Fatalf("attempts %d, log: %s", len(m.all()), l.text())
	}
}

func TestQueueOverflowDropsTheOldestProgressFirstAndLogsTheCount(t *testing.T) {
	release := make(chan struct{})
	m := newMonitor(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			<-release // hold the start in flight while the queue fills
		}
		_, _ = w.Write([]byte("OK"))
	})
	c, l := newClient(t, m.url(), WithQueueSize(3))
	run := c.Start(context.Background())
	m.next() // the start is in flight; the queue is empty
	run.Log("keep me")
	for i := 1; i <= 5; i++ {
		run.Progress(fmt.Sprint("p", i))
	}
	run.Success("done")
	close(release)
	closeWithin(t, c, waitLimit)
	var got []string
	for _, h := range m.all() {
		got = append(got, h.path+":"+h.body)
	}
	want := []string{"/start:", "/log:keep me", "/progress:p5", ":done"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
	if !strings.Contains(l.text(), "queue full: dropped 4 pings") {
		t.Fatalf("log: %s", l.text())
	}
}

func TestCloseGivesUpAtItsDeadlineAndLeavesNothingRunning(t *testing.T) {
	m := newMonitor(t, func(w http.ResponseWriter, r *http.Request, n int) {
		<-r.Context().Done()
	})
	c, l := newClient(t, m.url(), WithTimeout(time.Hour))
	run := c.Start(context.Background())
	run.Progress("a")
	run.Success("b")
	m.next()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close returned %v", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("Close with a 100ms deadline took %s", elapsed)
	}
	assertNoLeak(t)
	if !strings.Contains(l.text(), "2 pings not sent") {
		t.Fatalf("log: %s", l.text())
	}
	run.Success("after close") // harmless, logged
	if !strings.Contains(l.text(), "success ping after Close not sent") {
		t.Fatalf("log: %s", l.text())
	}
}

func TestACancelledRunContextStopsItsSending(t *testing.T) {
	m := newMonitor(t, nil)
	c, l := newClient(t, m.url())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run := c.Start(ctx)
	run.Success("never")
	c.Start(context.Background()).Success("sent")
	closeWithin(t, c, waitLimit)
	for _, h := range m.all() {
		if h.rid == run.RID() {
			t.Fatalf("a cancelled run sent %v", h)
		}
	}
	if len(m.all()) != 2 || !strings.Contains(l.text(), "success ping not sent: context canceled") {
		t.Fatalf("hits %v, log: %s", m.all(), l.text())
	}
}

func TestBodiesAreCutToTheServersPingBodyLimit(t *testing.T) {
	m := newMonitor(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Ping-Body-Limit", "10")
		_, _ = w.Write([]byte("OK"))
	})
	c, _ := newClient(t, m.url())
	run := c.Start(context.Background())
	m.next()
	run.Fail(errors.New("0123456789abcdef"))
	closeWithin(t, c, waitLimit)
	if got := m.all()[1]; got.path != "/fail" || got.body != "0123456789" {
		t.Fatalf("got %+v", got)
	}
}

func TestExitStatusIsTheURLAndClampedToTheProtocolsRange(t *testing.T) {
	m := newMonitor(t, nil)
	c, _ := newClient(t, m.url())
	for _, code := range []int{0, 3, 255, 256, -1} {
		c.Start(context.Background()).ExitStatus(code, "")
	}
	closeWithin(t, c, waitLimit)
	var got []string
	for _, h := range m.all() {
		if h.path != "/start" {
			got = append(got, h.path)
		}
	}
	if strings.Join(got, " ") != "/0 /3 /255 /255 /255" {
		t.Fatalf("got %v", got)
	}
}

var errJob = errors.New("disk full")

func TestWrapSendsStartProgressAndFinishAndReturnsTheJobsErrorUnchanged(t *testing.T) {
	m := newMonitor(t, nil)
	c, _ := newClient(t, m.url())
	err := c.Wrap(context.Background(), 5*time.Millisecond, func(ctx context.Context) error {
		RunFrom(ctx).Progress("half way")
		for progress := 0; progress < 2; { // run until two timed progress pings arrived
			if h := m.next(); h.path == "/progress" && strings.HasPrefix(h.body, "running for") {
				progress++
			}
		}
		return errJob
	})
	if err != errJob { //nolint:errorlint // the very same error value, unwrapped
		t.Fatalf("Wrap returned %v", err)
	}
	if err := c.Wrap(context.Background(), 0, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("Wrap returned %v", err)
	}
	closeWithin(t, c, waitLimit)
	hits := m.all()
	first, second := hits[0].rid, hits[len(hits)-1].rid
	var paths []string
	for _, h := range hits {
		if h.rid != first && h.rid != second {
			t.Fatalf("ping with a foreign rid: %+v", h)
		}
		paths = append(paths, h.path)
	}
	if hits[0].path != "/start" || hits[1].body != "half way" {
		t.Fatalf("got %v", hits)
	}
	last := hits[len(hits)-3]
	if last.path != "/fail" || last.body != "disk full" || last.rid != first {
		t.Fatalf("first run ended with %+v; paths %v", last, paths)
	}
	if hits[len(hits)-2].path != "/start" || hits[len(hits)-1].path != "" || first == second {
		t.Fatalf("second run: %v", hits[len(hits)-2:])
	}
}

func TestWrapReportsACancelledJobAsFailedAndStopsProgress(t *testing.T) {
	m := newMonitor(t, nil)
	c, _ := newClient(t, m.url())
	ctx, cancel := context.WithCancel(context.Background())
	err := c.Wrap(ctx, time.Millisecond, func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wrap returned %v", err)
	}
	closeWithin(t, c, waitLimit)
	hits := m.all()
	if end := hits[len(hits)-1]; end.path != "/fail" || end.body != "context canceled" {
		t.Fatalf("got %v", hits)
	}
}

func TestWrapReportsAPanicAndRaisesItAgain(t *testing.T) {
	m := newMonitor(t, nil)
	c, _ := newClient(t, m.url())
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v", p)
			}
		}()
		_ = c.Wrap(context.Background(), time.Millisecond, func(context.Context) error { panic("boom") })
	}()
	closeWithin(t, c, waitLimit)
	hits := m.all()
	if end := hits[len(hits)-1]; end.path != "/fail" || end.body != "panic: boom" {
		t.Fatalf("got %v", hits)
	}
}

func TestRunFromAContextWithoutARunIsASafeNoOp(t *testing.T) {
	run := RunFrom(context.Background())
	run.Progress("x")
	run.Success("y")
	if run.RID() != "" {
		t.Fatal("a nil run has a rid")
	}
}

func TestANilClientRunsTheJobAndSendsNothing(t *testing.T) {
	c, err := New("")
	if c != nil || err == nil {
		t.Fatalf("New(\"\") = %v, %v", c, err)
	}
	ran := false
	if err := c.Wrap(context.Background(), time.Millisecond, func(ctx context.Context) error {
		ran = true
		RunFrom(ctx).Progress("nobody hears this")
		return errJob
	}); err != errJob || !ran { //nolint:errorlint // the very same error value
		t.Fatalf("Wrap on a nil client: ran %v, returned %v", ran, err)
	}
	c.Start(context.Background()).Success("")
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRunIDsAreVersion4UUIDs(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		rid := newRID()
		if !uuidForm.MatchString(rid) || rid[14] != '4' || !strings.ContainsRune("89ab", rune(rid[19])) || seen[rid] {
			t.Fatalf("bad or repeated rid %s", rid)
		}
		seen[rid] = true
	}
}
