//! The renewal request, defined with the other signed device reports in
//! [`vouch_protocol::reports::renewal`] (sans-IO, fuzzed there) and re-exported here.

pub use vouch_protocol::reports::renewal::*;
