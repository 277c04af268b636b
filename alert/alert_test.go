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
