package alert

import "testing"

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Firing: "firing", Suppressed: "suppressed", Resolved: "resolved", Status(42): "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func TestIncarnationKey(t *testing.T) {
	a := Incarnation{Alert: Alert{Fingerprint: "abc"}, ID: 7}
	b := Incarnation{Alert: Alert{Fingerprint: "abc"}, ID: 8}
	if a.Key() == b.Key() {
		t.Error("two incarnations of one fingerprint share a key")
	}
	if a.Key() != (Key{Fingerprint: "abc", ID: 7}) {
		t.Errorf("Key() = %+v", a.Key())
	}
}

func TestStatusText(t *testing.T) {
	for _, s := range []Status{Firing, Suppressed, Resolved} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Status
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("round trip of %v: %v, %v", s, got, err)
		}
	}
	if _, err := Status(9).MarshalText(); err == nil {
		t.Error("an unknown status was written")
	}
	var s Status
	if err := s.UnmarshalText([]byte("burning")); err == nil {
		t.Error("an unknown status name was read")
	}
}
