package balancer

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"
)

// Cookie names, as ALB's AWSALB / AWSALBAPP / AWSALBTG.
const (
	cookieLB    = "GANTRYLB"
	cookieApp   = "GANTRYLBAPP"
	cookieGroup = "GANTRYLBTG"
)

// Cookie kinds are part of the signed message so a value minted for one
// cookie is refused as another.
const (
	kindLB byte = iota + 1
	kindApp
	kindGroup
)

// A sticky value is base64url(id[8] | expiry[4] | mac[12]): the id of the
// target (or group), the unix second it expires, and a truncated
// HMAC-SHA256 over kind|id|expiry. A client can neither forge a target nor
// extend a pin; anything that fails to verify is ignored and re-pinned.
const (
	stickyRawLen  = 8 + 4 + 12
	stickyTextLen = 32 // base64.RawURLEncoding.EncodedLen(stickyRawLen)
)

// cookieCodec signs and verifies sticky values. Safe for concurrent use.
type cookieCodec struct {
	pool sync.Pool // *macState
}

type macState struct {
	h   hash.Hash
	buf [64]byte
}

func newCookieCodec(key []byte) *cookieCodec {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			panic("balancer: no randomness for the cookie key: " + err.Error())
		}
	}
	k := append([]byte(nil), key...)
	c := &cookieCodec{}
	c.pool.New = func() any { return &macState{h: hmac.New(sha256.New, k)} }
	return c
}

// mac writes the 12-byte tag of (kind, raw[:12]) into raw[12:24].
func (c *cookieCodec) mac(kind byte, raw []byte) {
	st := c.pool.Get().(*macState)
	st.h.Reset()
	st.buf[0] = kind
	copy(st.buf[1:13], raw[:12])
	st.h.Write(st.buf[:13])
	sum := st.h.Sum(st.buf[16:16])
	copy(raw[12:24], sum[:12])
	c.pool.Put(st)
}

// appendValue appends the cookie value for id expiring at unix second exp.
func (c *cookieCodec) appendValue(dst []byte, kind byte, id uint64, exp uint32) []byte {
	var raw [stickyRawLen]byte
	binary.BigEndian.PutUint64(raw[0:8], id)
	binary.BigEndian.PutUint32(raw[8:12], exp)
	c.mac(kind, raw[:])
	var text [stickyTextLen]byte
	base64.RawURLEncoding.Encode(text[:], raw[:])
	return append(dst, text[:]...)
}

// verifyExp is verify that also returns the value's expiry.
func (c *cookieCodec) verifyExp(kind byte, value []byte, now uint32) (id uint64, exp uint32, ok bool) {
	if len(value) != stickyTextLen {
		return 0, 0, false
	}
	var raw, want [stickyRawLen]byte
	// Decode skips CR and LF: a value padded with them decodes short and
	// must not pass as the canonical one.
	if n, err := base64.RawURLEncoding.Decode(raw[:], value); err != nil || n != stickyRawLen {
		return 0, 0, false
	}
	copy(want[:12], raw[:12])
	c.mac(kind, want[:])
	if subtle.ConstantTimeCompare(raw[12:], want[12:]) != 1 {
		return 0, 0, false
	}
	exp = binary.BigEndian.Uint32(raw[8:12])
	if exp < now {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(raw[0:8]), exp, true
}

// A cookie holds up to maxPins values joined by '.', one per target group
// (or weighted forward) it pins: a listener may route to several sticky
// groups, as ALB allows, and each keeps its own pin instead of the last one
// visited overwriting the others.
const maxPins = 8

// nextPin splits the first value off a cookie's list of pins.
func nextPin(list []byte) (pin, rest []byte) {
	if i := bytes.IndexByte(list, '.'); i >= 0 {
		return list[:i], list[i+1:]
	}
	return list, nil
}

// pin returns the id of the first authentic, unexpired value in list that
// ours accepts (an id of the group at hand).
func (c *cookieCodec) pin(kind byte, list []byte, now uint32, ours func(uint64) bool) (uint64, bool) {
	for n := 0; len(list) > 0 && n < maxPins; n++ {
		var v []byte
		v, list = nextPin(list)
		if id, _, ok := c.verifyExp(kind, v, now); ok && ours(id) {
			return id, true
		}
	}
	return 0, false
}

// appendOthers appends, each after a '.', the authentic, unexpired values of
// list that keep accepts (other groups' pins), at most maxPins-1, and
// returns the latest expiry among them (0 for none).
func (c *cookieCodec) appendOthers(dst []byte, kind byte, list []byte, now uint32, keep func(uint64) bool) ([]byte, uint32) {
	var latest uint32
	kept := 0
	for n := 0; len(list) > 0 && n < maxPins && kept < maxPins-1; n++ {
		var v []byte
		v, list = nextPin(list)
		if id, exp, ok := c.verifyExp(kind, v, now); ok && keep(id) {
			dst = append(append(dst, '.'), v...)
			latest = max(latest, exp)
			kept++
		}
	}
	return dst, latest
}
