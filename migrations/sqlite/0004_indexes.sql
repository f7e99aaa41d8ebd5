-- Finds the certificates that keep a private key without reading the others
-- (start-up key check, key rotation).
CREATE INDEX certificates_kept_keys ON certificates (id) WHERE private_key IS NOT NULL;

-- List pages: the ids of a page are found on an index alone, whatever the filter
-- (SQLite steps an OFFSET over whole table rows otherwise; PostgreSQL has its
-- primary-key index for the unfiltered list).
CREATE INDEX certificates_id ON certificates (id);
CREATE INDEX certificates_org_issuer ON certificates (organization_id, issuer_id, id);
