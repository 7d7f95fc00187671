//! What a device says to its owner after onboarding, signed with its attestation key: the
//! hash of the WebTransport certificate it will serve next ([`rotation`]) and the request for a
//! new TLS certificate ([`renewal`]). Both are COSE_Sign1 objects the owner checks against the
//! attestation key of the device certificate chain in the voucher it holds.

pub mod renewal;
pub mod rotation;
