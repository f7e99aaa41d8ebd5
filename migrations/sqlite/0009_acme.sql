-- ACME (RFC 8555): directories (one CA issuing as one service account),
-- external account binding keys, accounts, orders, authorizations (shared by
-- the orders of one account while they live), challenges, and the nonces
-- already used (a nonce is an HMAC token any server can check; it is spent
-- by inserting it here, once).

CREATE TABLE acme_directories (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL UNIQUE,
    ca_id              INTEGER NOT NULL REFERENCES certificate_authorities(id) ON DELETE CASCADE,
    organization_id    INTEGER REFERENCES organizations(id),
    service_account_id INTEGER NOT NULL REFERENCES service_accounts(id) ON DELETE CASCADE,
    require_eab        INTEGER NOT NULL DEFAULT 1,
    challenge_types    TEXT NOT NULL,
    certificate_type   TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX acme_directories_organization_id ON acme_directories (organization_id, id);
CREATE INDEX acme_directories_ca_id ON acme_directories (ca_id);

CREATE TABLE acme_eab_keys (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kid                TEXT NOT NULL UNIQUE,
    directory_id       INTEGER NOT NULL REFERENCES acme_directories(id) ON DELETE CASCADE,
    service_account_id INTEGER REFERENCES service_accounts(id) ON DELETE CASCADE,
    hmac_key           TEXT NOT NULL,
    account_id         INTEGER,
    bound_at           TEXT,
    revoked_at         TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX acme_eab_keys_directory_id ON acme_eab_keys (directory_id, id);

CREATE TABLE acme_accounts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    directory_id       INTEGER NOT NULL REFERENCES acme_directories(id) ON DELETE CASCADE,
    thumbprint         TEXT NOT NULL,
    jwk                TEXT NOT NULL,
    status             TEXT NOT NULL,
    contact            TEXT NOT NULL,
    eab_kid            TEXT,
    service_account_id INTEGER REFERENCES service_accounts(id) ON DELETE CASCADE,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE UNIQUE INDEX acme_accounts_key ON acme_accounts (directory_id, thumbprint);

CREATE TABLE acme_orders (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES acme_accounts(id) ON DELETE CASCADE,
    status         TEXT NOT NULL,
    identifiers    TEXT NOT NULL,
    not_before     TEXT,
    not_after      TEXT,
    expires_at     TEXT NOT NULL,
    error          TEXT,
    certificate_id INTEGER REFERENCES certificates(id) ON DELETE SET NULL,
    replaces       TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX acme_orders_account_id ON acme_orders (account_id, id);
CREATE INDEX acme_orders_certificate_id ON acme_orders (certificate_id);

CREATE TABLE acme_authorizations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES acme_accounts(id) ON DELETE CASCADE,
    identifier_type  TEXT NOT NULL,
    identifier_value TEXT NOT NULL,
    wildcard         INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL,
    expires_at       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX acme_authorizations_reuse ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard, status);

CREATE TABLE acme_order_authorizations (
    order_id         INTEGER NOT NULL REFERENCES acme_orders(id) ON DELETE CASCADE,
    authorization_id INTEGER NOT NULL REFERENCES acme_authorizations(id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    PRIMARY KEY (order_id, authorization_id)
);
CREATE INDEX acme_order_authorizations_authorization_id ON acme_order_authorizations (authorization_id);

CREATE TABLE acme_challenges (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    authorization_id INTEGER NOT NULL REFERENCES acme_authorizations(id) ON DELETE CASCADE,
    type             TEXT NOT NULL,
    token            TEXT NOT NULL,
    status           TEXT NOT NULL,
    validated_at     TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    lease_until      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX acme_challenges_authorization_id ON acme_challenges (authorization_id, id);
CREATE INDEX acme_challenges_due ON acme_challenges (status, next_attempt_at);

CREATE TABLE acme_used_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX acme_used_nonces_expires_at ON acme_used_nonces (expires_at);
