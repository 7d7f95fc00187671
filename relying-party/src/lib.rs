//! vouch's relying party: manufacturer, rendezvous and owner roles.
//!
//! Built so far: the FDO HTTP binding ([`fdo_http`]), the rendezvous role (TO0 and TO1,
//! [`rendezvous`]), the storage layer ([`store`], SQLite) and the voucher tooling behind
//! `vouch-rp voucher …`. The manufacturer (DI) and owner (TO2) roles and `vouch-rp serve` are
//! still to come.
pub mod fdo_http;
pub mod keys;
pub mod manufacturer;
pub mod owner;
pub mod rendezvous;
pub mod store;
pub mod voucher_cmd;

pub use vouch_protocol as protocol;
