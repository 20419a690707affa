-- A share's permission to talk through the camera's speaker (issue 35's "talk"): off unless
-- the owner allows it. 0/1 like the other permissions; an owner's row keeps 0, since an owner
-- may talk by being the owner (`Devices::access` decides).
ALTER TABLE device_access ADD COLUMN talk BIGINT NOT NULL DEFAULT 0;
