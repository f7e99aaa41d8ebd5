-- Certificate authorities and certificates. Private keys are PEM, or a
-- Fernet token when PRIVATE_KEY_ENCRYPTION_KEY is set.

CREATE TABLE certificate_authorities (
    id                            INTEGER PRIMARY KEY AUTOINCREMENT,
    name                          TEXT NOT NULL,
    description                   TEXT,
    subject_dn                    TEXT NOT NULL,
    key_algorithm                 TEXT NOT NULL,
    key_size                      INTEGER NOT NULL,
    valid_days                    INTEGER NOT NULL,
    certificate                   TEXT NOT NULL,
    private_key                   TEXT NOT NULL,
    serial_number                 TEXT NOT NULL,
    not_before                    TEXT NOT NULL,
    not_after                     TEXT NOT NULL,
    organization_id               INTEGER REFERENCES organizations(id),
    created_by_user_id            INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_by_service_account_id INTEGER,
    parent_ca_id                  INTEGER REFERENCES certificate_authorities(id),
    path_length                   INTEGER,
    allow_leaf_certs              INTEGER NOT NULL DEFAULT 1,
    crl_base_url                  TEXT,
    is_root                       INTEGER NOT NULL,
    crl_number                    INTEGER NOT NULL DEFAULT 0,
    crl_der                       BLOB,
    crl_this_update               TEXT,
    crl_next_update               TEXT,
    created_at                    TEXT NOT NULL,
    updated_at                    TEXT NOT NULL
);
CREATE INDEX cas_organization_id ON certificate_authorities (organization_id, id);
CREATE INDEX cas_parent_ca_id ON certificate_authorities (parent_ca_id, id);
CREATE INDEX cas_name ON certificate_authorities (name);
CREATE INDEX cas_crl_next_update ON certificate_authorities (crl_next_update);

CREATE TABLE certificates (
    id                            INTEGER PRIMARY KEY AUTOINCREMENT,
    common_name                   TEXT NOT NULL,
    subject_dn                    TEXT NOT NULL,
    certificate_type              TEXT NOT NULL,
    key_algorithm                 TEXT NOT NULL,
    key_size                      INTEGER NOT NULL,
    valid_days                    INTEGER NOT NULL,
    status                        TEXT NOT NULL DEFAULT 'valid',
    certificate                   TEXT NOT NULL,
    private_key                   TEXT,
    key_origin                    TEXT NOT NULL,
    serial_number                 TEXT NOT NULL,
    not_before                    TEXT NOT NULL,
    not_after                     TEXT NOT NULL,
    san_dns_names                 TEXT NOT NULL DEFAULT '[]',
    san_ip_addresses              TEXT NOT NULL DEFAULT '[]',
    san_email_addresses           TEXT NOT NULL DEFAULT '[]',
    revoked_at                    TEXT,
    revocation_reason             TEXT,
    revocation_reason_code        INTEGER,
    issuer_id                     INTEGER NOT NULL REFERENCES certificate_authorities(id),
    organization_id               INTEGER REFERENCES organizations(id),
    created_by_user_id            INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_by_service_account_id INTEGER,
    renewed_from_id               INTEGER REFERENCES certificates(id) ON DELETE SET NULL,
    created_at                    TEXT NOT NULL,
    updated_at                    TEXT NOT NULL
);
CREATE UNIQUE INDEX certificates_issuer_serial ON certificates (issuer_id, serial_number);
CREATE INDEX certificates_organization_id ON certificates (organization_id, id);
CREATE INDEX certificates_issuer_id ON certificates (issuer_id, id);
CREATE INDEX certificates_revoked ON certificates (issuer_id, status, revoked_at);
CREATE INDEX certificates_renewed_from_id ON certificates (renewed_from_id);
