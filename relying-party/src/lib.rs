//! vouch's relying party: manufacturer, rendezvous and owner roles.
pub use vouch_protocol as protocol;
