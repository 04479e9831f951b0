package oauth2server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// Generated keys are rotated after this long; a retired key stays published
// until every token it signed has expired.
const keyRotation = 30 * 24 * time.Hour

// signingKey is one key of the keyring, as persisted in the store.
type signingKey struct {
	KID       string    `json:"kid"`
	Alg       string    `json:"alg"`
	PEM       string    `json:"pem"` // PKCS #8 private key
	CreatedAt time.Time `json:"createdAt"`
	RetiredAt time.Time `json:"retiredAt,omitzero"`

	private crypto.Signer
}

type keyset struct {
	Keys []*signingKey `json:"keys"`
}

// keyring signs RFC 9068 access tokens and publishes the public keys. Keys
// come from accessTokens.secretOrPrivateKey(File) when configured, else
// they are generated (ES256) and kept in the store, so every node signs and
// verifies with the same keys.
type keyring struct {
	mu      sync.RWMutex
	static  *signingKey // configured key (never rotated)
	hmac    []byte      // configured HS* secret
	alg     string
	set     []*signingKey // generated keys, newest first
	store   store.RecordUpdater
	now     func() time.Time
	tokenTL time.Duration
	// record is the store record of the generated keyset: "signing-keys"
	// for access tokens, "oidc-keys-<alg>" for ID tokens (idtoken.go).
	record string

	// reload serialises reloads of the generated keyset; lastTry is when
	// the last reload was attempted (guarded by reload).
	reload  sync.Mutex
	lastTry time.Time
}

// reloadEvery bounds how often an unknown kid, or a key due for rotation,
// makes a node reread the keyset from the store.
const reloadEvery = 5 * time.Second

// maybeReload rereads (and, when due, rotates) the generated keyset: another
// node may have rotated it, or this process has run past the rotation age.
// At most once per reloadEvery.
func (kr *keyring) maybeReload() {
	if kr.static != nil || kr.hmac != nil {
		return
	}
	kr.reload.Lock()
	defer kr.reload.Unlock()
	now := kr.now()
	if now.Sub(kr.lastTry) < reloadEvery {
		return
	}
	kr.lastTry = now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = kr.refresh(ctx) // on failure the keys in memory keep serving
}

func loadKeyring(ctx context.Context, s store.RecordUpdater, at *config.AccessTokens, dir string, now func() time.Time, ttl time.Duration) (*keyring, error) {
	kr := &keyring{store: s, now: now, tokenTL: ttl, alg: at.Algorithm, record: "signing-keys"}
	material := at.SecretOrPrivateKey
	if at.SecretOrPrivateKeyFile != "" {
		p := at.SecretOrPrivateKeyFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("accessTokens.secretOrPrivateKeyFile: %w", err)
		}
		material = string(b)
	}
	if material != "" {
		if err := kr.configure(material); err != nil {
			return nil, fmt.Errorf("accessTokens: %w", err)
		}
		return kr, nil
	}
	if kr.alg != "" && kr.alg != "ES256" {
		return nil, fmt.Errorf("accessTokens.algorithm %s needs secretOrPrivateKey or secretOrPrivateKeyFile (generated keys are ES256)", kr.alg)
	}
	kr.alg = "ES256"
	if err := kr.refresh(ctx); err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			// The store (Redis) is down at start: the node starts all the
			// same and loads the keys on first need once it is back;
			// until then signing and verifying answer 503 (errNoKeys).
			kr.lastTry = now()
			return kr, err
		}
		return nil, err
	}
	return kr, nil
}

// errNoKeys: the generated keys could not be loaded yet (the store was
// unreachable since the start). It wraps store.ErrUnavailable, so callers
// answer 503 with Retry-After.
var errNoKeys = fmt.Errorf("the JWT signing keys are not loaded yet: %w", store.ErrUnavailable)

// loaded returns the generated keyset, trying to load it (at most once per
// reloadEvery) while it is empty.
func (kr *keyring) loaded() []*signingKey {
	kr.mu.RLock()
	set := kr.set
	kr.mu.RUnlock()
	if len(set) > 0 {
		return set
	}
	kr.maybeReload()
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.set
}

// configure takes an HMAC secret or a PEM private key from the config.
func (kr *keyring) configure(material string) error {
	block, _ := pem.Decode([]byte(material))
	if block == nil {
		if kr.alg == "" {
			kr.alg = "HS256" // Express Gateway's default
		}
		if kr.alg != "HS256" && kr.alg != "HS384" && kr.alg != "HS512" {
			return fmt.Errorf("algorithm %s needs a PEM private key, not a secret", kr.alg)
		}
		if err := secret.CheckHMACKey(kr.alg, []byte(material)); err != nil {
			return fmt.Errorf("secretOrPrivateKey: %w", err)
		}
		kr.hmac = []byte(material)
		return nil
	}
	signer, err := parsePrivateKey(block.Bytes)
	if err != nil {
		return err
	}
	alg, err := algFor(signer, kr.alg)
	if err != nil {
		return err
	}
	kr.alg = alg
	pub, _ := x509.MarshalPKIXPublicKey(signer.Public())
	kr.static = &signingKey{KID: "cfg-" + base64.RawURLEncoding.EncodeToString(sha(pub))[:16], Alg: alg, private: signer}
	return nil
}

func sha(b []byte) []byte {
	h := crypto.SHA256.New()
	h.Write(b)
	return h.Sum(nil)
}

func parsePrivateKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("secretOrPrivateKey is not a PEM private key (PKCS #8, PKCS #1 or EC)")
}

func algFor(k crypto.Signer, want string) (string, error) {
	var allowed []string
	switch pk := k.(type) {
	case *rsa.PrivateKey:
		allowed = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PrivateKey:
		switch pk.Curve {
		case elliptic.P256():
			allowed = []string{"ES256"}
		case elliptic.P384():
			allowed = []string{"ES384"}
		case elliptic.P521():
			allowed = []string{"ES512"}
		}
	case ed25519.PrivateKey:
		allowed = []string{"EdDSA"}
	}
	if len(allowed) == 0 {
		return "", errors.New("unsupported private key type")
	}
	if want == "" {
		return allowed[0], nil
	}
	for _, a := range allowed {
		if a == want {
			return a, nil
		}
	}
	return "", fmt.Errorf("algorithm %s does not fit the configured key (use one of %v)", want, allowed)
}

// refresh loads the generated keyset, creating or rotating it atomically
// in the store.
func (kr *keyring) refresh(ctx context.Context) error {
	now := kr.now()
	ks, err := store.UpdateRecord(ctx, kr.store, "oauth2", kr.record, func(cur *keyset) (*keyset, time.Duration, error) {
		if cur != nil && len(cur.Keys) > 0 && now.Sub(cur.Keys[0].CreatedAt) < keyRotation {
			return nil, 0, nil
		}
		next := &keyset{}
		k, err := newKey(kr.alg, now)
		if err != nil {
			return nil, 0, err
		}
		next.Keys = append(next.Keys, k)
		if cur != nil {
			for i, old := range cur.Keys {
				if i == 0 {
					old.RetiredAt = now
				}
				if old.RetiredAt.IsZero() || now.Sub(old.RetiredAt) < kr.tokenTL+time.Minute {
					next.Keys = append(next.Keys, old)
				}
			}
		}
		return next, 0, nil
	})
	if err != nil {
		return err
	}
	for _, k := range ks.Keys {
		block, _ := pem.Decode([]byte(k.PEM))
		if block == nil {
			return errors.New("stored signing key is not PEM")
		}
		if k.private, err = parsePrivateKey(block.Bytes); err != nil {
			return err
		}
	}
	kr.mu.Lock()
	kr.set = ks.Keys
	kr.mu.Unlock()
	return nil
}

// newKey generates a signing key for alg: ES256 (the access tokens'
// generated keys), RS256 (2048 bits, the ID tokens' default: OpenID
// Connect Discovery 1.0 §3 requires RS256) or EdDSA (Ed25519).
func newKey(alg string, now time.Time) (*signingKey, error) {
	var k crypto.Signer
	var err error
	switch alg {
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("no generated keys for algorithm %s", alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return &signingKey{KID: secret.Generate(16), Alg: alg, CreatedAt: now,
		PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), private: k}, nil
}

// current is the key that signs new tokens.
func (kr *keyring) current() (*signingKey, []byte) {
	if kr.hmac != nil {
		return &signingKey{Alg: kr.alg}, kr.hmac
	}
	if kr.static != nil {
		return kr.static, nil
	}
	set := kr.loaded()
	if len(set) == 0 {
		return nil, nil
	}
	k := set[0]
	if kr.now().Sub(k.CreatedAt) >= keyRotation {
		// Rotation is due while running: the first node to get here
		// creates the next key in the store, the others load it.
		kr.maybeReload()
		kr.mu.RLock()
		k = kr.set[0]
		kr.mu.RUnlock()
	}
	return k, nil
}

// sign makes an RFC 9068 JWT: header typ "at+jwt" and the key's kid.
func (kr *keyring) sign(claims jwt.MapClaims) (string, error) {
	return kr.signTyp(claims, "at+jwt") // RFC 9068 §2.1
}

// signTyp signs claims with the current key, with header typ and the
// key's kid.
func (kr *keyring) signTyp(claims jwt.MapClaims, typ string) (string, error) {
	k, hmacKey := kr.current()
	if k == nil {
		return "", errNoKeys
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), claims)
	t.Header["typ"] = typ
	if k.KID != "" {
		t.Header["kid"] = k.KID
	}
	if hmacKey != nil {
		return t.SignedString(hmacKey)
	}
	return t.SignedString(k.private)
}

// Keyfunc verifies tokens the server issued: the kid selects a published
// key; the algorithm must be the key's (never "none", never HMAC for an
// asymmetric key).
func (kr *keyring) Keyfunc(t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	if kr.hmac != nil {
		if alg != kr.alg {
			return nil, fmt.Errorf("unexpected algorithm %q", alg)
		}
		return kr.hmac, nil
	}
	kid, _ := t.Header["kid"].(string)
	for try := 0; try < 2; try++ {
		for _, k := range kr.published() {
			if k.KID == kid {
				if alg != k.Alg {
					return nil, fmt.Errorf("unexpected algorithm %q", alg)
				}
				return k.private.Public(), nil
			}
		}
		if try == 0 && kid != "" {
			// Another node may have rotated the keys since this one
			// loaded them.
			kr.maybeReload()
		}
	}
	if len(kr.published()) == 0 {
		return nil, errNoKeys // no verdict without keys: 503, not 401
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// Algorithms lists the algorithms the keyring signs with.
func (kr *keyring) Algorithms() []string { return []string{kr.alg} }

func (kr *keyring) published() []*signingKey {
	if kr.static != nil {
		return []*signingKey{kr.static}
	}
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.set
}

// jwk is one public key in RFC 7517 form.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	KID string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKS is the public key set (empty for HMAC keys, which are secret).
func (kr *keyring) JWKS() []jwk {
	b64 := base64.RawURLEncoding.EncodeToString
	var out []jwk
	for _, k := range kr.published() {
		j := jwk{Use: "sig", Alg: k.Alg, KID: k.KID}
		switch pk := k.private.Public().(type) {
		case *ecdsa.PublicKey:
			// Bytes is the uncompressed point 0x04 || X || Y, each
			// coordinate padded to the curve's size (RFC 7518 §6.2.1.2).
			pt, err := pk.Bytes()
			if err != nil {
				continue
			}
			size := (len(pt) - 1) / 2
			j.Kty, j.Crv = "EC", pk.Curve.Params().Name
			j.X, j.Y = b64(pt[1:1+size]), b64(pt[1+size:])
		case *rsa.PublicKey:
			j.Kty, j.N, j.E = "RSA", b64(pk.N.Bytes()), b64(big.NewInt(int64(pk.E)).Bytes())
		case ed25519.PublicKey:
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(pk)
		default:
			continue
		}
		out = append(out, j)
	}
	return out
}
