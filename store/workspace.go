package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/tandem-id/tandem"
)

var _ tandem.WorkspaceStore = (*DB)(nil)

// storedWorkspace is a workspace as loaded for an apply: the public form plus
// the row ids of its parts.
type storedWorkspace struct {
	id          string
	settings    string // the stored text of ws.Doc.Settings, normalized by encodeSettings
	ws          tandem.Workspace
	appIDs      map[string]string // application name → id
	workflowIDs map[string]string // workflow name → id
}

// ListWorkspaces returns all workspaces ordered by name, each with its
// applications and workflows ordered by name, as of one snapshot.
func (db *DB) ListWorkspaces(ctx context.Context) ([]tandem.Workspace, error) {
	var out []tandem.Workspace
	err := db.read(ctx, func(tx *sql.Tx) error {
		all, err := loadWorkspaces(ctx, tx, "")
		if err != nil {
			return err
		}
		out = make([]tandem.Workspace, len(all))
		for i, s := range all {
			out[i] = s.ws
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return out, nil
}

// GetWorkspace returns the named workspace with its applications and
// workflows ordered by name, or an ENOTFOUND error.
func (db *DB) GetWorkspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	var s *storedWorkspace
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		s, err = loadWorkspace(ctx, tx, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get workspace %s: %w", name, err)
	}
	if s == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "workspace %q not found", name)
	}
	return &s.ws, nil
}

// WorkspaceVersion returns the row id and the version of the named
// workspace without loading it, or an ENOTFOUND error. The version changes
// with every change of the workspace; a workspace deleted and created again
// has another id. Callers that cache a workspace (the engine) check these
// two to know whether their copy is current.
func (db *DB) WorkspaceVersion(ctx context.Context, name string) (id string, version int64, err error) {
	err = db.reader.QueryRowContext(ctx, `SELECT id, version FROM workspaces WHERE name = $1`, name).Scan(&id, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, tandem.Errorf(tandem.ENOTFOUND, "workspace %q not found", name)
	}
	if err != nil {
		return "", 0, fmt.Errorf("version of workspace %s: %w", name, err)
	}
	return id, version, nil
}

// ApplyWorkspace makes the stored workspace equal to doc in one write
// transaction, as tandem.WorkspaceStore documents. The changes are those of
// tandem.Diff between the stored document and doc. When nothing changes it
// writes nothing and returns no changes and the current version; otherwise
// the version goes up by one (a new workspace starts at 1). Applications that
// change keep their id, and so their credentials; removed ones lose their
// credentials. A version mismatch, or another writer changing the workspace
// at the same time, returns ECONFLICT and changes nothing.
//
// The workspace's Settings are stored with the workspace row; a change of
// settings alone is a change of the workspace, "changed workspace NAME"
// (reported first, as Diff orders changes; ApplyWorkspace reports it itself
// should Diff not). Nil settings and zero settings are the same: both are
// stored as {} and come back nil, and doc's zero settings are taken as nil
// before the comparison, so that applying them twice changes nothing.
func (db *DB) ApplyWorkspace(ctx context.Context, doc tandem.WorkspaceDoc, ifVersion int64) (*tandem.ApplyResult, error) {
	if doc.Name == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "workspace name is required")
	}
	var res *tandem.ApplyResult
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		res, err = applyWorkspace(ctx, tx, doc, ifVersion, millis(db.Now()))
		return err
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("apply workspace %s: %w", doc.Name, err)
	}
	return res, nil
}

func applyWorkspace(ctx context.Context, tx *sql.Tx, doc tandem.WorkspaceDoc, ifVersion, now int64) (*tandem.ApplyResult, error) {
	cur, err := loadWorkspace(ctx, tx, doc.Name)
	if err != nil {
		return nil, err
	}
	var curDoc *tandem.WorkspaceDoc
	var version int64
	if cur != nil {
		curDoc, version = &cur.ws.Doc, cur.ws.Version
	}
	if ifVersion != tandem.AnyVersion && ifVersion != version {
		return nil, tandem.Errorf(tandem.ECONFLICT, "workspace %q is at version %d, not %d", doc.Name, version, ifVersion)
	}
	settings, err := encodeSettings(doc.Settings)
	if err != nil {
		return nil, err
	}
	if settings == "{}" {
		doc.Settings = nil // zero settings are no settings, as stored
	}
	changes := tandem.Diff(curDoc, doc)
	if cur != nil && cur.settings != settings && !slices.ContainsFunc(changes, isWorkspaceChange) {
		changes = slices.Insert(changes, 0, tandem.Change{Action: "changed", Kind: "workspace", Name: doc.Name})
	}
	if len(changes) == 0 {
		return &tandem.ApplyResult{Changes: []tandem.Change{}, Version: version}, nil
	}

	// The workspace row is claimed first, conditionally, so that a
	// concurrent writer that got in between the load and here (possible on
	// engines without a single writer) turns into a clean conflict.
	concurrent := tandem.Errorf(tandem.ECONFLICT, "workspace %q was changed concurrently; retry", doc.Name)
	var wsID string
	if cur == nil {
		wsID = newID()
		r, err := tx.ExecContext(ctx, `INSERT INTO workspaces (id, name, settings, version, created_at, updated_at)
			VALUES ($1, $2, $3, 1, $4, $4) ON CONFLICT (name) DO NOTHING`, wsID, doc.Name, settings, now)
		if err := oneRow(r, err); err == errNoRow {
			return nil, concurrent
		} else if err != nil {
			return nil, fmt.Errorf("insert workspace: %w", err)
		}
	} else {
		wsID = cur.id
		r, err := tx.ExecContext(ctx, `UPDATE workspaces SET settings = $1, version = version + 1, updated_at = $2
			WHERE id = $3 AND version = $4`, settings, now, wsID, version)
		if err := oneRow(r, err); err == errNoRow {
			return nil, concurrent
		} else if err != nil {
			return nil, fmt.Errorf("update workspace: %w", err)
		}
	}

	for _, c := range changes {
		var err error
		switch c.Kind {
		case "workspace":
			continue
		case "application":
			var ids map[string]string
			if cur != nil {
				ids = cur.appIDs
			}
			app, _ := doc.Application(c.Name)
			err = applyChange(ctx, tx, "applications", c, wsID, ids[c.Name], app, now)
		case "workflow":
			var ids map[string]string
			if cur != nil {
				ids = cur.workflowIDs
			}
			wf, _ := doc.Workflow(c.Name)
			err = applyChange(ctx, tx, "workflows", c, wsID, ids[c.Name], wf, now)
		default:
			err = fmt.Errorf("unknown change kind %q", c.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c, err)
		}
	}
	return &tandem.ApplyResult{Changes: changes, Version: version + 1}, nil
}

// isWorkspaceChange reports whether c is about the workspace itself.
func isWorkspaceChange(c tandem.Change) bool { return c.Kind == "workspace" }

// encodeSettings returns the stored form of a workspace's settings: their
// JSON object, {} for nil or zero settings.
func encodeSettings(s *tandem.WorkspaceSettings) (string, error) {
	if s == nil {
		return "{}", nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode workspace settings: %w", err)
	}
	return string(b), nil
}

// decodeSettings returns the settings stored as text: nil for {} (or
// settings that are all zero).
func decodeSettings(text string) (*tandem.WorkspaceSettings, error) {
	var s tandem.WorkspaceSettings
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return nil, err
	}
	if s == (tandem.WorkspaceSettings{}) {
		return nil, nil
	}
	return &s, nil
}

// applyChange writes one change to table (applications or workflows): id is
// the row of the current item (for "changed" and "removed"), item the desired
// one (for "created" and "changed").
func applyChange(ctx context.Context, tx *sql.Tx, table string, c tandem.Change, wsID, id string, item any, now int64) error {
	switch c.Action {
	case "created":
		b, err := json.Marshal(item)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO `+table+` (id, workspace_id, name, doc, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, newID(), wsID, c.Name, string(b), now)
		return err
	case "changed":
		b, err := json.Marshal(item)
		if err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `UPDATE `+table+` SET doc = $1, updated_at = $2 WHERE id = $3`, string(b), now, id)
		return oneRow(r, err)
	case "removed":
		r, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
		return oneRow(r, err)
	}
	return fmt.Errorf("unknown change action %q", c.Action)
}

// DeleteWorkspace removes the named workspace with its applications,
// workflows and secrets, or returns an ENOTFOUND error.
func (db *DB) DeleteWorkspace(ctx context.Context, name string) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM workspaces WHERE name = $1`, name)
		return oneRow(r, err)
	})
	if err == errNoRow {
		return tandem.Errorf(tandem.ENOTFOUND, "workspace %q not found", name)
	} else if err != nil {
		return fmt.Errorf("delete workspace %s: %w", name, err)
	}
	return nil
}

// loadWorkspace returns the named workspace, or nil when there is none.
func loadWorkspace(ctx context.Context, tx *sql.Tx, name string) (*storedWorkspace, error) {
	all, err := loadWorkspaces(ctx, tx, name)
	if err != nil || len(all) == 0 {
		return nil, err
	}
	return all[0], nil
}

// loadWorkspaces returns the named workspace, or all when name is empty,
// ordered by name, with applications and workflows ordered by name. Sorting
// happens here rather than in SQL so that the order is byte order on every
// engine, whatever its collation.
func loadWorkspaces(ctx context.Context, tx *sql.Tx, name string) ([]*storedWorkspace, error) {
	where, args := "", []any(nil)
	if name != "" {
		where, args = ` WHERE w.name = $1`, []any{name}
	}

	rows, err := tx.QueryContext(ctx, `SELECT w.id, w.name, w.settings, w.version, w.created_at, w.updated_at
		FROM workspaces w`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("load workspaces: %w", err)
	}
	defer rows.Close()
	var out []*storedWorkspace
	byID := make(map[string]*storedWorkspace)
	for rows.Next() {
		s := &storedWorkspace{appIDs: map[string]string{}, workflowIDs: map[string]string{}}
		var created, updated int64
		var settings string
		if err := rows.Scan(&s.id, &s.ws.Doc.Name, &settings, &s.ws.Version, &created, &updated); err != nil {
			return nil, fmt.Errorf("load workspaces: %w", err)
		}
		if s.ws.Doc.Settings, err = decodeSettings(settings); err != nil {
			return nil, fmt.Errorf("decode settings of workspace %s: %w", s.ws.Doc.Name, err)
		}
		// Compared in the stored form the apply writes, so that settings
		// stored otherwise (the migration's {}) are not a change.
		if s.settings, err = encodeSettings(s.ws.Doc.Settings); err != nil {
			return nil, err
		}
		s.ws.CreatedAt, s.ws.UpdatedAt = fromMillis(created), fromMillis(updated)
		s.ws.Doc.Applications, s.ws.Doc.Workflows = []tandem.Application{}, []tandem.Workflow{}
		out = append(out, s)
		byID[s.id] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load workspaces: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}

	err = loadParts(ctx, tx, "applications", where, args, func(wsID, id, doc string) error {
		var app tandem.Application
		if err := json.Unmarshal([]byte(doc), &app); err != nil {
			return fmt.Errorf("decode application %s: %w", id, err)
		}
		if s := byID[wsID]; s != nil {
			s.ws.Doc.Applications = append(s.ws.Doc.Applications, app)
			s.appIDs[app.Name] = id
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = loadParts(ctx, tx, "workflows", where, args, func(wsID, id, doc string) error {
		var wf tandem.Workflow
		if err := json.Unmarshal([]byte(doc), &wf); err != nil {
			return fmt.Errorf("decode workflow %s: %w", id, err)
		}
		if s := byID[wsID]; s != nil {
			s.ws.Doc.Workflows = append(s.ws.Doc.Workflows, wf)
			s.workflowIDs[wf.Name] = id
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	slices.SortFunc(out, func(a, b *storedWorkspace) int { return cmp.Compare(a.ws.Doc.Name, b.ws.Doc.Name) })
	for _, s := range out {
		slices.SortFunc(s.ws.Doc.Applications, func(a, b tandem.Application) int { return cmp.Compare(a.Name, b.Name) })
		slices.SortFunc(s.ws.Doc.Workflows, func(a, b tandem.Workflow) int { return cmp.Compare(a.Name, b.Name) })
	}
	return out, nil
}

// loadParts calls fn for every row of table (applications or workflows) of
// the workspaces selected by where.
func loadParts(ctx context.Context, tx *sql.Tx, table, where string, args []any, fn func(wsID, id, doc string) error) error {
	rows, err := tx.QueryContext(ctx, `SELECT p.workspace_id, p.id, p.doc FROM `+table+` p
		JOIN workspaces w ON w.id = p.workspace_id`+where, args...)
	if err != nil {
		return fmt.Errorf("load %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var wsID, id, doc string
		if err := rows.Scan(&wsID, &id, &doc); err != nil {
			return fmt.Errorf("load %s: %w", table, err)
		}
		if err := fn(wsID, id, doc); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load %s: %w", table, err)
	}
	return nil
}

// errNoRow reports that a statement that must touch one row touched none.
var errNoRow = sql.ErrNoRows

// oneRow turns the result of an Exec that must touch exactly one row into
// nil, errNoRow when it touched none, or an error.
func oneRow(r sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return err
	}
	switch n {
	case 1:
		return nil
	case 0:
		return errNoRow
	}
	return fmt.Errorf("%d rows affected, want 1", n)
}
