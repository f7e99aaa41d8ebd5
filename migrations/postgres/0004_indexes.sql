-- Finds the certificates that keep a private key without reading the others
-- (start-up key check, key rotation).
CREATE INDEX certificates_kept_keys ON certificates (id) WHERE private_key IS NOT NULL;

-- List pages of one organization filtered by CA, found on an index alone.
CREATE INDEX certificates_org_issuer ON certificates (organization_id, issuer_id, id);
