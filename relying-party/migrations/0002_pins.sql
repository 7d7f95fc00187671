-- vouch relying-party store, version 2: the TLS key pins of onboarded devices.
--
-- Plain SQL that SQLite and PostgreSQL both accept, under the rules of 0001_initial.sql.
--
-- The owner records a pin at TO2.Done, once the device has proven itself and its replacement
-- voucher is stored: the device's TLS key (SHA-256 of its DER SubjectPublicKeyInfo, which
-- Chromium's --ignore-certificate-errors-spki-list takes in base64), the certificate the owner
-- CA issued for it, the names and addresses it serves on, and the SHA-256 of its WebTransport
-- certificate when it reported one. One row per device, under the GUID TO2 gave it.
CREATE TABLE pins (
    guid                BYTEA  NOT NULL PRIMARY KEY CHECK (length(guid) = 16),
    spki_sha256         BYTEA  NOT NULL CHECK (length(spki_sha256) = 32),
    -- The device's certificate, DER.
    cert                BYTEA  NOT NULL,
    -- Lower-case DNS names, comma-separated ('' for none).
    dns_names           TEXT   NOT NULL,
    -- Addresses in their usual text form, comma-separated ('' for none).
    ips                 TEXT   NOT NULL,
    -- SHA-256 of the whole DER WebTransport certificate, if the device reported one.
    webtransport_sha256 BYTEA  CHECK (webtransport_sha256 IS NULL OR length(webtransport_sha256) = 32),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX pins_spki_sha256 ON pins (spki_sha256);
