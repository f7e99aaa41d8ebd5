-- Service accounts: non-human principals with their own tokens and an
-- issuance policy (lists as JSON text).

CREATE TABLE service_accounts (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    name                   TEXT NOT NULL,
    description            TEXT,
    organization_id        INTEGER REFERENCES organizations(id),
    can_create_ca          INTEGER NOT NULL DEFAULT 0,
    can_create_cert        INTEGER NOT NULL DEFAULT 0,
    can_revoke_cert        INTEGER NOT NULL DEFAULT 0,
    can_export_private_key INTEGER NOT NULL DEFAULT 0,
    can_delete_ca          INTEGER NOT NULL DEFAULT 0,
    disabled_at            TEXT,
    created_by_user_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE UNIQUE INDEX service_accounts_org_name ON service_accounts (COALESCE(organization_id, 0), name);
CREATE INDEX service_accounts_organization_id ON service_accounts (organization_id, id);

CREATE TABLE service_account_tokens (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    service_account_id INTEGER NOT NULL REFERENCES service_accounts(id) ON DELETE CASCADE,
    public_id          TEXT NOT NULL UNIQUE,
    secret_digest      TEXT NOT NULL,
    name               TEXT,
    expires_at         TEXT,
    revoked_at         TEXT,
    last_used_at       TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX service_account_tokens_account ON service_account_tokens (service_account_id, id);

CREATE TABLE service_account_policies (
    service_account_id        INTEGER PRIMARY KEY REFERENCES service_accounts(id) ON DELETE CASCADE,
    cn_patterns               TEXT NOT NULL,
    san_dns_patterns          TEXT NOT NULL,
    san_ip_cidrs              TEXT NOT NULL,
    san_email_domains         TEXT NOT NULL,
    allowed_ca_ids            TEXT NOT NULL,
    allowed_certificate_types TEXT NOT NULL,
    max_validity_days         INTEGER,
    updated_at                TEXT NOT NULL
);
