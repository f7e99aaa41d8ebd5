-- Revoking intermediate CAs, and what a deleted CA leaves for relying parties.

-- A CA revoked by its issuer: its serial is listed in the parent's CRL.
ALTER TABLE certificate_authorities ADD COLUMN revoked_at TEXT;
ALTER TABLE certificate_authorities ADD COLUMN revocation_reason TEXT;
ALTER TABLE certificate_authorities ADD COLUMN revocation_reason_code BIGINT;
CREATE INDEX cas_revoked ON certificate_authorities (parent_ca_id, revoked_at);

-- A deleted CA's certificate and final CRL, still served at its public URLs,
-- and its revocation, still listed in its parent's CRL. The id is the CA's
-- (never reused). No foreign keys: a tombstone outlives its parent and its
-- organization. No private key: it is destroyed with the CA.
CREATE TABLE ca_tombstones (
    id                     BIGINT PRIMARY KEY,
    name                   TEXT NOT NULL,
    parent_ca_id           BIGINT,
    organization_id        BIGINT,
    serial_number          TEXT NOT NULL,
    certificate            TEXT NOT NULL,
    not_after              TEXT NOT NULL,
    revoked_at             TEXT,
    revocation_reason      TEXT,
    revocation_reason_code BIGINT,
    crl_number             BIGINT NOT NULL,
    crl_der                BYTEA NOT NULL,
    crl_this_update        TEXT NOT NULL,
    crl_next_update        TEXT NOT NULL,
    deleted_at             TEXT NOT NULL
);
CREATE INDEX ca_tombstones_parent ON ca_tombstones (parent_ca_id, id);
