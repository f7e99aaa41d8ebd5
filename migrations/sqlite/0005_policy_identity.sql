-- An issuance policy is an object of its own, as in FastPKI: an id and a
-- creation time beside its account and last change. SQLite cannot add a
-- primary key in place, so the table is rebuilt; replacing a policy later
-- updates this row and keeps both.
CREATE TABLE service_account_policies_new (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    service_account_id        INTEGER NOT NULL UNIQUE REFERENCES service_accounts(id) ON DELETE CASCADE,
    cn_patterns               TEXT NOT NULL,
    san_dns_patterns          TEXT NOT NULL,
    san_ip_cidrs              TEXT NOT NULL,
    san_email_domains         TEXT NOT NULL,
    allowed_ca_ids            TEXT NOT NULL,
    allowed_certificate_types TEXT NOT NULL,
    max_validity_days         INTEGER,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL
);
INSERT INTO service_account_policies_new (service_account_id, cn_patterns, san_dns_patterns, san_ip_cidrs,
    san_email_domains, allowed_ca_ids, allowed_certificate_types, max_validity_days, created_at, updated_at)
SELECT service_account_id, cn_patterns, san_dns_patterns, san_ip_cidrs, san_email_domains, allowed_ca_ids,
    allowed_certificate_types, max_validity_days, updated_at, updated_at
FROM service_account_policies ORDER BY service_account_id;
DROP TABLE service_account_policies;
ALTER TABLE service_account_policies_new RENAME TO service_account_policies;
