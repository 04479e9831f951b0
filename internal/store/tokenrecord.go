package store

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A token's stored record is a compact binary encoding, not JSON: tokens
// are by far the most numerous records (one or two per grant, alive for
// their whole lifetime), and their JSON (about 400 bytes, most of it field
// names, hex and RFC 3339 dates) was most of what a live token cost on
// every backend. The binary record of a client_credentials token is about
// 95 bytes and decodes without reflection. Records written as JSON by
// earlier versions are still read (their first byte is '{').
//
// Layout: tokenRecordV1, a flags byte (revoked, withdrawn, the kind when
// it is an access or refresh token), then the fields in Token's order as
// strings (see appendStr) and times (see appendTime; the expiry usually
// as the lifetime); scopes as a uvarint count and strings. The id is not
// kept: it is in the record's key.
const tokenRecordV1 = 0x01

const (
	flagRevoked = 1 << iota
	flagWithdrawn
	// The high nibble holds 1 + the kind's index in tokenWords when the
	// kind is one of the first of them (access or refresh token); 0: the
	// kind follows as a string.
	flagKindShift = 4
)

// String tags. A string is stored as one tag byte, then what the tag says.
const (
	strEmpty   = iota // ""
	strLiteral        // uvarint length, bytes
	strHex16          // 16 bytes: a 32-digit lowercase hex string (token, family ids)
	strUUID           // 16 bytes: a lowercase RFC 9562 UUID (consumer ids)
	strSHA256         // 32 bytes: "sha256:" + 64 lowercase hex digits (secret.HashFast)
	strWord           // one byte: an index into tokenWords
)

// tokenWords are the strings that recur in every record (kinds, the auth
// type, grant types): one byte each.
var tokenWords = [...]string{AccessToken, RefreshToken, "oauth2",
	"client_credentials", "authorization_code", "password", "refresh_token", "implicit"}

// TokenRecord is the record SaveToken stores for t (for tools and
// benchmarks that write a store's records directly).
func TokenRecord(t *Token) []byte { return appendToken(make([]byte, 0, 128), t) }

func appendToken(b []byte, t *Token) []byte {
	flags := byte(0)
	if t.Revoked {
		flags |= flagRevoked
	}
	if t.Withdrawn {
		flags |= flagWithdrawn
	}
	switch t.Kind {
	case tokenWords[0], tokenWords[1]:
		if t.Kind == tokenWords[0] {
			flags |= 1 << flagKindShift
		} else {
			flags |= 2 << flagKindShift
		}
		b = append(b, tokenRecordV1, flags)
	default:
		b = appendStr(append(b, tokenRecordV1, flags), t.Kind)
	}
	b = appendStr(b, t.SecretHash)
	b = appendStr(b, t.ConsumerID)
	b = appendStr(b, t.AuthenticatedUserID)
	b = appendStr(b, t.AuthType)
	b = binary.AppendUvarint(b, uint64(len(t.Scopes)))
	for _, s := range t.Scopes {
		b = appendStr(b, s)
	}
	b = appendStr(b, t.RedirectURI)
	b = appendStr(b, t.GrantType)
	b = appendStr(b, t.FamilyID)
	b = appendStr(b, t.ParentID)
	b = appendTime(b, t.CreatedAt)
	_, cOff := t.CreatedAt.Zone()
	life := t.ExpiresAt.Sub(t.CreatedAt) // saturates: checked below
	if _, eOff := t.ExpiresAt.Zone(); !t.CreatedAt.IsZero() && life >= 0 && eOff == cOff && t.CreatedAt.Add(life).Equal(t.ExpiresAt) {
		// The usual case, in 7 bytes instead of 11: the lifetime.
		b = append(b, timeAfter)
		return binary.AppendUvarint(b, uint64(life))
	}
	return appendTime(b, t.ExpiresAt)
}

func appendStr(b []byte, s string) []byte {
	switch {
	case s == "":
		return append(b, strEmpty)
	case len(s) == 32 && isLowerHex(s):
		return appendHex(append(b, strHex16), s)
	case len(s) == 71 && s[:7] == "sha256:" && isLowerHex(s[7:]):
		return appendHex(append(b, strSHA256), s[7:])
	case isUUID(s):
		b = append(b, strUUID)
		for _, part := range [...]string{s[0:8], s[9:13], s[14:18], s[19:23], s[24:]} {
			b = appendHex(b, part)
		}
		return b
	}
	for i, w := range tokenWords {
		if s == w {
			return append(b, strWord, byte(i))
		}
	}
	b = append(b, strLiteral)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendHex appends the bytes of s, lowercase hex digits (checked by the
// caller).
func appendHex(b []byte, s string) []byte {
	for i := 0; i+1 < len(s); i += 2 {
		b = append(b, unhex(s[i])<<4|unhex(s[i+1]))
	}
	return b
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isUUID: 8-4-4-4-12 lowercase hex digits.
func isUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	return isLowerHex(s[0:8]) && isLowerHex(s[9:13]) && isLowerHex(s[14:18]) && isLowerHex(s[19:23]) && isLowerHex(s[24:])
}

// Time tags. A time keeps its instant and its zone offset, and decodes to
// what its RFC 3339 JSON decoded to: UTC for offset 0, the local zone when
// the offset is the local one at that instant, else a fixed zone.
const (
	timeZero  = iota
	timeUTC   // varint seconds, uvarint nanoseconds
	timeZone  // varint offset in seconds, then as timeUTC
	timeAfter // ExpiresAt only: uvarint nanoseconds after CreatedAt, in its offset
)

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, timeZero)
	}
	if _, off := t.Zone(); off != 0 {
		b = append(b, timeZone)
		b = binary.AppendVarint(b, int64(off))
	} else {
		b = append(b, timeUTC)
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

var errTokenRecord = errors.New("truncated or unknown token record")

// decodeToken reads the record of token id, binary or (written by an
// earlier version) JSON.
func decodeToken(id string, b []byte) (*Token, error) {
	t := new(Token)
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, t); err != nil {
			return nil, err
		}
		return t, nil
	}
	d := tokenDecoder{b: b}
	if d.byte() != tokenRecordV1 {
		return nil, errTokenRecord
	}
	flags := d.byte()
	t.ID = id
	t.Revoked, t.Withdrawn = flags&flagRevoked != 0, flags&flagWithdrawn != 0
	switch k := flags >> flagKindShift; {
	case k == 0:
		t.Kind = d.str()
	case k <= 2:
		t.Kind = tokenWords[k-1]
	default:
		d.bad = true
	}
	if flags&^(flagRevoked|flagWithdrawn|3<<flagKindShift) != 0 {
		d.bad = true
	}
	t.SecretHash = d.str()
	t.ConsumerID = d.str()
	t.AuthenticatedUserID = d.str()
	t.AuthType = d.str()
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.b)) {
		t.Scopes = make([]string, n)
		for i := range t.Scopes {
			t.Scopes[i] = d.str()
		}
	} else if n > 0 {
		d.bad = true
	}
	t.RedirectURI = d.str()
	t.GrantType = d.str()
	t.FamilyID = d.str()
	t.ParentID = d.str()
	var off int
	t.CreatedAt, off = d.time()
	if len(d.b) > 0 && d.b[0] == timeAfter {
		d.byte()
		if t.CreatedAt.IsZero() {
			d.bad = true
		}
		life := d.uvarint()
		if t.ExpiresAt = inZone(t.CreatedAt.Add(time.Duration(life)), off); life > 1<<63-1 || !jsonYear(t.ExpiresAt) {
			d.bad = true
		}
	} else {
		t.ExpiresAt, _ = d.time()
	}
	if d.bad || len(d.b) != 0 {
		return nil, errTokenRecord
	}
	return t, nil
}

// tokenDecoder reads a record front to back; a read past its end sets bad
// and returns zero values.
type tokenDecoder struct {
	b   []byte
	bad bool
}

func (d *tokenDecoder) take(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.bad, d.b = true, nil
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *tokenDecoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *tokenDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *tokenDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *tokenDecoder) str() string {
	switch tag := d.byte(); tag {
	case strEmpty:
		return ""
	case strLiteral:
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.bad, d.b = true, nil
			return ""
		}
		return string(d.take(int(n)))
	case strHex16:
		return hex.EncodeToString(d.take(16))
	case strSHA256:
		p := d.take(32)
		if p == nil {
			return ""
		}
		return "sha256:" + hex.EncodeToString(p)
	case strUUID:
		p := d.take(16)
		if p == nil {
			return ""
		}
		h := hex.EncodeToString(p)
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case strWord:
		if i := int(d.byte()); i < len(tokenWords) {
			return tokenWords[i]
		}
	}
	d.bad = true
	return ""
}

// time reads a time and the zone offset it was written with.
func (d *tokenDecoder) time() (time.Time, int) {
	tag := d.byte()
	if tag == timeZero {
		return time.Time{}, 0
	}
	off := int64(0)
	if tag == timeZone {
		off = d.varint()
	} else if tag != timeUTC {
		d.bad = true
		return time.Time{}, 0
	}
	sec, nsec := d.varint(), d.uvarint()
	if nsec >= 1e9 || off <= -24*3600 || off >= 24*3600 { // RFC 3339 offsets stay within a day
		d.bad = true
		return time.Time{}, 0
	}
	t := inZone(time.Unix(sec, int64(nsec)), int(off))
	if !jsonYear(t) {
		d.bad = true
	}
	return t, int(off)
}

// jsonYear: t renders in RFC 3339 (years 0 to 9999), as every time the
// Admin API returns must, and as every time JSON could store was.
func jsonYear(t time.Time) bool { return t.Year() >= 0 && t.Year() <= 9999 }

// inZone puts t in the zone its RFC 3339 form with offset off parses to
// (time.Parse): UTC for 0, Local when off is Local's offset at t, else a
// fixed zone.
func inZone(t time.Time, off int) time.Time {
	switch {
	case off == 0:
		return t.UTC()
	case localOffset(t.Local()) == off:
		return t.Local()
	}
	return t.In(time.FixedZone("", off))
}

func localOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

// corruptToken names the key of a record that does not decode.
func corruptToken(key string, err error) error {
	return fmt.Errorf("store: corrupt record %s: %w", key, err)
}
