-- vouch relying-party store, version 4: the devices' WebTransport pins follow their
-- certificates.
--
-- Plain SQL that SQLite and PostgreSQL both accept, under the rules of 0001_initial.sql.
--
-- A browser pins a WebTransport server by the SHA-256 of its whole certificate, which may be
-- valid for 14 days at most, so a device reports each new certificate's hash to its owner,
-- signed with its attestation key (docs/WEBTRANSPORT.md). The owner keeps the notAfter of the
-- certificate last accepted and moves the pin only for a later one: a report replayed, or one
-- older than the pin, changes nothing. The column stays when the TLS pin is replaced, so the
-- rule holds across onboardings under the same GUID.
ALTER TABLE pins ADD COLUMN webtransport_not_after BIGINT;

-- Where the browser reaches each pinned device's WebTransport server: an https URL such as
-- 'https://192.168.1.7:4433/'. Like device_endpoints it belongs to a pin: it can only be set
-- for a pinned device and goes when the pin is deleted.
CREATE TABLE webtransport_endpoints (
    guid       BYTEA  NOT NULL PRIMARY KEY CHECK (length(guid) = 16)
                      REFERENCES pins (guid) ON DELETE CASCADE,
    url        TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
