//! Evidence from the device's roots of trust, each verified on its own and summed up in a
//! [`Verdict`]: what the root proved (attestation: who made the device; ownership: who owns
//! it), whether it passed, why, and whether the evidence itself was authenticated.
//!
//! - [`idevid`]: an IEEE 802.1AR device certificate chain to configured manufacturer trust
//!   anchors, its 802.1AR fields, and proof that the device holds the leaf key.
//! - [`mud`]: the MUD file (RFC 8520) named by the device, fetched, its detached CMS signature
//!   verified against configured MUD signer anchors, and what it declares.
//!
//! The owner's policy (which roots are required, which anchors each uses) decides from the
//! verdicts; it is not here yet.

pub mod idevid;
pub mod mud;

/// A root of trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Root {
    /// IEEE 802.1AR device identity certificate.
    IDevId,
    /// Manufacturer Usage Description (RFC 8520).
    Mud,
}

impl Root {
    /// The root's name, as recorded with verdicts.
    pub fn as_str(self) -> &'static str {
        match self {
            Root::IDevId => "idevid",
            Root::Mud => "mud",
        }
    }
}

/// What a root of trust can prove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Who made the device.
    Attestation,
    /// Who owns the device.
    Ownership,
}

/// The outcome of checking one root of trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The root checked.
    pub root: Root,
    /// What it can prove.
    pub kind: Kind,
    /// Whether it proved it.
    pub passed: bool,
    /// Why it passed or failed, and what the evidence said, for the record.
    pub reasons: Vec<String>,
    /// Whether the evidence came through an authenticated channel (false: the device alone
    /// asserted it, so it is spoofable and never counts on its own).
    pub authenticated: bool,
}
