package poller

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/go-openapi/runtime"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// genAlerts writes n realistic alerts as Alertmanager serves them: 12
// labels, 3 annotations, a Prometheus generator URL, about 1.1 KB each.
// The same seed gives the same bytes.
func genAlerts(n int, seed uint64, changed func(i int) bool) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	var b bytes.Buffer
	b.WriteString("[")
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		ns := fmt.Sprintf("team-%03d", i%97)
		pod := fmt.Sprintf("checkout-%x-%05d", r.Uint32(), i)
		labels := map[string]string{
			"alertname": fmt.Sprintf("KubePodCrashLooping%d", i%23), "severity": []string{"critical", "warning", "info"}[i%3],
			"namespace": ns, "pod": pod, "container": "app", "job": "kube-state-metrics",
			"instance": fmt.Sprintf("10.%d.%d.%d:8080", i%250, (i/250)%250, i%7), "cluster": "prod-eu-1",
			"prometheus": "monitoring/k8s", "service": "kube-state-metrics", "endpoint": "http", "uid": fmt.Sprintf("%08x-%04x", i, i%65536),
		}
		summary := fmt.Sprintf("Pod %s/%s (app) is in waiting state (reason: \"CrashLoopBackOff\").", ns, pod)
		if changed != nil && changed(i) {
			summary += " (changed)"
		}
		annotations := map[string]string{
			"summary":     summary,
			"description": "Pod " + ns + "/" + pod + " has been restarting 3 times / 10 minutes. Ça ne va pas 🙁.",
			"runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping",
		}
		expr := `max_over_time(kube_pod_container_status_waiting_reason{job="kube-state-metrics",namespace=~".*",reason="CrashLoopBackOff"}[5m]) >= 1`
		state, silenced := "active", []string{}
		if i%10 == 3 {
			state, silenced = "suppressed", []string{"0b9a1f2e-5c1d-4e2a-9d1e-3f4a5b6c7d8e"}
		}
		ga := map[string]any{
			"annotations":  annotations,
			"endsAt":       start.Add(time.Hour).Format("2006-01-02T15:04:05.000Z07:00"),
			"fingerprint":  fmt.Sprintf("%016x", uint64(i)*2654435761+1),
			"generatorURL": "http://prometheus-k8s-0:9090/graph?g0.expr=" + url.QueryEscape(expr) + "&g0.tab=1",
			"labels":       labels,
			"receivers":    []map[string]string{{"name": "default"}},
			"startsAt":     start.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z07:00"),
			"status":       map[string]any{"inhibitedBy": []string{}, "mutedBy": []string{}, "silencedBy": silenced, "state": state},
			"updatedAt":    start.Add(30 * time.Minute).Format("2006-01-02T15:04:05.000Z07:00"),
		}
		enc, _ := json.Marshal(ga)
		b.Write(enc)
	}
	b.WriteString("]")
	return b.Bytes()
}

// decodeGenerated is the generated client's path: its default JSON
// consumer into the models, then the conversion.
func decodeGenerated(body []byte) (Snapshot, error) {
	var payload models.GettableAlerts
	if err := runtime.JSONConsumer().Consume(bytes.NewReader(body), &payload); err != nil {
		return Snapshot{}, err
	}
	return convert(payload)
}

func normalized(s Snapshot) []alert.Alert {
	out := make([]alert.Alert, len(s.Alerts))
	for i, a := range s.Alerts {
		out[i] = *a
	}
	for i := range out {
		if len(out[i].SilencedBy) == 0 {
			out[i].SilencedBy = nil
		}
		if len(out[i].InhibitedBy) == 0 {
			out[i].InhibitedBy = nil
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

func TestLeanDecoderMatchesGenerated(t *testing.T) {
	body := genAlerts(300, 1, nil)
	want, err := decodeGenerated(body)
	if err != nil {
		t.Fatal(err)
	}
	d := newLeanDecoder()
	for round := range 3 { // the later rounds reuse what the first decoded
		got, err := d.decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalized(got), normalized(want)) {
			t.Fatalf("round %d: the lean decoder disagrees with the generated client", round)
		}
	}
	// A changed alert is decoded again, not reused.
	changed := genAlerts(300, 1, func(i int) bool { return i == 7 })
	got, err := d.decode(bytes.NewReader(changed))
	if err != nil {
		t.Fatal(err)
	}
	want, _ = decodeGenerated(changed)
	if !reflect.DeepEqual(normalized(got), normalized(want)) {
		t.Fatal("a changed alert was not decoded again")
	}
}

func TestLeanDecoderEdgeCases(t *testing.T) {
	const ts = `"startsAt":"2026-01-02T03:04:05.123Z","status":{"state":"active"}`
	tests := []struct {
		name, body string
		check      func(t *testing.T, s Snapshot)
		wantErr    bool
	}{
		{"escapes", `[{"labels":{"alertname":"A","q":"say \"hi\"\n","u":"\u00e9\ud83d\ude00"},"fingerprint":"f1",` + ts + `}]`,
			func(t *testing.T, s Snapshot) {
				ls := s.Alerts[0].Labels
				if ls["q"] != "say \"hi\"\n" || ls["u"] != "é😀" {
					t.Errorf("labels %q", ls)
				}
			}, false},
		// Braces, brackets, quotes and backslashes inside nested strings do
		// not end the alert's object; a fingerprint after them is found.
		{"structure inside strings", `[{"labels":{"alertname":"A","expr":"up{job=\"x\"} > 0 }}]]","b":"\\","c":"\\\"}"},` + ts + `,"fingerprint":"f1"},{"labels":{"alertname":"B"},"fingerprint":"f2",` + ts + `}]`,
			func(t *testing.T, s Snapshot) {
				if len(s.Alerts) != 2 || s.Alerts[0].Fingerprint != "f1" {
					t.Fatalf("%+v", s)
				}
				ls := s.Alerts[0].Labels
				if ls["expr"] != `up{job="x"} > 0 }}]]` || ls["b"] != `\` || ls["c"] != `\"}` {
					t.Errorf("labels %q", ls)
				}
			}, false},
		{"fingerprint computed", `[{"labels":{"alertname":"A"},` + ts + `}]`,
			func(t *testing.T, s Snapshot) {
				if len(s.Alerts) != 1 || s.Alerts[0].Fingerprint == "" {
					t.Errorf("%+v", s)
				}
			}, false},
		{"incomplete", `[{"labels":{"alertname":"A"},"fingerprint":"f1","status":{"state":"active"}},{"labels":{"alertname":"B"},"fingerprint":"f2","startsAt":"2026-01-02T03:04:05Z"}]`,
			func(t *testing.T, s Snapshot) {
				if len(s.Alerts) != 0 || strings.Join(s.Incomplete, ",") != "f1,f2" {
					t.Errorf("%+v", s)
				}
			}, false},
		{"duplicates", `[{"labels":{"alertname":"A"},"fingerprint":"f1",` + ts + `},{"labels":{"alertname":"A"},"fingerprint":"f1",` + ts + `}]`,
			func(t *testing.T, s Snapshot) {
				if len(s.Alerts) != 1 {
					t.Errorf("%+v", s)
				}
			}, false},
		{"nulls and unknown fields", `[{"labels":{"alertname":"A"},"annotations":null,"generatorURL":null,"fingerprint":"f1","extra":{"a":[1,2,{"b":"]"}]},` + ts + `}]`,
			func(t *testing.T, s Snapshot) {
				if len(s.Alerts) != 1 || s.Alerts[0].Annotations.Len() != 0 {
					t.Errorf("%+v", s)
				}
			}, false},
		{"suppressed", `[{"labels":{"alertname":"A"},"fingerprint":"f1","startsAt":"2026-01-02T03:04:05Z","status":{"state":"unprocessed","inhibitedBy":["x"]}}]`,
			func(t *testing.T, s Snapshot) {
				if !s.Alerts[0].Suppressed || s.Alerts[0].InhibitedBy[0] != "x" {
					t.Errorf("%+v", s)
				}
			}, false},
		{"empty list", `[]`, func(t *testing.T, s Snapshot) {
			if len(s.Alerts) != 0 {
				t.Errorf("%+v", s)
			}
		}, false},
		{"truncated", `[{"labels":{"alertname":"A"`, nil, true},
		{"object", `{"alerts":[]}`, nil, true},
		{"null", `null`, nil, true},
		// One bad alert is skipped, named by its fingerprint and kept alive
		// (Incomplete); the others are used.
		{"bad time", `[{"labels":{"alertname":"A"},"fingerprint":"f1","startsAt":"yesterday","status":{"state":"active"}},{"labels":{"alertname":"B"},"fingerprint":"f2",` + ts + `}]`,
			wantSkipped("f1", SkipMalformed, "yesterday", "f2"), false},
		{"label not a string", `[{"labels":{"alertname":1},"fingerprint":"f1",` + ts + `},{"labels":{"alertname":"B"},"fingerprint":"f2",` + ts + `}]`,
			wantSkipped("f1", SkipMalformed, "labels", "f2"), false},
		{"status not an object", `[{"labels":{"alertname":"B"},"fingerprint":"f2",` + ts + `},{"labels":{"alertname":"A"},"fingerprint":"f1","startsAt":"2026-01-02T03:04:05Z","status":"active"}]`,
			wantSkipped("f1", SkipMalformed, "status", "f2"), false},
		{"bad fingerprint", `[{"labels":{"alertname":"A"},"fingerprint":"\x",` + ts + `},{"labels":{"alertname":"B"},"fingerprint":"f2",` + ts + `}]`,
			wantSkipped("", SkipMalformed, "", "f2"), false},
		{"html", `<html></html>`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newLeanDecoder().decode(strings.NewReader(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

// wantSkipped checks that one alert (fingerprint fp, may be empty) was
// skipped for reason with an error containing errPart, and that good was
// used.
func wantSkipped(fp, reason, errPart, good string) func(t *testing.T, s Snapshot) {
	return func(t *testing.T, s Snapshot) {
		t.Helper()
		if len(s.Skipped) != 1 || s.Skipped[0].Fingerprint != fp || s.Skipped[0].Reason != reason || !strings.Contains(s.Skipped[0].Err.Error(), errPart) {
			t.Errorf("skipped: %+v, want %q (%s, %q)", s.Skipped, fp, reason, errPart)
		}
		if fp != "" && !slices.Contains(s.Incomplete, fp) {
			t.Errorf("incomplete: %v, want %s kept alive", s.Incomplete, fp)
		}
		if len(s.Alerts) != 1 || s.Alerts[0].Fingerprint != good {
			t.Errorf("alerts: %+v, want only %s", s.Alerts, good)
		}
	}
}

// An alert over the size bound (anybody can POST one to Alertmanager) is
// skipped, read to its end without being held, named by its fingerprint
// wherever that is in the object; the alerts around it are used.
func TestLeanDecoderOversizedAlert(t *testing.T) {
	huge := strings.Repeat("x", maxAlertSize+1)
	good := func(fp string) string {
		return `{"labels":{"alertname":"` + fp + `"},"fingerprint":"` + fp + `","startsAt":"2026-01-02T03:04:05Z","status":{"state":"active"}}`
	}
	for _, tt := range []struct{ name, alert, fp string }{
		{"fingerprint first", `{"fingerprint":"big1","annotations":{"d":"` + huge + `"},"labels":{"alertname":"Big"},"startsAt":"2026-01-02T03:04:05Z","status":{"state":"active"}}`, "big1"},
		{"fingerprint after", `{"annotations":{"d":"` + huge + `","fingerprint":"nested, not it"},"labels":{"alertname":"Big"},"fingerprint":"big2","status":{"state":"active"}}`, "big2"},
		{"escapes and brackets in the body", `{"annotations":{"d":"` + huge + `\"}]{["},"fingerprint":"big3"}`, "big3"},
		{"no fingerprint", `{"annotations":{"d":"` + huge + `"}}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := "[" + good("f1") + "," + tt.alert + "," + good("f2") + "]"
			d := newLeanDecoder()
			s, err := d.decode(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Skipped) != 1 || s.Skipped[0].Fingerprint != tt.fp || s.Skipped[0].Reason != SkipOversized {
				t.Errorf("skipped: %+v, want %q oversized", s.Skipped, tt.fp)
			}
			if len(s.Alerts) != 2 || s.Alerts[0].Fingerprint != "f1" || s.Alerts[1].Fingerprint != "f2" {
				t.Errorf("alerts: %d, want f1 and f2", len(s.Alerts))
			}
			if tt.fp != "" && !slices.Contains(s.Incomplete, tt.fp) {
				t.Errorf("incomplete: %v, want %s kept alive", s.Incomplete, tt.fp)
			}
			if c := cap(d.elem); c > 2*maxAlertSize+(1<<20) {
				t.Errorf("the decoder holds %d MiB after the oversized alert", c>>20)
			}
		})
	}
}

func FuzzLeanDecoder(f *testing.F) {
	f.Add(genAlerts(3, 1, nil))
	f.Add([]byte(`[{"labels":{"a":"\u00e9"},"fingerprint":"x","startsAt":"2026-01-02T03:04:05Z","status":{"state":"active"}}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		// Must not panic; when the generated client accepts the body, the
		// lean decoder must find the same alerts.
		got, err := newLeanDecoder().decode(bytes.NewReader(body))
		want, werr := decodeGenerated(body)
		// An alert the lean decoder skips (malformed: the generated client
		// may take it with zero values, or refuse the whole poll) is not
		// compared.
		if err == nil && werr == nil && len(got.Skipped) == 0 && len(got.Alerts) != len(want.Alerts) {
			t.Errorf("lean found %d alerts, generated %d", len(got.Alerts), len(want.Alerts))
		}
	})
}

var sizes = []int{1000, 10000, 50000}

// BenchmarkDecode compares the generated client's default consumer with
// the lean decoder, first poll (cold) and later polls of the same alerts.
func BenchmarkDecode(b *testing.B) {
	for _, n := range sizes {
		body := genAlerts(n, 1, nil)
		b.Run(fmt.Sprintf("generated/%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeGenerated(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("lean-first/%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := newLeanDecoder().decode(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("lean-steady/%d", n), func(b *testing.B) {
			d := newLeanDecoder()
			if _, err := d.decode(bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.decode(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTrackerObserve is the tracker's work per poll of 10k alerts when
// a share of them changes (resolved and replaced by new ones).
func BenchmarkTrackerObserve(b *testing.B) {
	const n = 10000
	for _, churn := range []float64{0.001, 0.01, 0.1} {
		b.Run(fmt.Sprintf("churn=%.1f%%", churn*100), func(b *testing.B) {
			base, err := newLeanDecoder().decode(bytes.NewReader(genAlerts(n, 1, nil)))
			if err != nil {
				b.Fatal(err)
			}
			tr := newTracker(TrackerConfig{ResolveGrace: 0, Capacity: 100000}, discardLogger(), newMetrics(nil))
			now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
			tr.Observe(now, base)
			k := int(float64(n) * churn)
			next := 0
			b.ReportAllocs()
			for b.Loop() {
				snap := Snapshot{Alerts: append([]*alert.Alert(nil), base.Alerts...)}
				for j := range k {
					a := *snap.Alerts[(next+j)%n]
					a.Fingerprint = fmt.Sprintf("churn-%d", next+j)
					snap.Alerts[(next+j)%n] = &a
				}
				next += k
				now = now.Add(10 * time.Second)
				tr.Observe(now, snap)
			}
		})
	}
}

// Two alerts with one fingerprint in one poll: the one that started first
// is kept, whatever their order, poll after poll.
func TestLeanDecoderDuplicateFingerprints(t *testing.T) {
	early := `{"labels":{"alertname":"A","v":"1"},"fingerprint":"f1","startsAt":"2026-01-02T03:00:00Z","status":{"state":"active"}}`
	late := `{"labels":{"alertname":"A","v":"2"},"fingerprint":"f1","startsAt":"2026-01-02T04:00:00Z","status":{"state":"active"}}`
	d := newLeanDecoder()
	for i, body := range []string{"[" + early + "," + late + "]", "[" + late + "," + early + "]", "[" + early + "," + late + "]", "[" + late + "," + early + "]"} {
		s, err := d.decode(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Alerts) != 1 || s.Alerts[0].Labels["v"] != "1" {
			t.Fatalf("poll %d: %+v, want only the earlier alert", i, s.Alerts)
		}
	}
}

// A changed alert is decoded again, but its values that did not change are
// the previous poll's strings, not copies: a poll that touches every alert
// (Prometheus re-sending, with new endsAt) does not double their memory.
func TestLeanDecoderReusesUnchangedValues(t *testing.T) {
	one := func(summary string) string {
		return `[{"labels":{"alertname":"A","pod":"checkout-1"},"annotations":{"summary":"` + summary + `"},` +
			`"fingerprint":"0123456789abcdef","startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T00:05:00Z",` +
			`"updatedAt":"2026-01-01T00:00:00Z","status":{"state":"active","silencedBy":[],"inhibitedBy":[]},"receivers":[]}]`
	}
	d := newLeanDecoder()
	first, err := d.decode(strings.NewReader(one("slow")))
	if err != nil || len(first.Alerts) != 1 {
		t.Fatalf("first poll: %v, %d alerts", err, len(first.Alerts))
	}
	second, err := d.decode(strings.NewReader(one("slower")))
	if err != nil || len(second.Alerts) != 1 {
		t.Fatalf("second poll: %v, %d alerts", err, len(second.Alerts))
	}
	a, b := first.Alerts[0], second.Alerts[0]
	if got := b.Annotations.Get("summary"); got != "slower" {
		t.Fatalf("summary = %q, want the new value", got)
	}
	if unsafe.StringData(string(a.Labels["pod"])) != unsafe.StringData(string(b.Labels["pod"])) {
		t.Error("the unchanged pod label was copied, not reused")
	}
	if unsafe.StringData(a.Fingerprint) != unsafe.StringData(b.Fingerprint) {
		t.Error("the fingerprint was copied, not reused")
	}
	// Silenced, its annotations unchanged: their string is the last
	// poll's.
	third, err := d.decode(strings.NewReader(strings.Replace(one("slower"), `"active"`, `"suppressed"`, 1)))
	if err != nil || len(third.Alerts) != 1 || !third.Alerts[0].Suppressed {
		t.Fatalf("third poll: %v, %+v", err, third.Alerts)
	}
	if c := third.Alerts[0]; c.Annotations.Get("summary") != "slower" || !c.Annotations.Shares(b.Annotations) {
		t.Errorf("annotations %v: not the last poll's %v", c.Annotations, b.Annotations)
	}
}

// The scanner's string handling agrees with encoding/json on valid JSON:
// escapes of every kind, surrogate pairs, quotes after runs of
// backslashes, and strings longer than the readers' buffers.
func TestStringsAgreeWithEncodingJSON(t *testing.T) {
	long := strings.Repeat(`ab\"c\\`, 20000)
	for _, js := range []string{
		`""`, `"plain"`, `"\""`, `"\\"`, `"\\\""`, `"a\\\\"`, `"\/\b\f\n\r\t"`,
		`"caf\u00e9"`, `"\ud83d\ude00 and \u2603"`, `"x\u0041y"`, `"\\u0041"`,
		`"` + long + `"`, `"ends with an escape\n"`, `"\"starts"`, `"é ünïcödé"`,
	} {
		var want string
		if err := json.Unmarshal([]byte(js), &want); err != nil {
			t.Fatalf("%.40s: %v", js, err)
		}
		got, err := unquote([]byte(js))
		if err != nil || string(got) != want {
			t.Errorf("unquote(%.40s) = %.40q, %v; want %.40q", js, got, err, want)
		}
		// The scanner finds the string's end, and so does the stream
		// reader, whatever follows it.
		s := scanner{b: []byte(js + `,"next"`)}
		if err := s.skipString(); err != nil || s.i != len(js) {
			t.Errorf("skipString(%.40s): end %d, %v; want %d", js, s.i, err, len(js))
		}
		body := `[{"labels":{"alertname":"A","v":` + js + `},"annotations":{"s":` + js + `},"fingerprint":"f1",` +
			`"generatorURL":` + js + `,"startsAt":"2026-01-02T03:04:05Z","status":{"state":"active"}},` +
			`{"labels":{"alertname":"B"},"fingerprint":"f2","startsAt":"2026-01-02T03:04:05Z","status":{"state":"active"}}]`
		snap, err := newLeanDecoder().decode(bufio.NewReaderSize(strings.NewReader(body), 16))
		if err != nil || len(snap.Alerts) != 2 {
			t.Fatalf("decode with %.40s: %v, %d alerts", js, err, len(snap.Alerts))
		}
		a := snap.Alerts[0]
		if a.Labels["v"] != model.LabelValue(want) || a.Annotations.Get("s") != want || a.GeneratorURL != want {
			t.Errorf("decode with %.40s: label %.40q, annotation %.40q, URL %.40q; want %.40q", js, a.Labels["v"], a.Annotations.Get("s"), a.GeneratorURL, want)
		}
	}
}

// What a poll yields depends on its bytes alone: an alert the last poll
// decoded, listed after an incomplete alert of its fingerprint, is left
// out as a fresh decoder leaves it out, whether its fingerprint is given
// or comes from its labels.
func TestLeanDecoderReuseIsHistoryFree(t *testing.T) {
	for name, tt := range map[string]struct{ complete, incomplete string }{
		"given": {
			`{"fingerprint":"f1","labels":{"alertname":"A"},"startsAt":"2026-01-02T03:04:05Z","status":{"state":"active"}}`,
			`{"fingerprint":"f1","labels":{"alertname":"A"}}`,
		},
		"from the labels": {
			// d2c6efc389df0927 is {alertname="A"}'s fingerprint; the
			// later null makes the decoder compute it.
			`{"fingerprint":"d2c6efc389df0927","fingerprint":null,"labels":{"alertname":"A"},"startsAt":"2026-01-02T03:04:05Z","status":{"state":"active"}}`,
			`{"labels":{"alertname":"A"}}`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			d := newLeanDecoder()
			for i, body := range []string{"[" + tt.complete + "]", "[" + tt.incomplete + "," + tt.complete + "]", "[" + tt.incomplete + "," + tt.complete + "]"} {
				warm, err := d.decode(strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				fresh, err := newLeanDecoder().decode(strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if len(warm.Alerts) != len(fresh.Alerts) || !slices.Equal(warm.Incomplete, fresh.Incomplete) {
					t.Errorf("poll %d: %d alerts, incomplete %v; a fresh decoder finds %d, %v", i, len(warm.Alerts), warm.Incomplete, len(fresh.Alerts), fresh.Incomplete)
				}
			}
		})
	}
}
