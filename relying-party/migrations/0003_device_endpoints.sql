-- vouch relying-party store, version 3: where the owner reaches each pinned device.
--
-- Plain SQL that SQLite and PostgreSQL both accept, under the rules of 0001_initial.sql.
--
-- The owner records a device's HTTPS base URL (an https origin such as
-- 'https://192.168.1.7:8443') so that it can forward requests to the device over a TLS client
-- that accepts only the device's pinned key. An endpoint belongs to a pin: it can only be set
-- for a pinned device, stays when the pin is replaced (the device got a new key, not a new
-- address), and goes when the pin is deleted.
CREATE TABLE device_endpoints (
    guid       BYTEA  NOT NULL PRIMARY KEY CHECK (length(guid) = 16)
                      REFERENCES pins (guid) ON DELETE CASCADE,
    -- The https origin, as the store wrote it: 'https://' host [':' port], no path.
    url        TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
