package rules

import (
	"bytes"
	"net/netip"
	"unsafe"
)

// Request is what the rules see of one request. Implementations must not
// allocate; returned slices are only read during the call and never retained.
// A Request is used by one goroutine at a time.
type Request interface {
	// Method is the request method as received, such as GET.
	Method() []byte
	// Host is the Host header as received; it may carry :port and a trailing
	// dot (both ignored) and any case.
	Host() []byte
	// Path is the path exactly as it will be forwarded (already normalised by the caller).
	Path() []byte
	// SourceIP is the client address.
	SourceIP() netip.Addr
	// HeaderValues returns every value of the header; name is matched
	// case-insensitively. It returns nil when the header is absent.
	HeaderValues(name []byte) [][]byte
	// QueryLen is the number of query pairs.
	QueryLen() int
	// QueryAt returns the i-th percent-decoded query pair, in request order.
	QueryAt(i int) (key, value []byte)
}

// StaticRequest is a request held in plain fields, for tests and benchmarks of
// this and other packages. View returns it as a Request. After the first call
// to HeaderValues through the view, the fields must not change.
type StaticRequest struct {
	Method   string
	Host     string
	Path     string
	SourceIP netip.Addr
	// Headers holds name, value pairs; a name may repeat.
	Headers [][2]string
	// Query holds percent-decoded key, value pairs in order.
	Query [][2]string

	headers []staticHeader // grouped Headers, built on first use
}

type staticHeader struct {
	name   []byte
	values [][]byte
}

// View returns r as a Request. It does not allocate; the view shares r.
// (StaticRequest cannot implement Request itself: its fields carry the
// method names.)
func (r *StaticRequest) View() Request { return staticView{r} }

// staticView implements Request over a StaticRequest. Being pointer-shaped,
// it is stored in an interface without allocating.
type staticView struct{ r *StaticRequest }

var _ Request = staticView{}

// bytesOf returns the bytes of s without copying; callers only read them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func (v staticView) Method() []byte       { return bytesOf(v.r.Method) }
func (v staticView) Host() []byte         { return bytesOf(v.r.Host) }
func (v staticView) Path() []byte         { return bytesOf(v.r.Path) }
func (v staticView) SourceIP() netip.Addr { return v.r.SourceIP }
func (v staticView) QueryLen() int        { return len(v.r.Query) }

func (v staticView) QueryAt(i int) (key, value []byte) {
	return bytesOf(v.r.Query[i][0]), bytesOf(v.r.Query[i][1])
}

// HeaderValues groups the headers by name on its first call so that later
// calls do not allocate (testing.AllocsPerRun warms up once).
func (v staticView) HeaderValues(name []byte) [][]byte {
	r := v.r
	if r.headers == nil && len(r.Headers) > 0 {
		r.group()
	}
	for i := range r.headers {
		if bytes.EqualFold(r.headers[i].name, name) {
			return r.headers[i].values
		}
	}
	return nil
}

func (v *StaticRequest) group() {
	for _, h := range v.Headers {
		name, value := bytesOf(h[0]), bytesOf(h[1])
		found := false
		for i := range v.headers {
			if bytes.EqualFold(v.headers[i].name, name) {
				v.headers[i].values = append(v.headers[i].values, value)
				found = true
				break
			}
		}
		if !found {
			v.headers = append(v.headers, staticHeader{name: name, values: [][]byte{value}})
		}
	}
}
