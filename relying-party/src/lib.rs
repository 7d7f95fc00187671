//! vouch's relying party: manufacturer, rendezvous and owner roles.
//!
//! The FDO HTTP binding ([`fdo_http`]); the roles: [`manufacturer`] (DI), [`rendezvous`] (TO0
//! and TO1) and [`owner`] (TO2 and the TO0 client); [`server`], which runs any of them behind
//! one address with their keys (`vouch-rp serve`); the storage layer ([`store`], SQLite);
//! [`demo`] (`vouch-rp demo`) and the voucher tooling behind `vouch-rp voucher …`.
pub mod config;
pub mod csr;
pub mod demo;
pub mod evidence;
pub mod fdo_http;
pub mod keys;
pub mod logging;
pub mod manufacturer;
pub mod metrics;
pub mod ops;
pub mod owner;
pub mod owner_ca;
pub mod pinning;
pub mod pins;
pub mod proxy;
pub mod rate_limit;
pub mod rendezvous;
pub mod renew;
pub mod server;
pub mod store;
pub mod tls_enrol;
pub mod voucher_cmd;
pub mod webtransport;

pub use vouch_protocol as protocol;
