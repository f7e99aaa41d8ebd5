-- Refresh-token families (OAuth 2.0 Security BCP): every token rotated from one
-- login shares its family, so that a replayed, already used token can revoke
-- them all. `rotated_at` marks a token used up by a refresh (not by logout or
-- invalidation), which is what tells a replay apart. A token stored before this
-- migration is a family of its own. SQLite cannot add a NOT NULL column without
-- a default in place, so the table is rebuilt with its ids.
CREATE TABLE refresh_tokens_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_digest TEXT NOT NULL UNIQUE,
    family_id    TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT,
    rotated_at   TEXT,
    created_at   TEXT NOT NULL
);
INSERT INTO refresh_tokens_new (id, user_id, token_digest, family_id, expires_at, revoked_at, created_at)
SELECT id, user_id, token_digest, 'legacy-' || CAST(id AS TEXT), expires_at, revoked_at, created_at
FROM refresh_tokens ORDER BY id;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
