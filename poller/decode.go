package poller

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/amtenant/amtenant/alert"
)

// leanDecoder decodes GET /api/v2/alerts straight into the tracker's
// representation, one alert at a time, without the generated models (which
// parse every alert three times). An alert whose labels, annotations,
// startsAt, generatorURL and status are byte-for-byte those of the last
// poll is not decoded again: the previous value is reused, so that a poll
// of unchanged alerts costs little more than reading their bytes.
// It is not safe for concurrent use; polls are serialized.
type leanDecoder struct {
	elem []byte // the alert being decoded, reused
	// fp is the element's top-level fingerprint as readObject found it.
	fp   [64]byte
	seed maphash.Seed
	// prev and next hold pointers: an unchanged alert's entry moves from
	// one poll's map to the next without a copy.
	prev map[string]*cached
	next map[string]*cached
	// pos is where each fingerprint of the poll being decoded is in its
	// snapshot.
	pos    map[string]int
	intern map[string]string
	// size is the label count of the last alert decoded: a new alert's
	// map is made that size (alerts of one poll are alike), not grown.
	size int
	// pairs and enc are the annotations being decoded, reused.
	pairs []alert.Pair[[]byte]
	enc   []byte
}

type cached struct {
	sum uint64 // of the fields the alert is made from
	raw uint64 // of the whole element, as last polled
	a   alert.Alert
}

// maxSizeHint bounds the size a map is made with from the last alert's: a
// hostile alert with a million labels does not make every later map big.
const maxSizeHint = 64

// maxKeptPairs and maxKeptEncoding bound the buffers kept for the next
// alert's annotations.
const (
	maxKeptPairs    = 256
	maxKeptEncoding = 64 << 10
)

// maxInterned bounds the string table; it is emptied when full.
const maxInterned = 1 << 20

func newLeanDecoder() *leanDecoder {
	return &leanDecoder{seed: maphash.MakeSeed(), prev: map[string]*cached{}, next: map[string]*cached{}, pos: map[string]int{}, intern: map[string]string{}}
}

// decode reads a JSON array of GettableAlert, one element at a time: the
// body is never held whole, only the alert being decoded.
func (d *leanDecoder) decode(r io.Reader) (Snapshot, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	if c, err := nextNonSpace(br); err != nil || c != '[' {
		if err != nil && !errors.Is(err, io.EOF) {
			return Snapshot{}, fmt.Errorf("read alerts: %w", err)
		}
		return Snapshot{}, errors.New("response is not a list of alerts")
	}
	if len(d.intern) > maxInterned {
		d.intern = map[string]string{}
	}
	clear(d.next)
	clear(d.pos)
	snap := Snapshot{Alerts: make([]*alert.Alert, 0, len(d.prev))}
	for i := 0; ; i++ {
		c, err := nextNonSpace(br)
		if err != nil {
			return Snapshot{}, fmt.Errorf("read alerts: truncated list: %w", err)
		}
		if c == ']' && i == 0 {
			break
		}
		if c != '{' {
			return Snapshot{}, fmt.Errorf("alert %d: not an object", i)
		}
		var fpLen int
		d.elem, fpLen, err = readObject(br, d.elem[:0], &d.fp)
		switch {
		case errors.Is(err, errAlertTooLarge):
			// One alert anybody can POST must not stop every poll: it is
			// skipped, and kept alive if it was known.
			snap.skip(string(d.fp[:fpLen]), SkipOversized, err)
		case err != nil:
			return Snapshot{}, fmt.Errorf("read alert %d: %w", i, err)
		default:
			// An alert whose bytes are those of the last poll is what it
			// was: it is not scanned again. (The fingerprint only finds
			// the candidate; the whole element's hash decides.)
			raw, key := maphash.Bytes(d.seed, d.elem), d.fp[:fpLen]
			c := d.prev[string(key)]
			if c != nil && c.raw == raw {
				d.reuse(&snap, c)
				break
			}
			if fp, err := d.alert(d.elem, raw, key, c, &snap); err != nil {
				snap.skip(fp, SkipMalformed, err)
			}
		}
		if c, err = nextNonSpace(br); err != nil {
			return Snapshot{}, fmt.Errorf("read alerts: truncated list: %w", err)
		}
		if c == ']' {
			break
		}
		if c != ',' {
			return Snapshot{}, fmt.Errorf("read alerts: unexpected %q after alert %d", c, i)
		}
	}
	if c, err := nextNonSpace(br); err == nil {
		return Snapshot{}, fmt.Errorf("read alerts: unexpected %q after the list", c)
	}
	d.prev, d.next = d.next, d.prev
	return snap, nil
}

func nextNonSpace(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

// errAlertTooLarge is returned for an alert larger than maxAlertSize. The
// alert has been read to its end: the list can be read on.
var errAlertTooLarge = fmt.Errorf("an alert larger than %d MiB", maxAlertSize>>20)

// readObject appends to buf the object whose '{' was just read, up to its
// matching '}', minding strings and escapes. It also puts the object's
// top-level "fingerprint" string, not unescaped (a backslash is kept, the
// byte after it dropped; at most 64 bytes), in fp and returns its length: it names an alert the decoder
// cannot hold (past maxAlertSize it reads on to the object's end without
// keeping the bytes, and returns errAlertTooLarge), and finds an unchanged
// alert's last decoding without a second scan.
func readObject(br *bufio.Reader, buf []byte, fp *[64]byte) ([]byte, int, error) {
	buf = append(buf, '{')
	depth, inString, escaped := 1, false, false
	// At depth 1: whether the next string is a value (after ':'), the last
	// key, and the string being read (its first bytes).
	afterColon, topString, lastKeyFP := false, false, false
	var curBuf [64]byte
	cur := curBuf[:0]
	fpLen := 0
	oversized := false
	for {
		chunk, err := br.ReadSlice('}')
		// bs is the next backslash at or after i (len(chunk) if none),
		// found again only once passed: every string's end is then one
		// IndexByte up to it, and the chunk is read once.
		bs := -1
		for i := 0; i < len(chunk); i++ {
			c := chunk[i]
			if inString && !escaped {
				// Inside a string only a quote or a backslash matters:
				// jump to the next, taking what is passed over whole.
				if bs < i {
					if bs = bytes.IndexByte(chunk[i:], '\\'); bs < 0 {
						bs = len(chunk)
					} else {
						bs += i
					}
				}
				j := bs
				if q := bytes.IndexByte(chunk[i:bs], '"'); q >= 0 {
					j = i + q
				}
				if topString && len(cur) < 64 {
					cur = append(cur, chunk[i:min(j, i+64-len(cur))]...)
				}
				if i = j; i == len(chunk) {
					break
				}
				c = chunk[i]
			}
			switch {
			case escaped:
				escaped = false
			case inString:
				switch c {
				case '\\':
					escaped = true
				case '"':
					inString = false
					if topString {
						if afterColon {
							if lastKeyFP {
								fpLen = copy(fp[:], cur)
							}
							afterColon = false
						} else {
							lastKeyFP = string(cur) == "fingerprint" // no copy of every key
						}
						topString = false
					}
					continue
				}
				if topString && len(cur) < 64 {
					cur = append(cur, c)
				}
			case c == '"':
				inString = true
				if depth == 1 {
					topString, cur = true, cur[:0]
				}
			case c == ':' && depth == 1:
				afterColon = true
			case c == ',' && depth == 1:
				afterColon = false
			case c == '{' || c == '[':
				depth++
				afterColon = false
			case c == '}' || c == ']':
				depth--
			}
		}
		if !oversized {
			buf = append(buf, chunk...)
		}
		if depth == 0 && !inString {
			if oversized {
				return buf[:0], fpLen, errAlertTooLarge
			}
			return buf, fpLen, nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, fpLen, fmt.Errorf("truncated alert: %w", err)
		}
		if len(buf) > maxAlertSize {
			oversized, buf = true, buf[:0]
		}
	}
}

// maxAlertSize bounds one alert's JSON (Alertmanager's are a few KB).
const maxAlertSize = 16 << 20

// spans are the raw bytes of the fields of one alert.
type spans struct {
	labels, annotations, status []byte
	startsAt, endsAt, updated   []byte
	fingerprint, generatorURL   []byte
}

// alert decodes one alert into snap. rawSum is the hash of its bytes; c
// is the last poll's alert under key, the fingerprint as readObject found
// it (nil if none), which spares a second look-up when the fingerprint
// reads the same. On error it returns the alert's fingerprint if it could
// be read.
func (d *leanDecoder) alert(raw []byte, rawSum uint64, key []byte, c *cached, snap *Snapshot) (string, error) {
	var sp spans
	s := scanner{b: raw}
	if err := s.object(func(key []byte) error {
		start := s.pos()
		if err := s.skip(); err != nil {
			return err
		}
		v := s.b[start:s.i]
		switch canonical(key, alertKeys) {
		case "labels":
			sp.labels = v
		case "annotations":
			sp.annotations = v
		case "status":
			sp.status = v
		case "startsAt":
			sp.startsAt = v
		case "endsAt":
			sp.endsAt = v
		case "updatedAt":
			sp.updated = v
		case "fingerprint":
			sp.fingerprint = v
		case "generatorURL":
			sp.generatorURL = v
		}
		return nil
	}); err != nil {
		return "", err
	}

	var fp string
	var prev *cached // the last poll's alert of this fingerprint, if any
	if len(sp.fingerprint) > 0 && sp.fingerprint[0] == '"' {
		b, err := unquote(sp.fingerprint)
		if err != nil {
			return "", err
		}
		if prev = c; !bytes.Equal(b, key) {
			prev = d.prev[string(b)]
		}
		if prev != nil {
			fp = prev.a.Fingerprint
		} else {
			fp = string(b)
		}
	}
	var h maphash.Hash
	h.SetSeed(d.seed)
	for _, f := range [][]byte{sp.labels, sp.annotations, sp.status, sp.startsAt, sp.generatorURL} {
		h.Write(f)
		h.WriteByte(0)
	}
	sum := h.Sum64()
	if prev != nil && prev.sum == sum {
		prev.raw = rawSum
		d.reuse(snap, prev)
		return "", nil
	}

	var a alert.Alert
	var was alert.Alert
	if prev != nil {
		was = prev.a
	}
	var err error
	if a.Labels, err = d.labelSet(sp.labels, was.Labels); err != nil {
		return fp, fmt.Errorf("labels: %w", err)
	}
	if a.Annotations, err = d.annotations(sp.annotations, was.Annotations); err != nil {
		return fp, fmt.Errorf("annotations: %w", err)
	}
	if fp == "" {
		if len(a.Labels) == 0 {
			return "", nil // cannot be identified; as the generated path does
		}
		fp = a.Labels.Fingerprint().String()
	}
	a.Fingerprint = fp
	for _, dst := range []struct {
		raw []byte
		t   *time.Time
	}{{sp.startsAt, &a.StartsAt}, {sp.endsAt, &a.EndsAt}, {sp.updated, &a.UpdatedAt}} {
		if len(dst.raw) == 0 || string(dst.raw) == "null" {
			continue
		}
		b, err := unquote(dst.raw)
		if err != nil {
			return fp, err
		}
		if *dst.t, err = time.Parse(time.RFC3339Nano, string(b)); err != nil {
			return fp, fmt.Errorf("time %q: %w", b, err)
		}
	}
	if len(sp.generatorURL) > 0 && string(sp.generatorURL) != "null" {
		b, err := unquote(sp.generatorURL)
		if err != nil {
			return fp, err
		}
		a.GeneratorURL = string(b)
	}
	state, err := d.status(sp.status, &a)
	if err != nil {
		return fp, fmt.Errorf("status: %w", err)
	}
	if slices.Contains(snap.Incomplete, fp) {
		return "", nil
	}
	if a.StartsAt.IsZero() || state == "" || len(a.Labels) == 0 {
		if _, dup := d.pos[fp]; !dup {
			snap.Incomplete = append(snap.Incomplete, fp)
		}
		return "", nil
	}
	a.Suppressed = IsSuppressed(state, a.SilencedBy, a.InhibitedBy)
	d.add(snap, &cached{sum: sum, raw: rawSum, a: a})
	return "", nil
}

// reuse puts the last poll's decoding of an alert into the snapshot, as
// a full decoding of the same bytes would: not if an incomplete alert of
// that fingerprint came first in this poll. What a poll yields depends on
// its bytes alone, not on what the decoder saw before.
func (d *leanDecoder) reuse(snap *Snapshot, c *cached) {
	if !slices.Contains(snap.Incomplete, c.a.Fingerprint) {
		d.add(snap, c)
	}
}

// add puts an alert into the poll's snapshot. Two alerts with one
// fingerprint in one poll are one alert to the tracker: the one that
// started first is kept (Alertmanager's merge keeps the earliest start),
// whatever order they come in, so that the choice does not flip from poll
// to poll and make the alert look re-fired.
func (d *leanDecoder) add(snap *Snapshot, c *cached) {
	fp := c.a.Fingerprint
	if i, dup := d.pos[fp]; dup {
		if c.a.StartsAt.Before(snap.Alerts[i].StartsAt) {
			snap.Alerts[i] = &c.a
			d.next[fp] = c
		}
		return
	}
	d.pos[fp] = len(snap.Alerts)
	d.next[fp] = c
	snap.Alerts = append(snap.Alerts, &c.a)
}

// str returns b as an interned string, for what repeats across alerts:
// label names, states, silence IDs. Label values are not interned: most
// (pods, instances, annotations) are one alert's own, and a table entry
// costs more than the bytes a repeated short value would save; an
// unchanged value is taken from the alert's previous version instead.
func (d *leanDecoder) str(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	d.intern[s] = s
	return s
}

// labelSet decodes a label object; prev is the same alert's labels from
// the last poll (nil for a new alert), whose values are reused where they
// did not change. The map is made the size of the last alert's (d.size),
// which is set to this one's.
func (d *leanDecoder) labelSet(raw []byte, prev model.LabelSet) (model.LabelSet, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return model.LabelSet{}, nil
	}
	ls := make(model.LabelSet, max(len(prev), d.size, 1))
	s := scanner{b: raw}
	err := s.object(func(key []byte) error {
		v, err := s.string()
		if err != nil {
			return err
		}
		name := model.LabelName(d.str(key))
		if pv, ok := prev[name]; ok && string(pv) == string(v) {
			ls[name] = pv
		} else {
			ls[name] = model.LabelValue(v)
		}
		return nil
	})
	d.size = min(len(ls), maxSizeHint)
	return ls, err
}

// annotations decodes an annotation object; prev is the same alert's
// annotations from the last poll, whose string is reused if they did not
// change.
func (d *leanDecoder) annotations(raw []byte, prev alert.Annotations) (alert.Annotations, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return alert.Annotations{}, nil
	}
	d.pairs = d.pairs[:0]
	s := scanner{b: raw}
	err := s.object(func(key []byte) error {
		v, err := s.string()
		if err != nil {
			return err
		}
		// The value's bytes are the element's (or unquote's own): valid
		// until the next element, after they are encoded.
		d.pairs = append(d.pairs, alert.Pair[[]byte]{Name: d.str(key), Value: v})
		return nil
	})
	if err != nil {
		return alert.Annotations{}, err
	}
	d.enc = alert.EncodeAnnotations(d.enc[:0], d.pairs)
	a := alert.AnnotationsOf(d.enc, prev)
	clear(d.pairs) // the values point into the element
	if cap(d.pairs) > maxKeptPairs || cap(d.enc) > maxKeptEncoding {
		// A hostile alert's annotations do not stay held.
		d.pairs, d.enc = nil, nil
	}
	return a, nil
}

func (d *leanDecoder) status(raw []byte, a *alert.Alert) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var state string
	s := scanner{b: raw}
	err := s.object(func(key []byte) error {
		switch canonical(key, statusKeys) {
		case "state":
			v, err := s.string()
			state = d.str(v)
			return err
		case "silencedBy":
			return s.strings(func(b []byte) { a.SilencedBy = append(a.SilencedBy, d.str(b)) })
		case "inhibitedBy":
			return s.strings(func(b []byte) { a.InhibitedBy = append(a.InhibitedBy, d.str(b)) })
		}
		return s.skip()
	})
	return state, err
}

// scanner is a small JSON reader over one alert's bytes (already checked
// to be valid JSON by the stream decoder).
type scanner struct {
	b []byte
	i int
	// buf holds unescaped strings.
	buf []byte
}

func (s *scanner) pos() int { s.ws(); return s.i }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) expect(c byte) error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != c {
		return fmt.Errorf("expected %q at offset %d", c, s.i)
	}
	s.i++
	return nil
}

// object calls f for each key, with the scanner placed on the value; f must
// consume the value.
func (s *scanner) object(f func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		start := s.i
		if err := s.skipString(); err != nil {
			return err
		}
		key, err := unquote(s.b[start:s.i])
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		s.ws()
		if err := f(key); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return errors.New("unterminated object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return fmt.Errorf("unexpected %q at offset %d", s.b[s.i], s.i)
		}
	}
}

// string reads a string value (null is the empty string).
func (s *scanner) string() ([]byte, error) {
	s.ws()
	if s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return nil, nil
	}
	start := s.i
	if err := s.skipString(); err != nil {
		return nil, err
	}
	return unquote(s.b[start:s.i])
}

// strings reads an array of strings.
func (s *scanner) strings(f func([]byte)) error {
	s.ws()
	if s.i+4 <= len(s.b) && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return nil
	}
	if err := s.expect('['); err != nil {
		return err
	}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		v, err := s.string()
		if err != nil {
			return err
		}
		f(v)
		s.ws()
		if s.i >= len(s.b) {
			return errors.New("unterminated array")
		}
		if s.b[s.i] == ']' {
			s.i++
			return nil
		}
		if s.b[s.i] != ',' {
			return fmt.Errorf("unexpected %q in array", s.b[s.i])
		}
		s.i++
	}
}

func (s *scanner) skipString() error {
	open := s.i
	if open >= len(s.b) || s.b[open] != '"' {
		return fmt.Errorf("expected a string at offset %d", s.i)
	}
	for from := open + 1; ; {
		q := bytes.IndexByte(s.b[from:], '"')
		if q < 0 {
			return errors.New("unterminated string")
		}
		q += from
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		k := q
		for k > open+1 && s.b[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 {
			s.i = q + 1
			return nil
		}
		from = q + 1
	}
}

// skip passes over any value.
func (s *scanner) skip() error {
	s.ws()
	if s.i >= len(s.b) {
		return errors.New("unexpected end")
	}
	switch c := s.b[s.i]; c {
	case '"':
		return s.skipString()
	case '{', '[':
		depth := 0
		for ; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case '"':
				if err := s.skipString(); err != nil {
					return err
				}
				s.i--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
		}
		return errors.New("unterminated value")
	default:
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return nil
			}
			s.i++
		}
		return nil
	}
}

// unquote decodes a quoted JSON string; it returns a sub-slice when there
// is nothing to unescape.
func unquote(q []byte) ([]byte, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return nil, fmt.Errorf("not a string: %.40q", q)
	}
	q = q[1 : len(q)-1]
	b := bytes.IndexByte(q, '\\')
	if b < 0 {
		return q, nil
	}
	out := make([]byte, 0, len(q))
	for ; b >= 0; b = bytes.IndexByte(q, '\\') {
		// What comes before the escape is taken whole.
		out = append(out, q[:b]...)
		q = q[b+1:]
		if len(q) == 0 {
			return nil, errors.New("bad escape")
		}
		switch c := q[0]; c {
		case '"', '\\', '/':
			out = append(out, c)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if len(q) < 5 {
				return nil, errors.New("bad \\u escape")
			}
			r, err := strconv.ParseUint(string(q[1:5]), 16, 16)
			if err != nil {
				return nil, errors.New("bad \\u escape")
			}
			q = q[4:]
			ru := rune(r)
			if utf16.IsSurrogate(ru) && len(q) >= 7 && q[1] == '\\' && q[2] == 'u' {
				if r2, err := strconv.ParseUint(string(q[3:7]), 16, 16); err == nil {
					if dec := utf16.DecodeRune(ru, rune(r2)); dec != utf8.RuneError {
						ru = dec
						q = q[6:]
					}
				}
			}
			out = utf8.AppendRune(out, ru)
		default:
			return nil, errors.New("bad escape")
		}
		q = q[1:]
	}
	return append(out, q...), nil
}

// The keys the decoder reads, per object.
var (
	alertKeys  = newKeys("labels", "annotations", "status", "startsAt", "endsAt", "updatedAt", "fingerprint", "generatorURL")
	statusKeys = newKeys("state", "silencedBy", "inhibitedBy")
)

// keys are names with their bytes, so that matching allocates nothing.
type keys struct {
	names []string
	bytes [][]byte
}

func newKeys(names ...string) keys {
	k := keys{names: names}
	for _, n := range names {
		k.bytes = append(k.bytes, []byte(n))
	}
	return k
}

// canonical returns the name among ks that key spells, matched as
// encoding/json (and so the generated client) matches object keys: exactly,
// else ignoring case. "" if none.
func canonical(key []byte, ks keys) string {
	for _, n := range ks.names {
		if string(key) == n {
			return n
		}
	}
	for i, b := range ks.bytes {
		if bytes.EqualFold(key, b) {
			return ks.names[i]
		}
	}
	return ""
}
