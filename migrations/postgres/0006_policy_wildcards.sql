-- Wildcard names need an explicit policy flag: a pattern's `*` no longer
-- grants `*.example.com` by itself. Existing policies allow none.
ALTER TABLE service_account_policies ADD COLUMN allow_wildcards BOOLEAN NOT NULL DEFAULT FALSE;
