-- Refresh-token families (OAuth 2.0 Security BCP): every token rotated from one
-- login shares its family, so that a replayed, already used token can revoke
-- them all. `rotated_at` marks a token used up by a refresh (not by logout or
-- invalidation), which is what tells a replay apart. A token stored before this
-- migration is a family of its own.
ALTER TABLE refresh_tokens ADD COLUMN family_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN rotated_at TEXT;
UPDATE refresh_tokens SET family_id = 'legacy-' || CAST(id AS TEXT);
ALTER TABLE refresh_tokens ALTER COLUMN family_id SET NOT NULL;
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
