// Package blame names the field of a configuration entry that fails to
// load: YAML decoders report lines of a document the user never wrote
// (a Secret's key re-marshalled), so each field is loaded alone instead.
package blame

import (
	"maps"
	"slices"
)

// Field loads each field of entry alone, in sorted order, with load, and
// returns the first field whose load fails, with that error. It returns
// "" and nil when every field loads alone (the fault is in how fields
// combine). The search is linear in the number of fields.
func Field(entry map[string]any, load func(one map[string]any) error) (string, error) {
	for _, f := range slices.Sorted(maps.Keys(entry)) {
		if err := load(map[string]any{f: entry[f]}); err != nil {
			return f, err
		}
	}
	return "", nil
}
