//! The rendezvous role: TO0 (owners register where their devices should go) and TO1 (devices
//! ask where their owner is), over the FDO HTTP binding, with every session in the [`Store`].
//!
//! Each request loads its session by bearer token, runs one step of the sans-IO state machine
//! from `vouch_protocol::flows`, and writes the result back in the same call; nothing survives in
//! process memory between requests, so any instance sharing the store can take the next message.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::RustCrypto;
use vouch_protocol::flows::{FlowError, Outgoing, to0, to1};
use vouch_protocol::messages::{ErrorMessage, MessageType};
use vouch_protocol::{Error, ErrorCode};

use crate::fdo_http::{FdoHandler, FdoRequest, FdoResponse};
use crate::store::{Registration, Store, StoreError};

/// How long a TO0 or TO1 session may take between messages, in seconds.
pub const SESSION_TTL: i64 = 60;

/// Settings of the rendezvous role.
#[derive(Clone, Debug)]
pub struct RendezvousConfig {
    /// The longest registration granted, in seconds, whatever the owner asks for.
    pub max_wait_seconds: u32,
}

impl Default for RendezvousConfig {
    fn default() -> Self {
        Self {
            max_wait_seconds: 24 * 3600,
        }
    }
}

/// The source of "now" (unix seconds); tests pass a fixed clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    })
}

/// The rendezvous role.
pub struct Rendezvous {
    store: Arc<dyn Store>,
    config: RendezvousConfig,
    clock: Clock,
    crypto: RustCrypto,
}

const TO0: &str = "to0";
const TO1: &str = "to1";

impl Rendezvous {
    /// A rendezvous role over `store`.
    pub fn new(store: Arc<dyn Store>, config: RendezvousConfig, clock: Clock) -> Self {
        Self {
            store,
            config,
            clock,
            crypto: RustCrypto,
        }
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Handles TO0 and TO1 messages (20, 22, 30, 32); anything else is refused.
    pub async fn serve(&self, r: FdoRequest) -> FdoResponse {
        let prev = r.msg_type;
        match self.step(r).await {
            Ok(resp) => resp,
            Err(e) => FdoResponse::Error(e),
        }
        .or_prev(prev)
    }

    async fn step(&self, r: FdoRequest) -> Result<FdoResponse, ErrorMessage> {
        let now = self.now();
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        match r.msg_type {
            MessageType::TO0_HELLO => {
                let (out, state) = to0::rv_hello(r.msg_type, &r.body, &mut rng).map_err(flow)?;
                self.open(TO0, &state.to_cbor(), out, now).await
            }
            MessageType::TO0_OWNER_SIGN => {
                let (token, session) = self.session(&r, TO0, now).await?;
                let state =
                    to0::RvTo0State::from_cbor(&session).map_err(|e| internal(e, r.msg_type))?;
                let result = to0::rv_owner_sign(
                    state,
                    r.msg_type,
                    &r.body,
                    &self.crypto,
                    now as u64,
                    self.config.max_wait_seconds,
                );
                // The session is over whatever the outcome: a failed TO0 starts again at Hello.
                let _ = self.store.delete_session(&token).await;
                let (out, reg) = result.map_err(flow)?;
                let registration = Registration {
                    guid: reg.guid,
                    to1d: reg.to1d,
                    voucher: reg.voucher,
                    expires_at: reg.expires_at as i64,
                };
                self.store
                    .upsert_registration(&registration, now)
                    .await
                    .map_err(|e| store_error(e, r.msg_type))?;
                Ok(reply(out, None))
            }
            MessageType::TO1_HELLO_RV => {
                let guid = to1::hello_rv_guid(r.msg_type, &r.body).map_err(flow)?;
                let registration = match self.store.get_registration(guid, now).await {
                    Ok(reg) => Some(to0::Registration {
                        guid: reg.guid,
                        to1d: reg.to1d,
                        voucher: reg.voucher,
                        expires_at: reg.expires_at.max(0) as u64,
                    }),
                    Err(StoreError::NotFound(_)) => None,
                    Err(e) => return Err(store_error(e, r.msg_type)),
                };
                let (out, state) = to1::rv_hello_rv(
                    r.msg_type,
                    &r.body,
                    registration.as_ref(),
                    now as u64,
                    &mut rng,
                )
                .map_err(flow)?;
                self.open(TO1, &state.to_cbor(), out, now).await
            }
            MessageType::TO1_PROVE_TO_RV => {
                let (token, session) = self.session(&r, TO1, now).await?;
                let state =
                    to1::RvTo1State::from_cbor(&session).map_err(|e| internal(e, r.msg_type))?;
                let result = to1::rv_prove_to_rv(state, r.msg_type, &r.body, &self.crypto);
                let _ = self.store.delete_session(&token).await;
                Ok(reply(result.map_err(flow)?, None))
            }
            other => Err(ErrorMessage::new(
                ErrorCode::MESSAGE_BODY_ERROR,
                other,
                "not a message the rendezvous role serves",
            )),
        }
    }

    /// Starts a session for the first message of a protocol and answers with its token.
    async fn open(
        &self,
        protocol: &str,
        state: &[u8],
        out: Outgoing,
        now: i64,
    ) -> Result<FdoResponse, ErrorMessage> {
        let token = new_token();
        self.store
            .create_session(&token, protocol, state, now + SESSION_TTL)
            .await
            .map_err(|e| store_error(e, out.msg_type))?;
        Ok(reply(out, Some(token)))
    }

    /// Loads the session a later message names with its token.
    async fn session(
        &self,
        r: &FdoRequest,
        protocol: &str,
        now: i64,
    ) -> Result<(String, Vec<u8>), ErrorMessage> {
        let bad_token = || {
            ErrorMessage::new(
                ErrorCode::INVALID_JWT_TOKEN,
                r.msg_type,
                "missing, unknown or expired token",
            )
        };
        let token = r.token.clone().ok_or_else(bad_token)?;
        match self.store.load_session(&token, now).await {
            Ok(s) if s.protocol == protocol => Ok((token, s.state)),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(bad_token()),
            Err(e) => Err(store_error(e, r.msg_type)),
        }
    }
}

#[async_trait::async_trait]
impl FdoHandler for Rendezvous {
    async fn handle(&self, request: FdoRequest) -> FdoResponse {
        self.serve(request).await
    }
}

trait OrPrev {
    fn or_prev(self, prev: MessageType) -> Self;
}

impl OrPrev for FdoResponse {
    /// Error messages always name the message that caused them.
    fn or_prev(self, prev: MessageType) -> Self {
        match self {
            FdoResponse::Error(mut e) => {
                e.prev_message = prev;
                FdoResponse::Error(e)
            }
            ok => ok,
        }
    }
}

fn reply(out: Outgoing, token: Option<String>) -> FdoResponse {
    FdoResponse::Message {
        msg_type: out.msg_type,
        body: out.body,
        token,
    }
}

fn flow(e: FlowError) -> ErrorMessage {
    e.to_message()
}

fn internal(e: Error, prev: MessageType) -> ErrorMessage {
    tracing_log(&e.to_string());
    ErrorMessage::new(ErrorCode::INTERNAL_SERVER_ERROR, prev, "internal error")
}

fn store_error(e: StoreError, prev: MessageType) -> ErrorMessage {
    tracing_log(&e.to_string());
    ErrorMessage::new(ErrorCode::INTERNAL_SERVER_ERROR, prev, "internal error")
}

/// Internal failures are logged on the server and hidden from the peer.
fn tracing_log(what: &str) {
    tracing::error!(role = "rendezvous", error = what, "internal error");
}

/// A fresh bearer token: 32 random bytes, hex.
fn new_token() -> String {
    let mut b = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut b);
    hex::encode(b)
}
