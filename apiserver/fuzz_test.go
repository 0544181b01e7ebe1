package apiserver

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantrylb/gantry/store"
)

// FuzzApply sends arbitrary bodies to POST /v1/apply: the answer is always a
// success or a client error, never a server error or a panic, and a rejected
// body leaves the store untouched.
func FuzzApply(f *testing.F) {
	for _, seed := range []string{
		resources,
		"kind: TargetGroup\nname: x\nbogus: 1\n",
		`{"kind":"TargetGroup","name":"j","targets":[{"address":"127.0.0.1:1","weight":2}]}`,
		"kind: Listener\nname: l\nport: 80\ndefaultAction: {forward: {targetGroup: none}}\n",
		"---\n---\n",
		"kind: [\n",
		"\xef\xbb\xbf{}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		st := store.NewMemory()
		h := New(Config{Store: st, Logger: slog.New(slog.DiscardHandler), MaxBodyBytes: 1 << 16}).Handler()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/apply?file=f.yaml", strings.NewReader(body)))
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if v := st.Snapshot().Version; v != 0 {
				t.Fatalf("rejected apply (%d) changed the store to version %d", rec.Code, v)
			}
		default:
			t.Fatalf("POST /v1/apply %q = %d %s, want 200, 400 or 413", body, rec.Code, rec.Body.String())
		}
	})
}
