//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amtenant/amtenant/senders/robot"
)

// robotServer imitates the three robot services: it checks signatures as
// they do and answers in their formats.
type robotServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]map[string]any // path → accepted bodies
	// failOnce makes the next request on a path answer with this body.
	failOnce map[string]string
}

const (
	dingTalkSecret = "SECdingtalk-signing-secret"
	feishuSecret   = "feishu-signing-secret"
)

func newRobotServer(t *testing.T) *robotServer {
	r := &robotServer{got: map[string][]map[string]any{}, failOnce: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.handle))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *robotServer) handle(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fail, ok := r.failOnce[req.URL.Path]; ok {
		delete(r.failOnce, req.URL.Path)
		fmt.Fprint(w, fail)
		return
	}
	switch req.URL.Path {
	case "/dingtalk":
		ts := req.URL.Query().Get("timestamp")
		ms := 0
		fmt.Sscan(ts, &ms)
		_, want := robot.DingTalkSign(dingTalkSecret, time.UnixMilli(int64(ms)))
		if req.URL.Query().Get("access_token") != "tok" || req.URL.Query().Get("sign") != want {
			fmt.Fprint(w, `{"errcode":310000,"errmsg":"sign not match"}`)
			return
		}
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
	case "/feishu":
		ts, _ := body["timestamp"].(string)
		sec := 0
		fmt.Sscan(ts, &sec)
		_, want := robot.FeishuSign(feishuSecret, time.Unix(int64(sec), 0))
		if body["sign"] != want {
			fmt.Fprint(w, `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`)
			return
		}
		fmt.Fprint(w, `{"code":0,"msg":"success"}`)
	case "/wecom":
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
	default:
		http.NotFound(w, req)
		return
	}
	r.got[req.URL.Path] = append(r.got[req.URL.Path], body)
}

func (r *robotServer) bodies(path string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.got[path]...)
}

// TestRobots delivers through the three robots: signed, in the services'
// formats, resolved too, and retried after a rate-limit answer.
func TestRobots(t *testing.T) {
	t.Parallel()
	am := startAlertmanager(t)
	rs := newRobotServer(t)
	rs.failOnce["/wecom"] = `{"errcode":45009,"errmsg":"api freq out of limit"}`
	dir := t.TempDir()
	writeObjects(t, dir, "objects.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: team-a, labels: {amtenant.io/tenant: alpha}}
---
apiVersion: v1
kind: Secret
metadata: {name: dingtalk, namespace: team-a, labels: {amtenant.io/channel: ""}}
stringData:
  type: dingtalk
  url: %[1]s/dingtalk?access_token=tok
  secret: %[2]s
  at_mobiles: "13800000000"
---
apiVersion: v1
kind: Secret
metadata: {name: feishu, namespace: team-a, labels: {amtenant.io/channel: ""}}
stringData:
  receiver.yaml: |
    feishu_configs:
    - url: %[1]s/feishu
      secret: %[3]s
---
apiVersion: v1
kind: Secret
metadata: {name: wecom, namespace: team-a, labels: {amtenant.io/channel: ""}}
stringData: {type: wecom, url: "%[1]s/wecom?key=k"}
`, rs.srv.URL, dingTalkSecret, feishuSecret))
	sc := startSidecar(t, am, dir)

	start := time.Now().Add(-time.Minute)
	am.post(firing(start, "alertname", "DiskFull", "namespace", "team-a", "severity", "critical"))
	eventually(t, 30*time.Second, "firing on the three robots", func() bool {
		return len(rs.bodies("/dingtalk")) == 1 && len(rs.bodies("/feishu")) == 1 && len(rs.bodies("/wecom")) == 1
	})
	d := rs.bodies("/dingtalk")[0]
	md, _ := d["markdown"].(map[string]any)
	if d["msgtype"] != "markdown" || !strings.Contains(fmt.Sprint(md["text"]), "DiskFull") || !strings.Contains(fmt.Sprint(md["text"]), "@13800000000") {
		t.Errorf("dingtalk body: %v", d)
	}
	f := rs.bodies("/feishu")[0]
	card, _ := f["card"].(map[string]any)
	header, _ := card["header"].(map[string]any)
	if header["template"] != "red" || !strings.Contains(fmt.Sprint(header["title"]), "alpha") {
		t.Errorf("feishu card header: %v", header)
	}

	am.post(resolvedAlert(start, "alertname", "DiskFull", "namespace", "team-a", "severity", "critical"))
	eventually(t, 30*time.Second, "resolved on the three robots", func() bool {
		return len(rs.bodies("/dingtalk")) == 2 && len(rs.bodies("/feishu")) == 2 && len(rs.bodies("/wecom")) == 2
	})
	card, _ = rs.bodies("/feishu")[1]["card"].(map[string]any)
	if header, _ := card["header"].(map[string]any); header["template"] != "green" {
		t.Errorf("feishu resolved header: %v", header)
	}
	m := sc.metrics(t)
	if !strings.Contains(m, `amtenant_notifications_failed_total{reason="rateLimited",type="wecom"} 1`) {
		t.Errorf("the WeCom rate-limit answer was not counted")
	}
	for _, secret := range []string{dingTalkSecret, feishuSecret, "access_token=tok"} {
		if strings.Contains(sc.proc.Log(), secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}
