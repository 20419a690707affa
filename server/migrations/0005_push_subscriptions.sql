-- Web Push (issue 35): a browser's subscription belongs to the login that made it, and names
-- the cameras it wants to hear of.

-- One row per browser subscription. The login's end deletes it (logout deletes it at once; the
-- sweep that forgets ended logins cascades here too).
CREATE TABLE push_subscriptions (
    id         TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    endpoint   TEXT NOT NULL UNIQUE,     -- the push service's URL for this browser
    p256dh     TEXT NOT NULL,            -- the browser's public key, base64url
    auth       TEXT NOT NULL,            -- the browser's authentication secret, base64url
    created_at BIGINT NOT NULL
);
CREATE INDEX push_subscriptions_session ON push_subscriptions(session_id);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);

-- "Notify me" for one camera on one subscription. It hangs on the person's access row: a
-- revoked share, or a removed camera, deletes it with that row.
CREATE TABLE push_subscription_devices (
    subscription_id TEXT NOT NULL REFERENCES push_subscriptions(id) ON DELETE CASCADE,
    device_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    PRIMARY KEY (subscription_id, device_id),
    FOREIGN KEY (device_id, user_id) REFERENCES device_access(device_id, user_id) ON DELETE CASCADE
);
CREATE INDEX push_subscription_devices_device ON push_subscription_devices(device_id);
