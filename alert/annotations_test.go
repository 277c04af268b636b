package alert

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"unsafe"

	"github.com/prometheus/common/model"
)

func TestAnnotationsRoundTrip(t *testing.T) {
	for _, m := range []model.LabelSet{
		{},
		{"summary": "disk full"},
		{"summary": "", "b": "two", "a": "one", "description": model.LabelValue(strings.Repeat("long ", 100)), "ünïcode": "é\x00\"\\"},
	} {
		a := NewAnnotations(m)
		if got := a.LabelSet(); !maps.Equal(got, m) {
			t.Errorf("LabelSet() = %v, want %v", got, m)
		}
		if a.Len() != len(m) || a.IsZero() != (len(m) == 0) {
			t.Errorf("%v: Len() = %d, IsZero() = %v", m, a.Len(), a.IsZero())
		}
		for k, v := range m {
			if got := a.Get(string(k)); got != string(v) {
				t.Errorf("Get(%q) = %q, want %q", k, got, v)
			}
		}
		if a.Get("absent") != "" {
			t.Errorf("Get of an absent name is not empty")
		}
		if got, want := a.String(), m.String(); got != want {
			t.Errorf("String() = %s, want %s (as a label set)", got, want)
		}
		js, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if string(js) != string(want) {
			t.Errorf("JSON %s, want %s (as a label set)", js, want)
		}
		var back Annotations
		if err := json.Unmarshal(js, &back); err != nil || back != a {
			t.Errorf("JSON round trip: %v, %v; want %v", back, err, a)
		}
	}
}

// Encoding sorts by name and keeps the last pair of a name, as decoding a
// JSON object into a map would; one set has one encoding, whatever the
// order it came in.
func TestEncodeAnnotations(t *testing.T) {
	a := EncodeAnnotations(nil, []Pair[string]{{"b", "1"}, {"a", "x"}, {"b", "2"}})
	b := EncodeAnnotations(nil, []Pair[[]byte]{{"a", []byte("x")}, {"b", []byte("2")}})
	if string(a) != string(b) {
		t.Fatalf("encodings differ: %q, %q", a, b)
	}
	got := Annotations{enc: string(a)}.LabelSet()
	if want := (model.LabelSet{"a": "x", "b": "2"}); !maps.Equal(got, want) {
		t.Errorf("decoded %v, want %v", got, want)
	}
	prev := Annotations{enc: string(a)}
	if same := AnnotationsOf(b, prev); unsafe.StringData(same.enc) != unsafe.StringData(prev.enc) {
		t.Errorf("AnnotationsOf did not keep the previous value")
	}
	if other := AnnotationsOf([]byte("\x01a\x01y"), prev); other.Get("a") != "y" {
		t.Errorf("AnnotationsOf of new bytes: %v", other)
	}
}

// A value longer than a one-byte length, and names of every length.
func TestAnnotationsLongValues(t *testing.T) {
	m := model.LabelSet{}
	for _, n := range []int{0, 1, 127, 128, 300, 1 << 16, 1 << 20} {
		m[model.LabelName("k"+strings.Repeat("n", n%200))] = model.LabelValue(strings.Repeat("v", n))
	}
	if got := NewAnnotations(m).LabelSet(); !maps.Equal(got, m) {
		t.Errorf("long values do not round-trip")
	}
}
