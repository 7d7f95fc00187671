//! The WebTransport rotation report, defined with the other signed device reports in
//! [`vouch_protocol::reports::rotation`] (sans-IO, fuzzed there) and re-exported here.

pub use vouch_protocol::reports::rotation::*;
