-- vouch relying-party store, version 5: devices renew their TLS certificates.
--
-- Plain SQL that SQLite and PostgreSQL both accept, under the rules of 0001_initial.sql.
--
-- A device renews the certificate of its TLS pin with a request signed by its attestation key
-- (docs/RENEWAL.md). Each request carries the time the device signed it; the owner keeps that
-- of the last renewal it accepted and accepts only a later one, so a request is good once: a
-- replayed one changes nothing. NULL until the device first renews. The column stays when
-- TO2 replaces the pin under the same GUID, so the rule holds across onboardings.
ALTER TABLE pins ADD COLUMN renewed_issued_at BIGINT;
