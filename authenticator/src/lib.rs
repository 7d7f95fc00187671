//! vouch's device agent. The onboarding client arrives with the end-to-end issue; for now the
//! crate holds the device credential tooling shared with tests.
pub use vouch_protocol as protocol;
