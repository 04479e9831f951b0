package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxScopeDescription bounds a scope's description, in characters: one
// line on the consent page.
const MaxScopeDescription = 300

// A scope's record (scopeKey) is "true" for a scope without a description,
// as every scope was before descriptions existed (and as Express Gateway's
// scope hash holds), or the JSON of Scope.
var noDescription = []byte("true")

func encodeScope(sc Scope) ([]byte, error) {
	if sc.Description == "" {
		return noDescription, nil
	}
	return json.Marshal(sc)
}

func decodeScope(name string, b []byte) (Scope, error) {
	sc := Scope{Name: name}
	if string(b) == string(noDescription) {
		return sc, nil
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return Scope{}, fmt.Errorf("store: corrupt record %s: %w", scopeKey(name), err)
	}
	sc.Name = name
	return sc, nil
}

// normalizeDescription trims a description and refuses what the consent
// page could not show on one line: control characters (a newline, an
// escape sequence) and more than MaxScopeDescription characters.
func normalizeDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if !utf8.ValidString(d) {
		return "", invalid("description", "a scope description must be UTF-8 text")
	}
	if n := utf8.RuneCountInString(d); n > MaxScopeDescription {
		return "", invalid("description", "a scope description must have at most %d characters, got %d", MaxScopeDescription, n)
	}
	if strings.IndexFunc(d, unicode.IsControl) >= 0 {
		return "", invalid("description", "a scope description must be one line of text, without control characters")
	}
	return d, nil
}

// RegisterScopes adds scopes, each with an optional description, to the
// registry, all or none: if any of them exists already, none is created
// and the error names every one that exists.
func (s *Store) RegisterScopes(ctx context.Context, scopes ...Scope) error {
	if len(scopes) == 0 {
		return invalid("scopes", "scopes must be a non-empty list of names")
	}
	list := make([]Scope, 0, len(scopes))
	for _, sc := range scopes {
		if err := checkScopeName(sc.Name); err != nil {
			return err
		}
		d, err := normalizeDescription(sc.Description)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(list, func(o Scope) bool { return o.Name == sc.Name }); i >= 0 {
			if list[i].Description != d {
				return invalid("scopes", "scope %q is listed twice with different descriptions", sc.Name)
			}
			continue
		}
		list = append(list, Scope{Name: sc.Name, Description: d})
	}
	return s.update(ctx, func(tx *txn) error {
		var taken []string
		for _, sc := range list {
			if _, ok, err := tx.Get(scopeKey(sc.Name)); err != nil {
				return err
			} else if ok {
				taken = append(taken, sc.Name)
			}
		}
		if len(taken) > 0 {
			// Express Gateway's message, naming the scopes, so that the
			// caller need not try them one by one.
			slices.Sort(taken)
			return exists("scopes", "One or more scopes already exist: %s (none of the scopes was created)", strings.Join(taken, ", "))
		}
		names := make([]string, 0, len(list))
		for _, sc := range list {
			b, err := encodeScope(sc)
			if err != nil {
				return err
			}
			if err := tx.Set(scopeKey(sc.Name), b, 0); err != nil {
				return err
			}
			names = append(names, sc.Name)
		}
		return tx.SAdd(scopesSet, names...)
	})
}

// GetScope reads a registered scope with its description.
func (s *Store) GetScope(ctx context.Context, name string) (*Scope, error) {
	b, ok, err := s.b.Get(ctx, scopeKey(name))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound("scope not found: %s", name)
	}
	sc, err := decodeScope(name, b)
	if err != nil {
		return nil, err
	}
	return &sc, nil
}

// ListScopeDetails lists the registered scopes with their descriptions,
// sorted by name.
func (s *Store) ListScopeDetails(ctx context.Context) ([]Scope, error) {
	names, err := s.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return s.ScopeDetails(ctx, names)
}

// ScopeDetails returns the scopes named, in their order, with their
// descriptions. A name that is not registered (a scope deleted since a
// grant asked for it) comes back without one.
func (s *Store) ScopeDetails(ctx context.Context, names []string) ([]Scope, error) {
	out := make([]Scope, 0, len(names))
	for _, name := range names {
		b, ok, err := s.b.Get(ctx, scopeKey(name))
		if err != nil {
			return nil, err
		}
		sc := Scope{Name: name}
		if ok {
			if sc, err = decodeScope(name, b); err != nil {
				return nil, err
			}
		}
		out = append(out, sc)
	}
	return out, nil
}

// SetScopeDescription replaces a registered scope's description (empty
// removes it).
func (s *Store) SetScopeDescription(ctx context.Context, name, description string) (*Scope, error) {
	d, err := normalizeDescription(description)
	if err != nil {
		return nil, err
	}
	out := Scope{Name: name, Description: d}
	err = s.update(ctx, func(tx *txn) error {
		if _, ok, err := tx.Get(scopeKey(name)); err != nil {
			return err
		} else if !ok {
			return notFound("scope not found: %s", name)
		}
		b, err := encodeScope(out)
		if err != nil {
			return err
		}
		return tx.Set(scopeKey(name), b, 0)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}
