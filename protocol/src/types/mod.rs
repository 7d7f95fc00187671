//! FDO's core data types (FDO reference §3), each with its CBOR coding.

mod guid;
mod hash;
mod public_key;
mod rendezvous;
mod service_info;
mod sig_info;

pub use guid::{Guid, Nonce};
pub use hash::{HMac, Hash, HashAlg};
pub use public_key::{PkBody, PkEnc, PkType, PublicKey};
pub use rendezvous::{
    RendezvousInfo, RvDirective, RvInstruction, RvProtocol, RvValue, RvVariable, TransportProtocol,
};
pub use service_info::{ServiceInfo, ServiceInfoKv};
pub use sig_info::{SgType, SigInfo};

/// The FDO protocol version: 101 for 1.1, 100 for 1.0 (`protver = uint16`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolVersion(pub u16);

impl ProtocolVersion {
    /// FDO 1.0.
    pub const V100: Self = Self(100);
    /// FDO 1.1.
    pub const V101: Self = Self(101);
}

impl crate::cbor::Cbor for ProtocolVersion {
    fn decode(d: &mut crate::cbor::Decoder<'_>) -> Result<Self, crate::Error> {
        d.uint_as("protocol version (uint16)").map(Self)
    }
    fn encode(&self, e: &mut crate::cbor::Encoder) {
        e.uint(u64::from(self.0));
    }
}
