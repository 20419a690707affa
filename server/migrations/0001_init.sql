-- MuMu's schema, one text for SQLite and PostgreSQL: one piece of domain code serves both.
-- Timestamps are Unix milliseconds; ids are UUID text; no booleans (the Any driver and both
-- dialects agree on TEXT and BIGINT). A dialect-specific need gets its own folder then.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE,  -- lower-cased: "Alice" and "alice" are one account
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,         -- argon2id PHC string
    created_at    BIGINT NOT NULL
);

-- One row per login; the access token names it, so logout really ends it.
CREATE TABLE auth_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX auth_sessions_user ON auth_sessions(user_id);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL,         -- SHA-256 of the device secret, hex
    name          TEXT NOT NULL,
    owner_id      TEXT REFERENCES users(id) ON DELETE CASCADE,
    agent_version TEXT,
    created_at    BIGINT NOT NULL,
    paired_at     BIGINT,
    last_seen     BIGINT
);
CREATE INDEX devices_owner ON devices(owner_id);
CREATE UNIQUE INDEX devices_secret ON devices(secret_hash);

CREATE TABLE pairing_codes (
    code_hash  TEXT PRIMARY KEY,         -- SHA-256 of the canonical code, hex
    device_id  TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX pairing_codes_device ON pairing_codes(device_id);

-- Who may watch what: the owner, and people the owner shared the device with.
CREATE TABLE device_access (
    device_id  TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL,            -- 'owner' | 'viewer'
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, user_id)
);
CREATE INDEX device_access_user ON device_access(user_id);

CREATE TABLE watch_sessions (
    id         TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT,
    end_reason TEXT,
    transport  TEXT                      -- 'direct' | 'relay' when a peer reports it
);
CREATE INDEX watch_sessions_device ON watch_sessions(device_id);
