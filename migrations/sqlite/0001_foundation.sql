-- Identity, organizations, sessions and the audit log.
-- Times are fixed-width RFC 3339 UTC text (sorts as it reads).
-- Booleans are INTEGER 0/1 here (sqlx's Any driver cannot read SQLite BOOLEAN), BOOLEAN on PostgreSQL.

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE users (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    username               TEXT NOT NULL UNIQUE,
    email                  TEXT NOT NULL UNIQUE,
    hashed_password        TEXT NOT NULL,
    role                   TEXT NOT NULL CHECK (role IN ('superuser', 'admin', 'user')),
    is_active              INTEGER NOT NULL DEFAULT 1,
    organization_id        INTEGER REFERENCES organizations(id),
    can_create_ca          INTEGER NOT NULL DEFAULT 0,
    can_create_cert        INTEGER NOT NULL DEFAULT 0,
    can_revoke_cert        INTEGER NOT NULL DEFAULT 0,
    can_export_private_key INTEGER NOT NULL DEFAULT 0,
    can_delete_ca          INTEGER NOT NULL DEFAULT 0,
    tokens_invalidated_at  TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE INDEX users_organization_id ON users (organization_id, id);

-- One row per fact the whole deployment must agree on (e.g. first-user bootstrap done).
CREATE TABLE app_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE refresh_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_digest TEXT NOT NULL UNIQUE,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE token_blocklist (
    jti        TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX token_blocklist_expires_at ON token_blocklist (expires_at);

-- No foreign keys: entries outlive what they name.
CREATE TABLE audit_logs (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at           TEXT NOT NULL,
    action               TEXT NOT NULL,
    user_id              INTEGER,
    username             TEXT,
    organization_id      INTEGER,
    resource_type        TEXT,
    resource_id          INTEGER,
    detail               TEXT,
    service_account_id   INTEGER,
    service_account_name TEXT
);
CREATE INDEX audit_logs_org_id ON audit_logs (organization_id, id);
CREATE INDEX audit_logs_action ON audit_logs (action, id);
CREATE INDEX audit_logs_user_id ON audit_logs (user_id, id);
CREATE INDEX audit_logs_resource ON audit_logs (resource_type, resource_id, id);
CREATE INDEX audit_logs_created_at ON audit_logs (created_at);
