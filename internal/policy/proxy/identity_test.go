package proxy

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/pipeline"
)

func identityBase() pipeline.Identity {
	return pipeline.Identity{
		ConsumerID: "c1", ConsumerType: "user", ConsumerName: "alice", UserID: "u1", AuthenticatedUserID: "au1",
		AuthType: "key-auth", CredentialID: "k1", TokenID: "t1", Scopes: []string{"read", "write"},
		ExpiresAt: time.UnixMilli(1700000000999), IsActive: true,
		CreatedAt: time.UnixMilli(1700000000123), UpdatedAt: time.UnixMilli(1700000000456),
		RedirectURI: "https://a.test/cb", TokenRedirect: "https://b.test/cb",
		Properties: map[string]string{"tier": "gold"}, TokenSubject: "sub", TokenIssuer: "iss",
	}
}

func renderWith(c *identityCache, id pipeline.Identity) http.Header {
	h := http.Header{}
	c.set(h, &id)
	return h
}

// TestIdentityCacheFields: an identity that differs from the cached one
// in any field gets its own headers, never the cached ones (a field added
// to pipeline.Identity and rendered must be compared by sameHeaders).
func TestIdentityCacheFields(t *testing.T) {
	c := newIdentityCache()
	base := identityBase()
	typ := reflect.TypeFor[pipeline.Identity]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		id := base
		fv := reflect.ValueOf(&id).Elem().Field(i)
		switch {
		case f.Type == reflect.TypeFor[time.Time]():
			fv.Set(reflect.ValueOf(time.UnixMilli(1800000000000)))
		case f.Type.Kind() == reflect.String:
			fv.SetString(fv.String() + "x")
		case f.Type.Kind() == reflect.Bool:
			fv.SetBool(!fv.Bool())
		case f.Type == reflect.TypeFor[[]string]():
			fv.Set(reflect.ValueOf([]string{"other"}))
		case f.Type == reflect.TypeFor[map[string]string]():
			fv.Set(reflect.ValueOf(map[string]string{"tier": "silver"}))
		case f.Name == "Claims":
			continue // not rendered
		default:
			t.Fatalf("field %s of type %s: teach this test (and sameHeaders) about it", f.Name, f.Type)
		}
		renderWith(c, base) // cached
		if got, want := renderWith(c, id), renderWith(newIdentityCache(), id); !reflect.DeepEqual(got, want) {
			t.Errorf("%s changed: headers %v, want %v", f.Name, got, want)
		}
	}

	// The identity's slices and maps changed in place after caching.
	id := base
	id.Scopes, id.Properties = []string{"read"}, map[string]string{"tier": "gold"}
	renderWith(c, id)
	id.Scopes[0], id.Properties["tier"] = "admin", "platinum"
	if got := renderWith(c, id); got.Get("Eg-Token-Scopes") != "admin" || got.Get("Eg-Consumer-Tier") != "platinum" {
		t.Errorf("after an in-place change: %v", got)
	}
}

// TestIdentityCacheHit: the headers of an identity seen before are not
// rendered again (no allocation but the map's), and equal a fresh render.
func TestIdentityCacheHit(t *testing.T) {
	c := newIdentityCache()
	id := identityBase()
	want := renderWith(newIdentityCache(), id)
	h := make(http.Header, 32)
	c.set(h, &id)
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("headers %v, want %v", h, want)
	}
	again := id // another *Identity with the same content, as an auth policy builds per request
	if n := testing.AllocsPerRun(100, func() { clear(h); c.set(h, &again) }); n != 0 {
		t.Errorf("%v allocations per cached identity, want 0", n)
	}
}
