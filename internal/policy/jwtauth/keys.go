package jwtauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/secret"
)

// Algorithm families (RFC 7518 §3.1, RFC 8037 §3.1). A key verifies only
// the algorithms of its own family: an HMAC secret never verifies an RS256
// token and an RSA key never verifies an HS256 one, which is what defeats
// the "public key used as HMAC secret" confusion attack.
var (
	hmacAlgorithms = []string{"HS256", "HS384", "HS512"}
	rsaAlgorithms  = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	edAlgorithms   = []string{"EdDSA"}
	// keySetAlgorithms are allowed for a JWKS: every asymmetric family.
	// Each key still verifies only its own (golang-jwt checks the key type
	// against the method, and keyfunc the JWK's alg against the token's).
	// Symmetric keys are never taken from a remote key set.
	keySetAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	knownAlgorithms  = append(slices.Clone(hmacAlgorithms), keySetAlgorithms...)
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3 requires
// 2048 bits; jsonwebtoken 9 refuses smaller keys too).
const minRSABits = 2048

// parseKey turns configured key material into a verification key: a PEM
// public key (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY") or certificate,
// or, for inline text that is not PEM, an HMAC secret. Anything that
// starts like PEM must parse as a public key: a broken PEM is never
// silently used as an HMAC secret.
func parseKey(material []byte, pemOnly bool) (any, error) {
	if !bytes.Contains(material, []byte("-----BEGIN")) {
		if pemOnly {
			return nil, errors.New("is not a PEM public key or certificate")
		}
		if len(material) == 0 {
			return nil, errors.New("is empty")
		}
		if err := secret.CheckHMACKey("HS256", material); err != nil {
			return nil, err
		}
		return material, nil
	}
	block, _ := pem.Decode(material)
	if block == nil {
		return nil, errors.New("is not valid PEM")
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("holds a PUBLIC KEY that does not parse: %v", err)
		}
		pub = k
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("holds an RSA PUBLIC KEY that does not parse: %v", err)
		}
		pub = k
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("holds a CERTIFICATE that does not parse: %v", err)
		}
		pub = c.PublicKey
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("holds a %s: the gateway only verifies, so give it the public key (e.g. openssl pkey -in private.pem -pubout)", block.Type)
		}
		return nil, fmt.Errorf("holds a PEM %q block; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("holds a %d-bit RSA key; at least %d bits are required", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if ecAlgorithm(k.Curve) == "" {
			return nil, fmt.Errorf("holds an EC key on curve %s; only P-256, P-384 and P-521 have JWS algorithms", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("holds a %T key, which has no supported JWS algorithm", pub)
	}
	return pub, nil
}

// ecAlgorithm is the one JWS algorithm of a curve (RFC 7518 §3.4).
func ecAlgorithm(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// family lists the algorithms a static key can verify.
func family(key any) []string {
	switch k := key.(type) {
	case []byte:
		return hmacAlgorithms
	case *rsa.PublicKey:
		return rsaAlgorithms
	case *ecdsa.PublicKey:
		if a := ecAlgorithm(k.Curve); a != "" {
			return []string{a}
		}
	case ed25519.PublicKey:
		return edAlgorithms
	}
	return nil
}

// familyName describes a key for error messages.
func familyName(key any) string {
	switch k := key.(type) {
	case []byte:
		return "an HMAC secret"
	case *rsa.PublicKey:
		return "an RSA key"
	case *ecdsa.PublicKey:
		return "an EC " + k.Curve.Params().Name + " key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	case nil:
		return "a JWKS"
	}
	return "this key"
}

// allowedAlgorithms checks a configured allow-list against the key's
// family; an empty list means the whole family, less the HMAC algorithms
// an HMAC secret is too short for (RFC 7518 §3.2).
func allowedAlgorithms(configured, fam []string, key any) ([]string, error) {
	hmacKey, isHMAC := key.([]byte)
	if isHMAC {
		if err := secret.CheckHMACKey("HS256", hmacKey); err != nil {
			return nil, err
		}
	}
	if len(configured) == 0 {
		if isHMAC {
			return slices.DeleteFunc(slices.Clone(fam), func(a string) bool { return secret.CheckHMACKey(a, hmacKey) != nil }), nil
		}
		return slices.Clone(fam), nil
	}
	out := make([]string, 0, len(configured))
	for _, a := range configured {
		switch {
		case strings.EqualFold(a, "none"):
			return nil, errors.New(`"none" is never allowed: unsigned tokens prove nothing`)
		case !slices.Contains(knownAlgorithms, a):
			return nil, fmt.Errorf("unknown algorithm %q (known: %s)", a, strings.Join(knownAlgorithms, ", "))
		case !slices.Contains(fam, a):
			return nil, fmt.Errorf("%s cannot be verified with %s (it verifies %s)", a, familyName(key), strings.Join(fam, ", "))
		case isHMAC:
			if err := secret.CheckHMACKey(a, hmacKey); err != nil {
				return nil, err
			}
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}
