-- The household (issue 35): accounts have a role, later accounts come by invitation, and a
-- share has a role and a notifications permission.

-- 'admin' | 'member'. The first account is the household's admin.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member';

-- One row, written by the first registration in the same transaction as its account: the
-- primary key decides which of two racing registrations is the first, on both databases.
CREATE TABLE household (
    id         BIGINT PRIMARY KEY,       -- always 1
    founder_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);

-- A server that already has accounts: its oldest account is the admin.
INSERT INTO household (id, founder_id, created_at)
    SELECT 1, id, created_at FROM users ORDER BY created_at, id LIMIT 1;
UPDATE users SET role = 'admin' WHERE id IN (SELECT founder_id FROM household);

-- Invitations to make an account: single use, expiring, stored as the code's hash.
CREATE TABLE invitations (
    id         TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL UNIQUE,     -- SHA-256 of the code, hex
    created_by TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    used_by    TEXT REFERENCES users(id) ON DELETE SET NULL
);

-- A share's permission to be notified of the camera's events: on unless turned off. The
-- share's role goes in device_access.role beside 'owner': 'viewer' | 'admin'.
ALTER TABLE device_access ADD COLUMN notifications BIGINT NOT NULL DEFAULT 1;
