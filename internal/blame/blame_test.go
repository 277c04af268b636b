package blame

import (
	"errors"
	"testing"
)

func TestField(t *testing.T) {
	entry := map[string]any{"b": 2, "a": 1, "c": "bad", "d": "bad"}
	var tried []string
	f, err := Field(entry, func(one map[string]any) error {
		for k, v := range one {
			tried = append(tried, k)
			if v == "bad" {
				return errors.New(k + " is bad")
			}
		}
		return nil
	})
	if f != "c" || err == nil || err.Error() != "c is bad" {
		t.Errorf("Field = %q, %v; want c, c is bad", f, err)
	}
	if want := []string{"a", "b", "c"}; len(tried) != len(want) || tried[0] != "a" || tried[2] != "c" {
		t.Errorf("tried %v, want %v (sorted, stopping at the first failure)", tried, want)
	}
	if f, err := Field(map[string]any{"a": 1}, func(map[string]any) error { return nil }); f != "" || err != nil {
		t.Errorf("no failing field: got %q, %v", f, err)
	}
}
