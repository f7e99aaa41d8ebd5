-- Finds the certificates that keep a private key without reading the others
-- (start-up key check, key rotation).
CREATE INDEX certificates_kept_keys ON certificates (id) WHERE private_key IS NOT NULL;
