//! TO2 on the device (FDO reference §5.2, §5.4).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use super::{
    EntryChain, check_suites, internal, invalid_message, kex_suite_valid, open, plain, seal,
    sg_type_of, verify_sign1,
};
use crate::cbor::{Cbor, Raw};
use crate::credential::DeviceCredential;
use crate::crypto::aead::{CipherSuite, SessionKeys};
use crate::crypto::kex::{self, KexSuite};
use crate::crypto::{CryptoProvider, Signer};
use crate::error::VerifyError;
use crate::flows::to1::UnverifiedTo1d;
use crate::flows::{FlowError, Outgoing, random_nonce};
use crate::messages::MessageType;
use crate::messages::to2::{
    DeviceServiceInfo, DeviceServiceInfoReady, Done, Done2, GetOvNextEntry, HelloDevice,
    OvNextEntry, OwnerServiceInfo, OwnerServiceInfoReady, ProveDevice, ProveOvHdr, SetupDevice,
};
use crate::serviceinfo::{DeviceExchange, DeviceModules};
use crate::types::{Guid, HashAlg, Nonce, PkEnc, PublicKey, RendezvousInfo, SigInfo};
use crate::voucher::OvHeader;
use crate::{Error, ErrorCode};

/// The device's choices for TO2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// kexSuiteName: ECDH256 or ECDH384; it must suit the owner's key type.
    pub kex_suite: KexSuite,
    /// cipherSuiteName: A128GCM or A256GCM.
    pub cipher_suite: CipherSuite,
    /// maxDeviceMessageSize: the largest message the device can receive.
    pub max_message_size: u16,
    /// maxOwnerServiceInfoSz, sent in TO2.DeviceServiceInfoReady: the largest ServiceInfo
    /// message the device can receive (`None`: the default 1300).
    pub max_owner_service_info_size: Option<u16>,
    /// Accept the owner's request to keep the current credential (FDO credential reuse). When
    /// false, such a request is refused with CRED_REUSE_ERROR (102).
    pub allow_credential_reuse: bool,
}

impl DeviceConfig {
    /// ECDH256 with A128GCM, as suits a P-256 owner key; 65535-byte messages, the default
    /// ServiceInfo size, no credential reuse.
    pub fn ecdh256() -> Self {
        Self {
            kex_suite: KexSuite::ECDH256,
            cipher_suite: CipherSuite::A128GCM,
            max_message_size: u16::MAX,
            max_owner_service_info_size: None,
            allow_credential_reuse: false,
        }
    }

    /// ECDH384 with A256GCM, as suits a P-384 owner key; otherwise as [`DeviceConfig::ecdh256`].
    pub fn ecdh384() -> Self {
        Self {
            kex_suite: KexSuite::ECDH384,
            cipher_suite: CipherSuite::A256GCM,
            ..Self::ecdh256()
        }
    }
}

/// What a device ends TO2 with, once TO2.Done2 verified.
pub struct DeviceOutcome {
    /// The credential to store in place of the old one: DCGuid = GUID', DCRVInfo = RVInfo',
    /// DCPubKeyHash = H(Owner2Key). Under credential reuse, the old credential unchanged.
    pub credential: DeviceCredential,
    /// True when the owner asked for credential reuse and the device accepted it.
    pub reused: bool,
    /// The ServiceInfo modules, after the exchange.
    pub modules: DeviceModules,
}

impl fmt::Debug for DeviceOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceOutcome")
            .field("credential", &self.credential)
            .field("reused", &self.reused)
            .finish_non_exhaustive()
    }
}

/// What [`To2Device::receive`] leads to.
#[derive(Debug)]
pub enum DeviceStep<'a> {
    /// Send this message and give the answer to the next state.
    Send(Outgoing, To2Device<'a>),
    /// TO2 is over: store the outcome's credential.
    Finished(Box<DeviceOutcome>),
}

/// TO2 on the device: one value per session, fed every owner message until it finishes.
///
/// ```text
/// let (hello, mut device) = To2Device::start(…)?;   // send hello (60)
/// loop {
///     let (msg_type, body) = post(outgoing)?;
///     match device.receive(msg_type, &body, rng)? {
///         DeviceStep::Send(next, state) => { outgoing = next; device = state }
///         DeviceStep::Finished(outcome) => break store(outcome.credential),
///     }
/// }
/// ```
///
/// On an error, send [`FlowError::to_message`] to the owner, unless the error's `prev` is
/// [`MessageType::ERROR`] (the owner stopped first), and keep the old credential.
pub struct To2Device<'a> {
    ctx: Context<'a>,
    state: State,
}

impl fmt::Debug for To2Device<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("To2Device")
            .field("guid", &self.ctx.credential.guid)
            .field("expects", &self.expects())
            .finish_non_exhaustive()
    }
}

struct Context<'a> {
    crypto: &'a dyn CryptoProvider,
    credential: &'a DeviceCredential,
    signer: &'a dyn Signer,
    secret: &'a [u8],
    config: DeviceConfig,
}

enum State {
    ProveOvHdr(Box<ExpectProveOvHdr>),
    Entry(Box<ExpectEntry>),
    Setup(Box<ExpectSetup>),
    Ready(Box<Session>),
    ServiceInfo(Box<ServiceInfoRound>),
    Done2(Box<ExpectDone2>),
}

/// HelloDevice sent.
struct ExpectProveOvHdr {
    hello: Vec<u8>,
    nonce: Nonce,
    modules: DeviceModules,
    to1d: Option<UnverifiedTo1d>,
}

/// What ProveOVHdr said, kept until the entries are checked.
struct Proven {
    header: OvHeader,
    hmac_alg: HashAlg,
    num_entries: u8,
    owner_key: PublicKey,
    prove_dv_nonce: Nonce,
    xa: Vec<u8>,
}

/// GetOVNextEntry(next) sent.
struct ExpectEntry {
    proven: Proven,
    chain: EntryChain,
    next: u8,
    modules: DeviceModules,
    to1d: Option<UnverifiedTo1d>,
}

/// ProveDevice sent; the session key is agreed.
struct ExpectSetup {
    keys: SessionKeys,
    header: OvHeader,
    hmac_alg: HashAlg,
    owner_key: PublicKey,
    prove_dv_nonce: Nonce,
    setup_dv_nonce: Nonce,
    modules: DeviceModules,
}

/// The replacement credential the owner set up, kept until Done2.
struct NewCredential {
    guid: Guid,
    rv_info: RendezvousInfo,
    owner2_key: Vec<u8>,
}

/// DeviceServiceInfoReady sent.
struct Session {
    keys: SessionKeys,
    prove_dv_nonce: Nonce,
    setup_dv_nonce: Nonce,
    /// `None` under credential reuse.
    replacement: Option<NewCredential>,
    modules: DeviceModules,
}

/// A DeviceServiceInfo sent.
struct ServiceInfoRound {
    keys: SessionKeys,
    prove_dv_nonce: Nonce,
    setup_dv_nonce: Nonce,
    replacement: Option<NewCredential>,
    exchange: DeviceExchange,
    limit: u16,
}

/// Done sent.
struct ExpectDone2 {
    keys: SessionKeys,
    setup_dv_nonce: Nonce,
    replacement: Option<NewCredential>,
    modules: DeviceModules,
}

impl<'a> To2Device<'a> {
    /// Starts TO2: draws NonceTO2ProveOV and returns TO2.HelloDevice (60), whose exact bytes
    /// the device later checks helloDeviceHash against.
    ///
    /// `signer` is the device attestation key, `modules` the ServiceInfo modules (devmod comes
    /// from them), `to1d` the blob TO1 returned when the device came through the rendezvous
    /// server (its owner signature is checked once the owner key is proven). Fails for an
    /// inactive credential, a credential without its HMAC secret, or a suite not implemented.
    pub fn start(
        crypto: &'a dyn CryptoProvider,
        credential: &'a DeviceCredential,
        signer: &'a dyn Signer,
        config: DeviceConfig,
        modules: DeviceModules,
        to1d: Option<UnverifiedTo1d>,
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, Self), Error> {
        if !credential.active {
            return Err(Error::Misuse(
                "the device credential is not active (DCActive is false)",
            ));
        }
        let secret = credential
            .hmac_secret()
            .ok_or(Error::Misuse("the device credential holds no HMAC secret"))?;
        check_suites(&config.kex_suite, config.cipher_suite)?;
        let nonce = random_nonce(rng);
        let hello = Raw::new(HelloDevice {
            max_message_size: config.max_message_size,
            guid: credential.guid,
            nonce,
            kex_suite: config.kex_suite.clone(),
            cipher_suite: config.cipher_suite,
            sig_info: SigInfo::new(sg_type_of(signer.algorithm())?),
        });
        let out = Outgoing {
            msg_type: MessageType::TO2_HELLO_DEVICE,
            body: hello.bytes().to_vec(),
        };
        let state = State::ProveOvHdr(Box::new(ExpectProveOvHdr {
            hello: hello.bytes().to_vec(),
            nonce,
            modules,
            to1d,
        }));
        let ctx = Context {
            crypto,
            credential,
            signer,
            secret,
            config,
        };
        Ok((out, Self { ctx, state }))
    }

    /// The message type this state waits for.
    pub fn expects(&self) -> MessageType {
        match &self.state {
            State::ProveOvHdr(_) => MessageType::TO2_PROVE_OV_HDR,
            State::Entry(_) => MessageType::TO2_OV_NEXT_ENTRY,
            State::Setup(_) => MessageType::TO2_SETUP_DEVICE,
            State::Ready(_) => MessageType::TO2_OWNER_SERVICE_INFO_READY,
            State::ServiceInfo(_) => MessageType::TO2_OWNER_SERVICE_INFO,
            State::Done2(_) => MessageType::TO2_DONE2,
        }
    }

    /// Handles the owner's answer to the last message sent.
    pub fn receive(
        self,
        msg_type: MessageType,
        body: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<DeviceStep<'a>, FlowError> {
        let Self { ctx, state } = self;
        let next = match state {
            State::ProveOvHdr(s) => s.prove_ov_hdr(&ctx, msg_type, body)?,
            State::Entry(s) => s.ov_next_entry(&ctx, msg_type, body, rng)?,
            State::Setup(s) => s.setup_device(&ctx, msg_type, body, rng)?,
            State::Ready(s) => s.owner_service_info_ready(msg_type, body, rng)?,
            State::ServiceInfo(s) => s.owner_service_info(msg_type, body, rng)?,
            State::Done2(s) => return s.done2(&ctx, msg_type, body),
        };
        let (out, state) = next;
        Ok(DeviceStep::Send(out, Self { ctx, state }))
    }
}

impl ExpectProveOvHdr {
    /// TO2.ProveOVHdr (61): FDO reference §5.2 steps 1 to 5, then the first GetOVNextEntry.
    fn prove_ov_hdr(
        self,
        ctx: &Context<'_>,
        msg_type: MessageType,
        body: &[u8],
    ) -> Result<(Outgoing, State), FlowError> {
        let crypto = ctx.crypto;
        let msg: ProveOvHdr = plain(msg_type, body)?;
        let p = msg.payload();
        // 1. NonceTO2ProveOV is the one the device sent.
        if p.nonce != self.nonce {
            return Err(FlowError::new(
                VerifyError::Nonce("NonceTO2ProveOV"),
                msg_type,
            ));
        }
        // 2. helloDeviceHash covers the HelloDevice bytes sent, with the algorithm it names
        //    (SHA-256 from fdo-rs, the voucher's from go-fdo: pitfall 7).
        let hash = crypto
            .hash(p.hello_device_hash.alg(), &[&self.hello])
            .map_err(|e| FlowError::new(e, msg_type))?;
        if !hash.ct_eq(&p.hello_device_hash) {
            return Err(FlowError::new(
                VerifyError::Hash("helloDeviceHash"),
                msg_type,
            ));
        }
        // 3. The signature verifies with CUPHOwnerPubKey (257); that key is bound to the
        //    voucher once the entries are checked.
        verify_sign1(
            crypto,
            msg.sign1(),
            msg.owner_key(),
            "TO2.ProveOVHdr",
            msg_type,
        )?;
        // 4. OVHeaderHMac = HMAC(DeviceSecret, OVHeader bytes as sent).
        let hmac = crypto
            .hmac(p.hmac.alg(), ctx.secret, p.header.contents())
            .map_err(|e| FlowError::new(e, msg_type))?;
        if !hmac.ct_eq(&p.hmac) {
            return Err(FlowError::new(VerifyError::HeaderHmac, msg_type));
        }
        // 5. H(OVHeader.OVPubKey) is DCPubKeyHash, and the GUID is DCGuid.
        let header = p.header.value();
        let cred = ctx.credential;
        let key_hash = crypto
            .hash(cred.pub_key_hash.alg(), &[header.manufacturer_key.bytes()])
            .map_err(|e| FlowError::new(e, msg_type))?;
        if !key_hash.ct_eq(&cred.pub_key_hash) {
            return Err(FlowError::new(VerifyError::ManufacturerKeyHash, msg_type));
        }
        if header.guid != cred.guid {
            return Err(FlowError::new(VerifyError::GuidMismatch, msg_type));
        }
        // The owner key is the last entry's: a voucher without entries names no owner.
        if p.num_entries == 0 {
            return Err(FlowError::new(VerifyError::NoEntries, msg_type));
        }
        let chain = EntryChain::new(
            p.header.contents().to_vec(),
            header.clone(),
            p.hmac.to_cbor(),
        );
        let proven = Proven {
            header: header.clone(),
            hmac_alg: p.hmac.alg(),
            num_entries: p.num_entries,
            owner_key: msg.owner_key().clone(),
            prove_dv_nonce: *msg.prove_dv_nonce(),
            xa: p.xa.clone(),
        };
        let out = Outgoing::new(&GetOvNextEntry { entry_num: 0 });
        Ok((
            out,
            State::Entry(Box::new(ExpectEntry {
                proven,
                chain,
                next: 0,
                modules: self.modules,
                to1d: self.to1d,
            })),
        ))
    }
}

impl ExpectEntry {
    /// TO2.OVNextEntry (63): §5.2 steps 6 and 7 for one entry; after the last, steps 8 to 11
    /// and TO2.ProveDevice.
    fn ov_next_entry(
        mut self,
        ctx: &Context<'_>,
        msg_type: MessageType,
        body: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, State), FlowError> {
        let msg: OvNextEntry = plain(msg_type, body)?;
        // 6. The entry is the one asked for.
        if msg.entry_num != self.next {
            return Err(invalid_message(
                Error::invalid(
                    "OVEntryNum",
                    alloc::format!("entry {} sent, {} asked for", msg.entry_num, self.next),
                ),
                msg_type,
            ));
        }
        // 7. The entry chain: signature, hashes, key type.
        self.chain
            .push(ctx.crypto, &msg.entry)
            .map_err(|e| FlowError::new(e, msg_type))?;
        self.next += 1;
        if self.next < self.proven.num_entries {
            let out = Outgoing::new(&GetOvNextEntry {
                entry_num: self.next,
            });
            return Ok((out, State::Entry(Box::new(self))));
        }
        self.prove_device(ctx, msg_type, rng)
    }

    /// §5.2 steps 8 to 11, once every entry is checked.
    fn prove_device(
        self,
        ctx: &Context<'_>,
        msg_type: MessageType,
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, State), FlowError> {
        let crypto = ctx.crypto;
        let Proven {
            header,
            hmac_alg,
            owner_key: cuph_key,
            prove_dv_nonce,
            xa,
            ..
        } = self.proven;
        // 8. The owner key is the last entry's key, and the key that signed ProveOVHdr
        //    (compared as key material, whatever the encodings).
        let owner_key = self.chain.owner_key().clone();
        if !crypto
            .same_key(&owner_key, &cuph_key)
            .map_err(|e| invalid_message(e, msg_type))?
        {
            return Err(FlowError::new(VerifyError::OwnerKeyMismatch, msg_type));
        }
        // 9. Through TO1, the to1d blob is signed by that owner key; if not, assume a man in
        //    the middle.
        if let Some(to1d) = self.to1d {
            to1d.verify(crypto, &owner_key)
                .map_err(|e| invalid_message(e, msg_type))?;
        }
        // 10. The suite suits the key types; finish the key exchange with xA.
        let device_type = ctx
            .signer
            .public_key(PkEnc::X509)
            .map_err(|e| internal(e, msg_type))?
            .pk_type;
        let suite = &ctx.config.kex_suite;
        if !kex_suite_valid(suite, device_type, owner_key.pk_type) {
            return Err(FlowError::new(
                Error::unsupported(alloc::format!(
                    "{suite} with a {device_type} device key and a {} owner key",
                    owner_key.pk_type
                )),
                msg_type,
            ));
        }
        let (xb, secret) =
            kex::respond(suite, &xa, rng).map_err(|e| FlowError::new(e, msg_type))?;
        let keys = SessionKeys::derive(ctx.config.cipher_suite, &secret)
            .map_err(|e| internal(e, msg_type))?;
        let setup_dv_nonce = random_nonce(rng);
        // 11. ProveDevice: EAT with NonceTO2ProveDv, the UEID, EAT-FDO [xB] and −259
        //     NonceTO2SetupDv, signed by the device attestation key.
        let proof = ProveDevice::sign(
            prove_dv_nonce,
            &ctx.credential.guid,
            xb,
            setup_dv_nonce,
            ctx.signer,
        )
        .map_err(|e| internal(e, msg_type))?;
        Ok((
            Outgoing::new(&proof),
            State::Setup(Box::new(ExpectSetup {
                keys,
                header,
                hmac_alg,
                owner_key,
                prove_dv_nonce,
                setup_dv_nonce,
                modules: self.modules,
            })),
        ))
    }
}

impl ExpectSetup {
    /// TO2.SetupDevice (65): §5.4 steps 1 to 4, and TO2.DeviceServiceInfoReady.
    fn setup_device(
        self,
        ctx: &Context<'_>,
        msg_type: MessageType,
        body: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, State), FlowError> {
        let crypto = ctx.crypto;
        let cred = ctx.credential;
        // 1. Decrypt; NonceTO2SetupDv is the one the device sent.
        let msg: SetupDevice = open(&self.keys, msg_type, body)?;
        let p = msg.payload();
        if p.nonce != self.setup_dv_nonce {
            return Err(FlowError::new(
                VerifyError::Nonce("NonceTO2SetupDv"),
                msg_type,
            ));
        }
        // 2. The payload is signed by Owner2Key, proving the owner holds it. go-fdo signs with
        //    the current key and sends that key as Owner2Key, which this accepts too (pitfall 8).
        verify_sign1(
            crypto,
            msg.sign1(),
            p.owner2_key.value(),
            "TO2.SetupDevice",
            msg_type,
        )?;
        // 3. Credential reuse: GUID', RVInfo' and Owner2Key all unchanged.
        let same_owner = crypto
            .same_key(p.owner2_key.value(), &self.owner_key)
            .map_err(|e| FlowError::new(e, msg_type))?;
        let reuse = p.guid == cred.guid && p.rv_info == cred.rv_info && same_owner;
        let (replacement_hmac, replacement) = if reuse {
            if !ctx.config.allow_credential_reuse {
                return Err(FlowError::with_code(
                    Error::invalid(
                        "TO2.SetupDevice",
                        "the owner asks for credential reuse, which this device refuses",
                    ),
                    msg_type,
                    ErrorCode::CRED_REUSE_ERROR,
                ));
            }
            (None, None)
        } else {
            // 4. ReplacementHMac over OVHeader' = [protver, GUID', RVInfo', same DeviceInfo,
            //    Owner2Key, same OVDevCertChainHash], with the secret and HMAC of the voucher.
            let replacement_header = OvHeader {
                protocol_version: self.header.protocol_version,
                guid: p.guid,
                rv_info: p.rv_info.clone(),
                device_info: self.header.device_info.clone(),
                manufacturer_key: p.owner2_key.clone(),
                cert_chain_hash: self.header.cert_chain_hash.clone(),
            };
            let hmac = crypto
                .hmac(self.hmac_alg, ctx.secret, &replacement_header.to_cbor())
                .map_err(|e| internal(e, msg_type))?;
            let new = NewCredential {
                guid: p.guid,
                rv_info: p.rv_info.clone(),
                owner2_key: p.owner2_key.bytes().to_vec(),
            };
            (Some(hmac), Some(new))
        };
        let ready = DeviceServiceInfoReady {
            replacement_hmac,
            max_owner_service_info_size: ctx.config.max_owner_service_info_size,
        };
        let out = seal(&self.keys, &ready, rng, msg_type)?;
        Ok((
            out,
            State::Ready(Box::new(Session {
                keys: self.keys,
                prove_dv_nonce: self.prove_dv_nonce,
                setup_dv_nonce: self.setup_dv_nonce,
                replacement,
                modules: self.modules,
            })),
        ))
    }
}

impl Session {
    /// TO2.OwnerServiceInfoReady (67): the owner's ServiceInfo size; the first
    /// DeviceServiceInfo, devmod first.
    fn owner_service_info_ready(
        self,
        msg_type: MessageType,
        body: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, State), FlowError> {
        let msg: OwnerServiceInfoReady = open(&self.keys, msg_type, body)?;
        let limit = msg.max_device_service_info_size_or_default();
        let mut exchange = DeviceExchange::new(self.modules);
        let (service_info, is_more) = exchange
            .next_message(limit)
            .map_err(|e| FlowError::new(e, msg_type))?;
        let out = seal(
            &self.keys,
            &DeviceServiceInfo {
                is_more,
                service_info,
            },
            rng,
            msg_type,
        )?;
        Ok((
            out,
            State::ServiceInfo(Box::new(ServiceInfoRound {
                keys: self.keys,
                prove_dv_nonce: self.prove_dv_nonce,
                setup_dv_nonce: self.setup_dv_nonce,
                replacement: self.replacement,
                exchange,
                limit,
            })),
        ))
    }
}

impl ServiceInfoRound {
    /// TO2.OwnerServiceInfo (69): hands the owner's ServiceInfo to the modules. When the owner
    /// is done, TO2.Done with NonceTO2ProveDv; when it has more, `[false, []]` to pull it;
    /// otherwise the device's next DeviceServiceInfo.
    fn owner_service_info(
        mut self,
        msg_type: MessageType,
        body: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<(Outgoing, State), FlowError> {
        let msg: OwnerServiceInfo = open(&self.keys, msg_type, body)?;
        let fail = |e: Error| FlowError::new(e, msg_type);
        self.exchange.receive(msg.service_info).map_err(fail)?;
        if msg.is_done {
            let modules = self.exchange.finish().map_err(fail)?;
            let out = seal(
                &self.keys,
                &Done {
                    nonce: self.prove_dv_nonce,
                },
                rng,
                msg_type,
            )?;
            return Ok((
                out,
                State::Done2(Box::new(ExpectDone2 {
                    keys: self.keys,
                    setup_dv_nonce: self.setup_dv_nonce,
                    replacement: self.replacement,
                    modules,
                })),
            ));
        }
        let next = if msg.is_more {
            self.exchange.pull().map_err(fail)?;
            DeviceServiceInfo::default()
        } else {
            let (service_info, is_more) = self.exchange.next_message(self.limit).map_err(fail)?;
            DeviceServiceInfo {
                is_more,
                service_info,
            }
        };
        let out = seal(&self.keys, &next, rng, msg_type)?;
        Ok((out, State::ServiceInfo(Box::new(self))))
    }
}

impl ExpectDone2 {
    /// TO2.Done2 (71): NonceTO2SetupDv is the one the device sent; only then the new
    /// credential comes out (§5.4 steps 5 and 6).
    fn done2<'a>(
        self,
        ctx: &Context<'a>,
        msg_type: MessageType,
        body: &[u8],
    ) -> Result<DeviceStep<'a>, FlowError> {
        let msg: Done2 = open(&self.keys, msg_type, body)?;
        if msg.nonce != self.setup_dv_nonce {
            return Err(FlowError::new(
                VerifyError::Nonce("NonceTO2SetupDv"),
                msg_type,
            ));
        }
        let mut credential = ctx.credential.clone();
        let reused = self.replacement.is_none();
        if let Some(new) = self.replacement {
            credential.guid = new.guid;
            credential.rv_info = new.rv_info;
            // DCPubKeyHash = H(CBOR(Owner2Key)), with the credential's hash algorithm.
            credential.pub_key_hash = ctx
                .crypto
                .hash(credential.pub_key_hash.alg(), &[&new.owner2_key])
                .map_err(|e| internal(e, msg_type))?;
        }
        Ok(DeviceStep::Finished(Box::new(DeviceOutcome {
            credential,
            reused,
            modules: self.modules,
        })))
    }
}
