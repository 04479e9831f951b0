package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/configedit"
	"github.com/gatehouse/gatehouse/internal/gateway"
)

// configEditor is the Admin API's config-editing routes over
// gateway.config.yml (admin.ConfigEditor; Express Gateway §6.5).
//
// Reads answer from the serving config (the text the running Runtime was
// loaded from, ${VAR} unsubstituted). A change is made on the file as it
// is on disk: read it and its hash, edit the one entry (configedit), load
// the whole candidate exactly as a reload would (gateway.Load with the
// app's environment and policies), write it with a compare-and-swap on
// the hash, and reload. A file that changed in the meantime (an editor,
// another node, another edit) is read again and the edit made again on
// it, so no writer loses another's change. The change is live when the
// request returns; Express Gateway writes the file and waits for its
// watcher.
type configEditor struct {
	a  *App
	mu sync.Mutex // one Admin API edit at a time in this process

	schemasOnce sync.Once
	schemas     []admin.Schema
}

// editAttempts bounds how often an edit is made again on a file that
// keeps changing under it.
const editAttempts = 5

func (c *configEditor) serving() []byte { return c.a.gw.Current().Source }

func (c *configEditor) Section(section string) (json.RawMessage, error) {
	return configedit.Section(c.serving(), section)
}

func (c *configEditor) Entry(section, name string) (json.RawMessage, bool, error) {
	return configedit.Entry(c.serving(), section, name)
}

func (c *configEditor) Policies() ([]string, error) { return configedit.EnabledPolicies(c.serving()) }

func (c *configEditor) Set(ctx context.Context, section, name string, entity []byte) (bool, error) {
	res, err := c.edit(ctx, section+"."+name, func(src []byte, isJSON bool) ([]byte, configedit.Result, error) {
		return configedit.Set(src, isJSON, section, name, entity)
	})
	return res.Created, err
}

func (c *configEditor) Delete(ctx context.Context, section, name string) error {
	_, err := c.edit(ctx, section+"."+name, func(src []byte, isJSON bool) ([]byte, configedit.Result, error) {
		out, res, err := configedit.Delete(src, isJSON, section, name)
		if errors.Is(err, configedit.ErrNotFound) {
			err = &admin.Error{Status: http.StatusNotFound, Code: "not_found",
				Message: fmt.Sprintf("%s not found: %s (not in %s)", strings.TrimSuffix(section, "s"), name, filepath.Base(c.a.watch.path))}
		}
		return out, res, err
	})
	return err
}

func (c *configEditor) EnablePolicy(ctx context.Context, name string) error {
	known := gateway.Policies(nil) // names only
	if _, ok := known[name]; !ok {
		return &admin.Error{Status: http.StatusUnprocessableEntity, Code: "invalid_config",
			Message: fmt.Sprintf("policy %q is not available in Gatehouse (available: %s)", name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))}
	}
	_, err := c.edit(ctx, "policies", func(src []byte, isJSON bool) ([]byte, configedit.Result, error) {
		return configedit.EnablePolicy(src, isJSON, name)
	})
	return err
}

func (c *configEditor) DisablePolicy(ctx context.Context, name string) error {
	_, err := c.edit(ctx, "policies", func(src []byte, isJSON bool) ([]byte, configedit.Result, error) {
		out, res, err := configedit.DisablePolicy(src, isJSON, name)
		if errors.Is(err, configedit.ErrNotFound) {
			err = &admin.Error{Status: http.StatusNotFound, Code: "not_found",
				Message: fmt.Sprintf("policy not enabled: %s (not in the policies list of %s)", name, filepath.Base(c.a.watch.path))}
		}
		return out, res, err
	})
	return err
}

func (c *configEditor) Schemas() []admin.Schema {
	c.schemasOnce.Do(func() {
		var err error
		if c.schemas, err = configSchemas(); err != nil {
			c.a.log.Error("the config schemas cannot be built", "error", err)
		}
	})
	return c.schemas
}

// edit makes one change to the file and makes it live (see configEditor).
func (c *configEditor) edit(ctx context.Context, what string, op func(src []byte, isJSON bool) ([]byte, configedit.Result, error)) (configedit.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.a
	path := a.watch.path
	name := filepath.Base(path)
	isJSON := strings.EqualFold(filepath.Ext(path), ".json")
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return configedit.Result{}, err
		}
		src, err := config.ReadFile(path)
		if err != nil {
			return configedit.Result{}, fmt.Errorf("reading %s: %w", path, err)
		}
		base := configedit.Hash(src)
		out, res, err := op(src, isJSON)
		if err != nil {
			return res, c.editError(name, err)
		}
		onDiskServes := base == configedit.Hash(c.serving())
		if !res.Changed {
			if !onDiskServes { // the file holds it but does not serve yet
				return res, c.reload(name)
			}
			return res, nil
		}
		if err := a.validateGateway(name, out); err != nil {
			if !onDiskServes {
				// The file on disk is not the serving one: maybe being
				// written (read it again once it settles), maybe broken on
				// its own, which this change is not to blame for.
				time.Sleep(settlePause)
				if again, rerr := config.ReadFile(path); rerr == nil && configedit.Hash(again) != base && attempt < editAttempts {
					continue
				}
				if berr := a.validateGateway(name, src); berr != nil {
					return res, &admin.Error{Status: http.StatusConflict, Code: "conflict",
						Message: fmt.Sprintf("%s on disk differs from the serving config and does not load; fix or reload it first:\n%v", name, berr)}
				}
			}
			return res, &admin.Error{Status: http.StatusUnprocessableEntity, Code: "invalid_config", Message: err.Error()}
		}
		switch err := configedit.WriteFile(path, base, out); {
		case errors.Is(err, configedit.ErrChanged):
			if attempt < editAttempts {
				continue // made again on what is there now
			}
			return res, &admin.Error{Status: http.StatusConflict, Code: "conflict",
				Message: fmt.Sprintf("%s kept changing while %s was edited (%d attempts): try again", name, what, attempt)}
		case err != nil:
			return res, fmt.Errorf("writing %s: %w", path, err)
		}
		a.log.LogAttrs(ctx, slog.LevelInfo, "config changed through the Admin API", slog.String("file", path), slog.String("entry", what))
		if res.Reformatted != "" {
			a.log.LogAttrs(ctx, slog.LevelWarn, "the Admin API change could not keep the file's layout", slog.String("file", path), slog.String("layout", res.Reformatted))
		}
		return res, c.reload(name)
	}
}

// reload makes the file live through the same path as SIGHUP.
func (c *configEditor) reload(name string) error {
	if err := c.a.reload(true); err != nil {
		return &admin.Error{Status: http.StatusConflict, Code: "conflict",
			Message: fmt.Sprintf("%s was written, but it changed again before it went live and that version does not load; the previous config keeps serving:\n%v", name, err)}
	}
	return nil
}

// editError maps what configedit refuses to the Admin API's answers.
func (c *configEditor) editError(name string, err error) error {
	var (
		ae *admin.Error
		be *configedit.BadEntityError
		ue *configedit.UnsafeError
		fe *configedit.FileError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &be):
		return &admin.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: be.Msg}
	case errors.As(err, &ue):
		return &admin.Error{Status: http.StatusUnprocessableEntity, Code: "unsafe_edit", Message: ue.Msg}
	case errors.As(err, &fe):
		return &admin.Error{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf("%s on disk cannot be edited: %s", name, fe.Msg)}
	}
	return err
}

// validateGateway loads data the way a reload does and throws the
// result away.
func (a *App) validateGateway(name string, data []byte) error {
	rt, err := gateway.Load(name, data, a.opts.Lookup, &a.env, gateway.Policies(a.oauth))
	if err != nil {
		return err
	}
	rt.Close()
	return nil
}

// configSchemas are the JSON Schemas GET /schemas lists: the config file,
// every built-in policy (from its Options), every condition.
func configSchemas() ([]admin.Schema, error) {
	var out []admin.Schema
	add := func(s configedit.Schema, err error) error {
		if err != nil {
			return err
		}
		out = append(out, admin.Schema{Type: s.Type, Schema: s.Schema})
		return nil
	}
	if err := add(configedit.ConfigSchema()); err != nil {
		return nil, err
	}
	policies := gateway.Policies(nil) // options only
	for _, name := range slices.Sorted(maps.Keys(policies)) {
		if err := add(configedit.PolicySchema(name, policies[name].Options)); err != nil {
			return nil, err
		}
	}
	for _, name := range configedit.ConditionNames() {
		if err := add(configedit.ConditionSchema(name)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
