package admin

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/internal/secret"
	"github.com/gatehouse/gatehouse/internal/store"
)

// GET /tokens?consumerId=x (new): a consumer's live tokens, revoked ones
// included, never their secrets.
func (a *server) listTokens(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("consumerId")
	if id == "" {
		return badRequest("consumerId", "the consumerId query parameter is required: GET /tokens?consumerId=<id>")
	}
	consumer, err := findConsumer(r.Context(), a.consumers, id)
	if err != nil {
		return err
	}
	tokens, err := a.tokens.ListTokens(r.Context(), consumer.ID())
	if err != nil {
		return err
	}
	slices.SortFunc(tokens, func(x, y *store.Token) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), cmp.Compare(x.ID, y.ID))
	})
	out := make([]object, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, tokenJSON(t))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// DELETE /tokens/{token}: the token id, or the whole "id|secret" value
// (URL-encoded). Access and refresh tokens alike. When the secret half is
// given it must match: a wrong one is "not found", as an unknown token.
func (a *server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	raw := r.PathValue("token")
	id, plain, withSecret := strings.Cut(raw, "|")
	if withSecret {
		t, err := a.tokens.GetToken(r.Context(), id)
		if err != nil {
			return err
		}
		if secret.Verify(t.SecretHash, plain) != nil {
			return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "Token not found: " + id}
		}
	}
	t, err := a.tokens.RevokeToken(r.Context(), id)
	if err != nil {
		return err
	}
	if !t.Revoked && a.metrics != nil {
		a.metrics.TokensRevoked.Inc()
	}
	return writeJSON(w, http.StatusOK, object{{"id", t.ID}, {"revoked", true}})
}
