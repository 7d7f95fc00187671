-- vouch relying-party store, version 1.
--
-- One set of migrations for SQLite and PostgreSQL, so this file is plain SQL both accept:
--
-- * Binary columns are BYTEA. PostgreSQL has no BLOB type; SQLite accepts any type name and
--   gives BYTEA "NUMERIC" affinity, which never converts a bound BLOB value (only TEXT values are
--   coerced, and the store binds bytes only), so the bytes read back are the bytes written.
--   A test checks that SQLite stores these columns as typeof() = 'blob'.
-- * Times are BIGINT unix seconds supplied by the caller; counters are BIGINT.
-- * No AUTOINCREMENT/SERIAL, no BOOLEAN, no backend-specific functions; length() works on
--   SQLite blobs and PostgreSQL bytea alike.
--
-- Applied migrations are checksummed: change the schema by adding a file, never by editing one.

-- Ownership vouchers by GUID, exactly as received (CBOR), with the facts listings show.
CREATE TABLE vouchers (
    guid             BYTEA  NOT NULL PRIMARY KEY CHECK (length(guid) = 16),
    voucher          BYTEA  NOT NULL,
    entry_count      BIGINT NOT NULL CHECK (entry_count >= 0),
    device_info      TEXT   NOT NULL,
    -- SHA-256 of the current owner key's CBOR PublicKey encoding.
    owner_key_sha256 BYTEA  NOT NULL CHECK (length(owner_key_sha256) = 32),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX vouchers_owner_key_sha256 ON vouchers (owner_key_sha256);

-- Named owner keys: PKCS#8 DER private key, CBOR PublicKey.
CREATE TABLE owner_keys (
    name              TEXT   NOT NULL PRIMARY KEY,
    private_key_pkcs8 BYTEA  NOT NULL,
    public_key        BYTEA  NOT NULL,
    public_key_sha256 BYTEA  NOT NULL CHECK (length(public_key_sha256) = 32),
    created_at        BIGINT NOT NULL
);
CREATE INDEX owner_keys_public_key_sha256 ON owner_keys (public_key_sha256);

-- Rendezvous (TO0) registrations: live while now < expires_at.
CREATE TABLE rv_registrations (
    guid       BYTEA  NOT NULL PRIMARY KEY CHECK (length(guid) = 16),
    to1d       BYTEA  NOT NULL,
    voucher    BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX rv_registrations_expires_at ON rv_registrations (expires_at);

-- Protocol sessions, keyed by SHA-256 of the bearer token (the token itself is never stored).
CREATE TABLE sessions (
    token_sha256 BYTEA  NOT NULL PRIMARY KEY CHECK (length(token_sha256) = 32),
    protocol     TEXT   NOT NULL,
    state        BYTEA  NOT NULL,
    version      BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Server settings (for example the owner's default key name).
CREATE TABLE settings (
    name       TEXT   NOT NULL PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
