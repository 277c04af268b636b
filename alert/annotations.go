package alert

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"iter"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/prometheus/common/model"
)

// Annotations are an alert's annotations, held in one string: each pair,
// sorted by name, as the name's and the value's lengths (uvarints) and
// bytes. Annotations are only read to be delivered and shown, never
// routed, matched or grouped on, so they need no map between polls: a
// map and a string per value cost about 600 bytes per alert of the
// usual three annotations, the one string about 300. The zero value has
// no annotations. Annotations are immutable.
type Annotations struct{ enc string }

// Pair is one annotation, its value a string or (while decoding) bytes.
type Pair[V string | []byte] struct {
	Name  string
	Value V
}

// NewAnnotations returns m's annotations.
func NewAnnotations(m model.LabelSet) Annotations {
	pairs := make([]Pair[string], 0, len(m))
	for k, v := range m {
		pairs = append(pairs, Pair[string]{string(k), string(v)})
	}
	return Annotations{enc: string(EncodeAnnotations(nil, pairs))}
}

// EncodeAnnotations appends the encoding of pairs to dst: pairs is sorted
// by name in place, and of pairs with one name the last is kept (as a
// JSON object's decoding does).
func EncodeAnnotations[V string | []byte](dst []byte, pairs []Pair[V]) []byte {
	slices.SortStableFunc(pairs, func(a, b Pair[V]) int { return cmp.Compare(a.Name, b.Name) })
	for i, p := range pairs {
		if i+1 < len(pairs) && pairs[i+1].Name == p.Name {
			continue // a later pair of this name wins
		}
		dst = binary.AppendUvarint(dst, uint64(len(p.Name)))
		dst = append(dst, p.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(p.Value)))
		dst = append(dst, p.Value...)
	}
	return dst
}

// AnnotationsOf returns the annotations whose encoding is enc, as
// EncodeAnnotations made it; prev's string is reused when it is the
// same, so that an unchanged alert costs no new string.
func AnnotationsOf(enc []byte, prev Annotations) Annotations {
	if string(enc) == prev.enc {
		return prev
	}
	return Annotations{enc: string(enc)}
}

// Shares reports whether a and b hold one string, not only equal ones
// (the decoder reuses an unchanged alert's).
func (a Annotations) Shares(b Annotations) bool {
	return a.enc == b.enc && unsafe.StringData(a.enc) == unsafe.StringData(b.enc)
}

// All yields the annotations, sorted by name.
func (a Annotations) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		s := a.enc
		for len(s) > 0 {
			var name, value string
			name, s = next(s)
			value, s = next(s)
			if !yield(name, value) {
				return
			}
		}
	}
}

// next splits one length-prefixed string off s.
func next(s string) (string, string) {
	var n uint64
	for i, shift := 0, uint(0); i < len(s) && i < binary.MaxVarintLen64; i, shift = i+1, shift+7 {
		c := s[i]
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			s = s[i+1:]
			if uint64(len(s)) < n {
				break
			}
			return s[:n], s[n:]
		}
	}
	return "", "" // cannot happen: only EncodeAnnotations makes encodings
}

// Get returns the value of the annotation name, "" if there is none.
func (a Annotations) Get(name string) string {
	for k, v := range a.All() {
		if k == name {
			return v
		}
	}
	return ""
}

// Len returns the number of annotations.
func (a Annotations) Len() int {
	n := 0
	for range a.All() {
		n++
	}
	return n
}

// IsZero reports whether there are no annotations.
func (a Annotations) IsZero() bool { return a.enc == "" }

// LabelSet returns the annotations as a new map, for a notifier.
func (a Annotations) LabelSet() model.LabelSet {
	m := make(model.LabelSet, a.Len())
	for k, v := range a.All() {
		m[model.LabelName(k)] = model.LabelValue(v)
	}
	return m
}

// String formats the annotations as a label set does.
func (a Annotations) String() string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for k, v := range a.All() {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(v))
	}
	b.WriteByte('}')
	return b.String()
}

// MarshalJSON writes the annotations as a JSON object.
func (a Annotations) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, a.Len())
	for k, v := range a.All() {
		m[k] = v
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads a JSON object of strings.
func (a *Annotations) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	pairs := make([]Pair[string], 0, len(m))
	for k, v := range m {
		pairs = append(pairs, Pair[string]{k, v})
	}
	a.enc = string(EncodeAnnotations(nil, pairs))
	return nil
}
