// Command daily-report is processDailyReports done right: the job reports its start, its
// progress and its outcome to Vigil, and nothing the monitor does can delay it, fail it or
// change its exit status.
//
//	VIGIL_PING_URL=http://127.0.0.1:8000/ping/<uuid> go run ./examples/daily-report
//	DEMO_FAIL=1 VIGIL_PING_URL=... go run ./examples/daily-report   # fails, exits 1
//
// Without VIGIL_PING_URL (or with a bad one) it logs that and runs unmonitored.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"vigil"
)

var regions = []string{"emea", "americas", "apac"}

// Each report takes this long; the demo keeps it short.
const reportWork = 300 * time.Millisecond

// flushBudget is the most the monitor may add to the job's run time, once, at the end.
const flushBudget = 3 * time.Second

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	client, err := vigil.New(os.Getenv("VIGIL_PING_URL"),
		vigil.WithTimeout(2*time.Second), vigil.WithRetries(2))
	if err != nil {
		log.Printf("heartbeats off: %v", err) // a nil client runs the job unmonitored
	}
	err = client.Wrap(ctx, time.Minute, processDailyReports)
	flushCtx, cancel := context.WithTimeout(context.Background(), flushBudget)
	_ = client.Close(flushCtx) // a late or lost heartbeat is logged, never fatal
	cancel()
	if err != nil {
		log.Printf("daily reports failed: %v", err)
		return 1
	}
	log.Printf("daily reports done")
	return 0
}

// processDailyReports builds each region's report and says how far it got after each one.
func processDailyReports(ctx context.Context) error {
	heartbeat := vigil.RunFrom(ctx) // nil when unmonitored: its methods then do nothing
	for i, region := range regions {
		if err := buildReport(ctx, region); err != nil {
			return fmt.Errorf("report %s: %w", region, err)
		}
		heartbeat.Progress(fmt.Sprintf("%d/%d reports done (%s)", i+1, len(regions), region))
	}
	return nil
}

func buildReport(ctx context.Context, region string) error {
	if os.Getenv("DEMO_FAIL") == "1" && region == "apac" {
		return errors.New("warehouse query timed out")
	}
	select {
	case <-time.After(reportWork):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
