//! # vouch-vectors
//!
//! FDO conformance vectors: a documented, versioned JSON format (`vectors/README.md`), a
//! runner that drives `vouch-protocol` from them, and the generator that writes vouch's own
//! vectors deterministically (seeded random source, fixed time), so that they can be made
//! again and compared byte for byte.
//!
//! * [`format`] — manifests and cases.
//! * [`exec`] — one executor per kind: what each kind's inputs are, and the fields it reports.
//! * [`run`] — running cases and reporting; [`run::run_dir`] is the library entry point, and
//!   takes the [`CryptoProvider`](vouch_protocol::crypto::CryptoProvider) the verifier uses, so
//!   a test can show that a broken provider makes the cases that should catch it fail.
//! * [`generate`] — the generator.

pub mod exec;
pub mod format;
pub mod generate;
pub mod run;
pub mod seeds;

pub use format::{Case, Expect, Kind, Manifest, Source};
pub use run::{Report, run_dir};
