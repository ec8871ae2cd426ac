package vigil

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLocalStack runs against a live Vigil (the project's pytest starts one and sets these);
// without them it is skipped.
func TestLocalStack(t *testing.T) {
	base, key, pingKey := os.Getenv("VIGIL_TEST_BASE"), os.Getenv("VIGIL_TEST_API_KEY"), os.Getenv("VIGIL_TEST_PING_KEY")
	if base == "" || key == "" || pingKey == "" {
		t.Skip("VIGIL_TEST_BASE, VIGIL_TEST_API_KEY and VIGIL_TEST_PING_KEY are not set")
	}
	check := apiCall(t, base, key, "POST", "/api/v3/checks/", `{"name": "go-client", "slug": "go-client", "timeout": 3600}`)
	uuid := check["uuid"].(string)

	t.Run("Wrap by uuid", func(t *testing.T) {
		c, l := newClient(t, base+"/ping/"+uuid)
		var rid string
		err := c.Wrap(context.Background(), 0, func(ctx context.Context) error {
			rid = RunFrom(ctx).RID()
			RunFrom(ctx).Progress("half way")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		closeWithin(t, c, 30*time.Second)
		assertRun(t, base, key, uuid, rid, []string{"start", "progress", "success"})
		if l.text() != "" {
			t.Fatalf("client logged: %s", l.text())
		}
	})
	t.Run("a run by ping key and slug", func(t *testing.T) {
		c, _ := newClient(t, base+"/ping/"+pingKey+"/go-client")
		run := c.Start(context.Background())
		run.Progress("1/2")
		run.ExitStatus(3, "exit 3")
		closeWithin(t, c, 30*time.Second)
		assertRun(t, base, key, uuid, run.RID(), []string{"start", "progress", "fail"})
	})
}

// assertRun checks that the newest pings of the check are exactly one run's, in order.
func assertRun(t *testing.T, base, key, uuid, rid string, kinds []string) {
	t.Helper()
	pings := apiCall(t, base, key, "GET", "/api/v3/checks/"+uuid+"/pings/", "")["pings"].([]any)
	var got []string
	for i := len(kinds) - 1; i >= 0; i-- {
		p := pings[i].(map[string]any)
		if p["rid"] != rid {
			t.Fatalf("ping %v has rid %v, want %s", p["type"], p["rid"], rid)
		}
		got = append(got, p["type"].(string))
	}
	if strings.Join(got, " ") != strings.Join(kinds, " ") {
		t.Fatalf("pings %v, want %v", got, kinds)
	}
}

func apiCall(t *testing.T, base, key, method, path, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
	}
	return doc
}
