-- CAs made elsewhere (imported), and CAs whose certificate a CA outside FastPKI signs.

-- The certificates above a CA whose issuer is not a FastPKI CA (PEM, its issuer
-- first), given when it was imported or its certificate installed: chain
-- downloads end with them.
ALTER TABLE certificate_authorities ADD COLUMN external_chain TEXT;

-- A pending CA (`POST /cas/csr`, or `POST /cas/{id}/csr` with a new key): its
-- key is stored, its certificate not yet (`certificate` is empty, and so is
-- `serial_number`); this is the CSR to have signed. NULL once
-- `PUT /cas/{id}/certificate` installed the certificate.
ALTER TABLE certificate_authorities ADD COLUMN pending_csr TEXT;

-- Finding a CA by its certificate's serial: the same certificate is not imported twice.
CREATE INDEX cas_serial_number ON certificate_authorities (serial_number);
