-- Motion events (issue 35): what the server learns of them (metadata only: never a picture)
-- and what decides who is notified: each camera's cooldown and "always", the household's
-- arming mode, each account's quiet hours and webhook.

-- One row per event, its start being its identity on its camera: the camera's second
-- message (as the event ends) completes the first, and a repeated one changes nothing.
CREATE TABLE events (
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    started_at  BIGINT NOT NULL,         -- the camera's clock, Unix ms
    ended_at    BIGINT,                  -- NULL while under way
    zones       TEXT NOT NULL,           -- JSON array of zone names
    peak_score  BIGINT NOT NULL,         -- ten-thousandths of the picture
    received_at BIGINT NOT NULL,         -- the server's clock, for retention
    PRIMARY KEY (device_id, started_at)
);
CREATE INDEX events_started ON events(started_at);
CREATE INDEX events_received ON events(received_at);

-- A camera's notifications: the cooldown after each (seconds), whether it notifies while the
-- household is armed 'home', and when it last notified (the cooldown's start).
ALTER TABLE devices ADD COLUMN notify_cooldown_secs BIGINT NOT NULL DEFAULT 60;
ALTER TABLE devices ADD COLUMN notify_always BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN last_notified_at BIGINT;

-- The household's arming mode: 'away' (every camera notifies), 'home' (only 'always'
-- cameras), 'off' (none).
ALTER TABLE household ADD COLUMN arming TEXT NOT NULL DEFAULT 'away';

-- An account's quiet hours: minutes after local midnight, and the local offset from UTC.
ALTER TABLE users ADD COLUMN quiet_start_min BIGINT;
ALTER TABLE users ADD COLUMN quiet_end_min BIGINT;
ALTER TABLE users ADD COLUMN quiet_utc_offset_min BIGINT;

-- One webhook per account. The secret signs deliveries, so it is kept as it is (not hashed).
CREATE TABLE webhooks (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
