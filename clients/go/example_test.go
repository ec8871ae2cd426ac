package vigil_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"vigil"
)

func processDailyReports(ctx context.Context) error {
	vigil.RunFrom(ctx).Progress("1/3 reports done")
	return nil
}

// A job wrapped whole: start, progress every minute, then success or fail with the error's
// text. The job's own error comes back unchanged, and the exit path waits at most 3 s for
// the monitor.
func ExampleClient_Wrap() {
	client, err := vigil.New("http://127.0.0.1:8000/ping/7b1a0c52-3f5e-4d7a-9b2c-1e0f9a8b7c6d")
	if err != nil {
		log.Fatal(err) // a malformed URL; a down monitor never shows up here
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = client.Close(ctx)
	}()
	if err := client.Wrap(context.Background(), time.Minute, processDailyReports); err != nil {
		log.Print(err)
	}
}

// A run driven by hand, by ping key and slug; each ping carries the run's id.
func ExampleClient_Start() {
	client, err := vigil.New("http://127.0.0.1:8000/ping/9w6ljzz2gxasthren0ydas/nightly-backup",
		vigil.WithTimeout(2*time.Second), vigil.WithRetries(5))
	if err != nil {
		log.Fatal(err)
	}
	run := client.Start(context.Background())
	run.Progress("dumped 3 of 7 databases")
	if err := errors.New("pg_dump: connection refused"); err != nil {
		run.Fail(err)
	} else {
		run.Success("7 databases, 12 GB")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = client.Close(ctx)
}

// Inside a wrapped job, report how far it got.
func ExampleRunFrom() {
	job := func(ctx context.Context) error {
		for i, table := range []string{"users", "orders"} {
			_ = table // ... export it ...
			vigil.RunFrom(ctx).Progress(fmt.Sprintf("%d/2 tables exported", i+1))
		}
		return nil
	}
	_ = job
}
