-- Webhook notifications: the endpoints of each organization, the events to
-- send (an outbox written in the transaction of the change that causes each
-- event), and one delivery per event and receiver, leased by the server that
-- sends it. Times are fixed-width RFC 3339 UTC text, as everywhere.

-- An organization's receiver. `secret` is `whsec_...`, sealed like private
-- keys when PRIVATE_KEY_ENCRYPTION_KEY is set. `events` is a JSON list of the
-- event types it receives.
CREATE TABLE webhooks (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    organization_id    INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    url                TEXT NOT NULL,
    events             TEXT NOT NULL,
    description        TEXT,
    secret             TEXT NOT NULL,
    created_by_user_id INTEGER,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX webhooks_organization_id ON webhooks (organization_id, id);

-- What happened, once: `dedupe_key` names the fact (`certificate.issued:12`,
-- `certificate.expiring:12:7`), so that no fact is recorded twice, by any
-- server. `payload` is the JSON body sent, byte for byte, on every attempt.
-- `dispatched_at` is set once its deliveries are made.
CREATE TABLE webhook_events (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    organization_id INTEGER,
    payload         TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL UNIQUE,
    created_at      TEXT NOT NULL,
    dispatched_at   TEXT
);
CREATE INDEX webhook_events_undispatched ON webhook_events (created_at) WHERE dispatched_at IS NULL;
CREATE INDEX webhook_events_created_at ON webhook_events (created_at);

-- One event to one receiver: an organization's webhook (`webhook:<id>`) or a
-- URL of WEBHOOK_URLS (`url:<url>`). `lease_until`: a server is sending it.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    target           TEXT NOT NULL,
    webhook_id       INTEGER REFERENCES webhooks(id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,
    last_status_code INTEGER,
    last_error       TEXT,
    delivered_at     TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (event_id, target)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_webhook_id ON webhook_deliveries (webhook_id, id);

-- CAs nearing expiry (`ca.expiring`) are found by a range of `not_after`.
CREATE INDEX cas_not_after ON certificate_authorities (not_after, id);
