-- A share's permission to see the camera's recordings (issue 34, "Who may see history"): off
-- unless the owner allows it. 0/1, as the schema has no booleans; an owner's row keeps 0, since
-- an owner sees recordings by being the owner (`Devices::access` decides).
ALTER TABLE device_access ADD COLUMN recordings BIGINT NOT NULL DEFAULT 0;
