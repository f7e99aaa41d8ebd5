-- Certificates by expiry: `GET /certificates/?expiring_within_days=N` (with or
-- without `status=valid`) and the expiring-soon gauges of `/metrics` read a
-- range of `not_after` on this index alone (status, CA, organization and id
-- come with it, so neither the list's ids nor the per-CA counts touch the table).
CREATE INDEX certificates_not_after ON certificates (not_after, status, issuer_id, organization_id, id);
