package jwtauth_test

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/policy/jwtauth"
	"github.com/gatehouse/gatehouse/internal/policyenv"
)

// TestLoadErrors: a bad action fails at load with its file, line and path.
func TestLoadErrors(t *testing.T) {
	dir := keyDir(t)
	f := setupStore(t)
	env := &policyenv.Env{Logger: discard(), Now: func() time.Time { return t0 }, ConfigDir: dir, Identity: f.s}
	const s = "secretOrPublicKey: " + secret + "\n"
	tests := []struct {
		name   string
		action string
		env    *policyenv.Env
		want   string
	}{
		{"no key", "checkCredentialExistence: false\n", env,
			"gateway.config.yml:1: action: one of secretOrPublicKey, secretOrPublicKeyFile, jwksUri or discover (with issuer) is required"},
		{"absent action", "", env,
			"gateway.config.yml: action: one of secretOrPublicKey, secretOrPublicKeyFile, jwksUri or discover (with issuer) is required"},
		{"two keys", s + "secretOrPublicKeyFile: rsa.pem\n", env,
			"gateway.config.yml:2: action.secretOrPublicKeyFile: only one of secretOrPublicKey, secretOrPublicKeyFile and jwksUri may be given (found secretOrPublicKey and secretOrPublicKeyFile)"},
		{"key and jwksUri", "jwksUri: https://idp.test/jwks\n" + s, env,
			"gateway.config.yml:2: action.secretOrPublicKey: only one of secretOrPublicKey, secretOrPublicKeyFile and jwksUri may be given (found jwksUri and secretOrPublicKey)"},
		{"unknown option", s + "secret: x\n", env,
			"gateway.config.yml:2: action.secret: unknown key (expected one of: passThrough, secretOrPublicKey, secretOrPublicKeyFile, jwtExtractor, jwtExtractorField, audience, issuer, checkCredentialExistence, algorithms, jwksUri, discover, openidConfigurationUrl, jwksRefreshInterval, jwksCooldown, clockTolerance, maxAge, requiredClaims, requireExp, checkScopes, scopeClaim, claimsToHeaders, maxTokenBytes, cacheSize, cacheBytes, stripCredentials, types, acceptIdTokens)"},
		{"unknown extractor", s + "jwtExtractor: cookie\n", env,
			`gateway.config.yml:2: action.jwtExtractor: must be one of authBearer, authScheme, header, query; got "cookie"`},
		{"header extractor without field", s + "jwtExtractor: header\n", env,
			"gateway.config.yml:1: action.jwtExtractorField: is required with jwtExtractor header: name the header"},
		{"query extractor without field", s + "jwtExtractor: query\n", env,
			"gateway.config.yml:1: action.jwtExtractorField: is required with jwtExtractor query: name the query parameter"},
		{"authScheme extractor without field", s + "jwtExtractor: authScheme\n", env,
			"gateway.config.yml:1: action.jwtExtractorField: is required with jwtExtractor authScheme: name the Authorization scheme"},
		{"bad header name", s + "jwtExtractor: header\njwtExtractorField: 'x token'\n", env,
			`gateway.config.yml:3: action.jwtExtractorField: "x token" is not a valid header name`},
		{"algorithm none", s + "algorithms: [HS256, none]\n", env,
			`gateway.config.yml:2: action.algorithms: "none" is never allowed: unsigned tokens prove nothing`},
		{"RS256 with a secret", s + "algorithms: [RS256]\n", env,
			"gateway.config.yml:2: action.algorithms: RS256 cannot be verified with an HMAC secret (it verifies HS256, HS384, HS512)"},
		{"HS256 with an RSA key", "secretOrPublicKeyFile: rsa.pem\nalgorithms: HS256\n", env,
			"gateway.config.yml:2: action.algorithms: HS256 cannot be verified with an RSA key (it verifies RS256, RS384, RS512, PS256, PS384, PS512)"},
		{"ES384 with a P-256 key", "secretOrPublicKeyFile: ec256.pem\nalgorithms: ES384\n", env,
			"gateway.config.yml:2: action.algorithms: ES384 cannot be verified with an EC P-256 key (it verifies ES256)"},
		{"HS256 with a JWKS", "jwksUri: https://idp.test/jwks\nalgorithms: [HS256]\n", env,
			"gateway.config.yml:2: action.algorithms: HS256 cannot be verified with a JWKS (it verifies RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)"},
		{"unknown algorithm", s + "algorithms: [HS1]\n", env,
			`gateway.config.yml:2: action.algorithms: unknown algorithm "HS1" (known: HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)`},
		{"missing key file", "secretOrPublicKeyFile: nope.pem\n", env,
			"gateway.config.yml:1: action.secretOrPublicKeyFile: cannot read the key file: open " + dir + "/nope.pem: no such file or directory"},
		{"key file that is not PEM", "secretOrPublicKeyFile: secret.txt\n", env,
			"gateway.config.yml:1: action.secretOrPublicKeyFile: " + dir + "/secret.txt is not a PEM public key or certificate"},
		{"broken PEM", "secretOrPublicKeyFile: broken.pem\n", env,
			"gateway.config.yml:1: action.secretOrPublicKeyFile: " + dir + "/broken.pem is not valid PEM"},
		{"broken inline PEM is not taken for a secret", "secretOrPublicKey: '-----BEGIN PUBLIC KEY-----'\n", env,
			"gateway.config.yml:1: action.secretOrPublicKey: is not valid PEM"},
		{"private key", "secretOrPublicKeyFile: rsa-private.pem\n", env,
			"gateway.config.yml:1: action.secretOrPublicKeyFile: " + dir + "/rsa-private.pem holds a RSA PRIVATE KEY: the gateway only verifies, so give it the public key (e.g. openssl pkey -in private.pem -pubout)"},
		{"weak RSA key", "secretOrPublicKeyFile: rsa-weak.pem\n", env,
			"gateway.config.yml:1: action.secretOrPublicKeyFile: " + dir + "/rsa-weak.pem holds a 1024-bit RSA key; at least 2048 bits are required"},
		{"unsupported curve", "secretOrPublicKeyFile: ec224.pem\n", env,
			"gateway.config.yml:1: action.secretOrPublicKeyFile: " + dir + "/ec224.pem holds an EC key on curve P-224; only P-256, P-384 and P-521 have JWS algorithms"},
		{"jwksUri not a URL", "jwksUri: 'ftp://idp.test/jwks'\n", env,
			`gateway.config.yml:1: action.jwksUri: "ftp://idp.test/jwks" is not an http(s) URL`},
		{"jwks options without jwksUri", s + "jwksCooldown: 1s\n", env,
			"gateway.config.yml:1: action: jwksRefreshInterval and jwksCooldown apply only with jwksUri or discover"},
		{"discover and jwksUri", "issuer: https://idp.test/\ndiscover: true\njwksUri: https://idp.test/jwks\n", env,
			"gateway.config.yml:3: action.jwksUri: cannot be combined with discovery (discover or openidConfigurationUrl), which takes the keys from the issuer's jwks_uri: give one or the other"},
		{"discover and a secret", "issuer: https://idp.test/\ndiscover: true\n" + s, env,
			"gateway.config.yml:3: action.secretOrPublicKey: cannot be combined with discovery (discover or openidConfigurationUrl), which takes the keys from the issuer's jwks_uri: give one or the other"},
		{"openidConfigurationUrl and a key file", "issuer: https://idp.test/\nopenidConfigurationUrl: https://idp.test/oidc\nsecretOrPublicKeyFile: rsa.pem\n", env,
			"gateway.config.yml:3: action.secretOrPublicKeyFile: cannot be combined with discovery (discover or openidConfigurationUrl), which takes the keys from the issuer's jwks_uri: give one or the other"},
		{"discover without issuer", "discover: true\ncheckCredentialExistence: false\n", env,
			"gateway.config.yml:1: action.issuer: discovery needs exactly one issuer, the tokens' iss exactly (e.g. https://YOUR_TENANT.auth0.com/); got 0"},
		{"discover with two issuers", "discover: true\nissuer: [https://a.test/, https://b.test/]\n", env,
			"gateway.config.yml:2: action.issuer: discovery needs exactly one issuer, the tokens' iss exactly (e.g. https://YOUR_TENANT.auth0.com/); got 2"},
		{"discover with a plain-http issuer", "discover: true\nissuer: http://idp.test/\n", env,
			`gateway.config.yml:2: action.issuer: "http://idp.test/" is plain http: an OpenID Provider's issuer is an https URL (OpenID Connect Discovery 1.0 §3); http is accepted for localhost only`},
		{"discover with an issuer that is no URL", "discover: true\nissuer: my-idp\n", env,
			`gateway.config.yml:2: action.issuer: "my-idp" is not an https URL`},
		{"discover with an issuer with a query", "discover: true\nissuer: 'https://idp.test/?tenant=1'\n", env,
			`gateway.config.yml:2: action.issuer: "https://idp.test/?tenant=1" has a query or fragment, which an issuer never has (OpenID Connect Discovery 1.0 §3)`},
		{"openidConfigurationUrl with discover false", "discover: false\nissuer: https://idp.test/\nopenidConfigurationUrl: https://idp.test/oidc\n", env,
			"gateway.config.yml:3: action.openidConfigurationUrl: implies discover, which is false: remove one"},
		{"openidConfigurationUrl not a URL", "issuer: https://idp.test/\nopenidConfigurationUrl: 'ftp://idp.test/oidc'\n", env,
			`gateway.config.yml:2: action.openidConfigurationUrl: "ftp://idp.test/oidc" is not an http(s) URL`},
		{"claimsToHeaders to eg-consumer-id", s + "claimsToHeaders: {sub: eg-consumer-id}\n", env,
			"gateway.config.yml:2: action.claimsToHeaders: sub: eg-consumer-id: eg-* headers are the gateway's identity headers; choose another name (e.g. x-eg-consumer-id)"},
		{"claimsToHeaders to Authorization", s + "claimsToHeaders: {sub: Authorization}\n", env,
			"gateway.config.yml:2: action.claimsToHeaders: sub: Authorization cannot be set from a claim"},
		{"claimsToHeaders to the token's own header", s + "jwtExtractor: header\njwtExtractorField: x-token\nclaimsToHeaders: {sub: X-Token}\n", env,
			"gateway.config.yml:4: action.claimsToHeaders: sub: X-Token cannot be set from a claim"},
		{"claimsToHeaders bad name", s + "claimsToHeaders: {sub: 'x y'}\n", env,
			`gateway.config.yml:2: action.claimsToHeaders: sub: "x y" is not a valid header name`},
		{"claimsToHeaders twice the same header", s + "claimsToHeaders: {sub: x-who, id: X-Who}\n", env,
			"gateway.config.yml:2: action.claimsToHeaders: id: header X-Who is already set from claim sub"},
		{"negative maxTokenBytes", s + "maxTokenBytes: -1\n", env,
			"gateway.config.yml:2: action.maxTokenBytes: must not be negative"},
		{"zero cacheSize", s + "cacheSize: 0\n", env,
			"gateway.config.yml:2: action.cacheSize: must be a positive number of tokens (default 10000)"},
		{"cacheBytes too small", s + "cacheBytes: 1000\n", env,
			"gateway.config.yml:2: action.cacheBytes: must be at least 16384 bytes, room for a few tokens (default 8388608, 8 MiB)"},
		{"cacheBytes not a number", s + "cacheBytes: 8MiB\n", env,
			"gateway.config.yml:2: action.cacheBytes: expected a whole number, got \"8MiB\""},
		{"bad duration", s + "clockTolerance: soon\n", env,
			`gateway.config.yml:2: action.clockTolerance: expected milliseconds or a duration such as "5s", got "soon"`},
		{"types empty", s + "types: []\n", env,
			"gateway.config.yml:2: action.types: lists no type: leave it out to accept any typ, or list the accepted ones (e.g. [at+jwt], or [JWT] for tokens with typ JWT or none)"},
		{"types not a media type", s + "types: [at+jwt, 'a b']\n", env,
			`gateway.config.yml:2: action.types: entry 1, "a b", is not a media type (e.g. at+jwt, JWT, application/jose)`},
		{"types with application/ alone", s + "types: application/\n", env,
			`gateway.config.yml:2: action.types: entry 0, "application/", is not a media type (e.g. at+jwt, JWT, application/jose)`},
		{"types twice the same", s + "types: [at+jwt, Application/AT+JWT]\n", env,
			`gateway.config.yml:2: action.types: entry 1, "Application/AT+JWT", is the same type as "at+jwt" (compared case-insensitively, application/ optional)`},
		{"controlled mode without a store", s, &policyenv.Env{Logger: discard()},
			"gateway.config.yml:1: action.checkCredentialExistence: needs the identity store, which is not available here; set checkCredentialExistence: false to trust the token's claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := jwtauth.New(node(t, tt.action), tt.env)
			if err == nil {
				closeLater(t, p)
				t.Fatalf("loaded; want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}
