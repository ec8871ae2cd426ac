package vigil

import (
	"context"
	"sync"
)

// ping is one queued request: its URL suffix ("" for success), body, run and run context.
type ping struct {
	ctx    context.Context
	kind   string // start, progress, log, success, fail, exit
	suffix string
	rid    string
	body   []byte
}

// isOutcome says whether the ping ends a run: the one that matters most to the monitor.
func (p ping) isOutcome() bool {
	return p.kind == "success" || p.kind == "fail" || p.kind == "exit"
}

// queue is a bounded FIFO that, when full, sacrifices the least valuable ping: progress
// first (the next one says the same), then log, and only then the oldest of the rest.
type queue struct {
	mu       sync.Mutex
	items    []ping
	capacity int
	dropped  int // since the sender last reported
}

func (q *queue) push(p ping) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.capacity {
		q.items = append(q.items[:0:0], q.withoutVictim()...)
		q.dropped++
	}
	q.items = append(q.items, p)
}

func (q *queue) withoutVictim() []ping {
	for _, kind := range []string{"progress", "log"} {
		for i, p := range q.items {
			if p.kind == kind {
				return append(q.items[:i:i], q.items[i+1:]...)
			}
		}
	}
	return q.items[1:]
}

// pop returns the oldest ping and how many were dropped since the last pop that said so.
func (q *queue) pop() (p ping, ok bool, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dropped, q.dropped = q.dropped, 0
	if len(q.items) == 0 {
		return ping{}, false, dropped
	}
	p = q.items[0]
	q.items[0] = ping{} // let the body be collected
	q.items = q.items[1:]
	return p, true, dropped
}

// drain empties the queue and says how many pings it held.
func (q *queue) drain() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.items)
	q.items = nil
	return n
}

func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0
}
