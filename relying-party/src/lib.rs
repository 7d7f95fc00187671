//! vouch's relying party: manufacturer, rendezvous and owner roles.
//!
//! The FDO server arrives with the onboarding issue; today the crate holds the voucher tooling
//! behind `vouch-rp voucher …`.
pub mod keys;
pub mod store;
pub mod voucher_cmd;

pub use vouch_protocol as protocol;
