//! One side's part of the ServiceInfo rounds (FDO reference §2.5): what it received is put
//! back together and dispatched to its modules, what they answer is queued and cut to the
//! peer's size limit. The TO2 flows ([`crate::flows::to2`]) drive these and own the message
//! rules (IsMoreServiceInfo, IsDone, Done).
//!
//! * [`DeviceExchange`] sends devmod first, then whatever the device's modules answer.
//! * [`OwnerExchange`] reads devmod, asks each owner module in turn what to send (the next one
//!   starts when the previous one is done) and says when everything is done. It encodes to
//!   CBOR: the relying party stores it, within the TO2 session state, between requests.
//!
//! Both count rounds and give up after [`MAX_ROUNDS`] (go-fdo stops at a million).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Error;
use crate::cbor::{Cbor, Decoder, Encoder};
use crate::serviceinfo::{
    ACTIVE, Chunker, DEVMOD, DeviceModules, Devmod, DevmodParser, ModuleMessage, OwnerModules,
    Reassembler, key, split_key,
};
use crate::types::{ServiceInfo, ServiceInfoKv};

/// Most ServiceInfo messages either side sends in one TO2 session.
pub const MAX_ROUNDS: u32 = 100_000;

fn count_round(rounds: &mut u32) -> Result<(), Error> {
    *rounds += 1;
    if *rounds > MAX_ROUNDS {
        return Err(Error::invalid(
            "ServiceInfo",
            alloc::format!("more than {MAX_ROUNDS} rounds"),
        ));
    }
    Ok(())
}

fn queue(chunker: &mut Chunker, module: &str, messages: Vec<ModuleMessage>) {
    for m in messages {
        chunker.push(ServiceInfoKv {
            key: key(module, &m.message),
            value: m.value,
        });
    }
}

/// The device's side of the ServiceInfo rounds. It lives in memory for one TO2 session.
#[derive(Debug)]
pub struct DeviceExchange {
    modules: DeviceModules,
    chunker: Chunker,
    reassembler: Reassembler,
    rounds: u32,
}

impl DeviceExchange {
    /// Starts the exchange with devmod queued first.
    pub fn new(modules: DeviceModules) -> Self {
        let mut chunker = Chunker::new();
        for kv in modules.devmod().to_kvs() {
            chunker.push(kv);
        }
        Self {
            modules,
            chunker,
            reassembler: Reassembler::default(),
            rounds: 0,
        }
    }

    /// Takes the ServiceInfo of one owner message: reassembles, dispatches to the modules and
    /// queues their answers. A module the device does not have gets `module:active = false`
    /// in reply to `module:active`; its other messages, and any addressed to devmod, are
    /// ignored.
    pub fn receive(&mut self, service_info: ServiceInfo) -> Result<(), Error> {
        for kv in service_info.0 {
            for kv in self.reassembler.push(kv)? {
                let (module, message) = split_key(&kv.key)?;
                if module == DEVMOD {
                    continue;
                }
                match self.modules.get_mut(module) {
                    Some(m) => {
                        let answers = m.receive(message, &kv.value)?;
                        queue(&mut self.chunker, module, answers);
                    }
                    None if message == ACTIVE => {
                        queue(
                            &mut self.chunker,
                            module,
                            alloc::vec![ModuleMessage::new(ACTIVE, &false)],
                        );
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }

    /// The ServiceInfo of the next device message for an owner that accepts `limit` bytes, and
    /// whether more is queued behind it (IsMoreServiceInfo). The modules are asked for
    /// anything they send unprompted first.
    pub fn next_message(&mut self, limit: u16) -> Result<(ServiceInfo, bool), Error> {
        count_round(&mut self.rounds)?;
        let mut produced: Vec<(String, Vec<ModuleMessage>)> = Vec::new();
        for m in self.modules.iter_mut() {
            let out = m.produce()?;
            if !out.is_empty() {
                produced.push((m.name().to_string(), out));
            }
        }
        for (module, out) in produced {
            queue(&mut self.chunker, &module, out);
        }
        let si = self.chunker.next_message(limit)?;
        Ok((si, !self.chunker.is_empty()))
    }

    /// An empty device message, as the device sends to pull the rest of what the owner has
    /// (`[false, []]`); it counts as a round.
    pub fn pull(&mut self) -> Result<(), Error> {
        count_round(&mut self.rounds)
    }

    /// Ends the exchange, failing when a value from the owner was left unfinished; gives the
    /// modules back.
    pub fn finish(self) -> Result<DeviceModules, Error> {
        self.reassembler.finish()?;
        Ok(self.modules)
    }

    /// The modules.
    pub fn modules(&self) -> &DeviceModules {
        &self.modules
    }
}

/// Where an owner module stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Running: it may send and receive.
    Active,
    /// Finished, declined by [`crate::serviceinfo::OwnerModule::begin`], or refused by the
    /// device (`module:active = false`).
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ModuleState {
    name: String,
    status: Status,
    saved: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DevmodPhase {
    Receiving(DevmodParser),
    Complete(Devmod),
}

/// What the owner sends next: one OwnerServiceInfo's ServiceInfo and flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerTurn {
    /// The ServiceInfo.
    pub service_info: ServiceInfo,
    /// IsMoreServiceInfo: more is queued; the device pulls it with an empty message.
    pub is_more: bool,
    /// IsDone: every module is done and nothing is queued.
    pub is_done: bool,
}

/// The owner's side of the ServiceInfo rounds.
///
/// It encodes to CBOR, with the saved state of every module, so the relying party can store
/// it between requests; each call takes the session's freshly built [`OwnerModules`] and
/// restores their state first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerExchange {
    chunker: Chunker,
    reassembler: Reassembler,
    devmod: DevmodPhase,
    modules: Vec<ModuleState>,
    rounds: u32,
}

impl Default for OwnerExchange {
    fn default() -> Self {
        Self::new()
    }
}

impl OwnerExchange {
    /// A new exchange, waiting for devmod.
    pub fn new() -> Self {
        Self {
            chunker: Chunker::new(),
            reassembler: Reassembler::default(),
            devmod: DevmodPhase::Receiving(DevmodParser::new()),
            modules: Vec::new(),
            rounds: 0,
        }
    }

    /// The device's devmod, once complete.
    pub fn devmod(&self) -> Option<&Devmod> {
        match &self.devmod {
            DevmodPhase::Complete(d) => Some(d),
            DevmodPhase::Receiving(_) => None,
        }
    }

    /// What the owner module `name` last saved ([`OwnerModule::save`]), if the module runs in
    /// this exchange. The relying party reads it at TO2.Done, when the modules are no longer
    /// built, to act on what a module found out (for instance a key to pin).
    ///
    /// [`OwnerModule::save`]: crate::serviceinfo::OwnerModule::save
    pub fn saved_state(&self, name: &str) -> Option<&[u8]> {
        self.modules
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.saved.as_slice())
    }

    fn restore(&self, modules: &mut OwnerModules) -> Result<(), Error> {
        for s in &self.modules {
            if let Some(m) = modules.get_mut(&s.name) {
                m.restore(&s.saved)?;
            }
        }
        Ok(())
    }

    fn save(&mut self, modules: &mut OwnerModules) {
        for s in &mut self.modules {
            if let Some(m) = modules.get_mut(&s.name) {
                s.saved = m.save();
                if m.is_done() {
                    s.status = Status::Done;
                }
            }
        }
    }

    /// Ends devmod: parses it (failing when a required field is missing) and asks every module
    /// whether it runs for this device.
    fn complete_devmod(&mut self, modules: &mut OwnerModules) -> Result<(), Error> {
        let DevmodPhase::Receiving(parser) = &self.devmod else {
            return Ok(());
        };
        let devmod = parser.finish()?;
        let names: Vec<String> = modules.names().map(ToString::to_string).collect();
        for name in names {
            let Some(m) = modules.get_mut(&name) else {
                continue;
            };
            let status = if m.begin(&devmod)? && !m.is_done() {
                Status::Active
            } else {
                Status::Done
            };
            self.modules.push(ModuleState {
                name,
                status,
                saved: Vec::new(),
            });
        }
        self.devmod = DevmodPhase::Complete(devmod);
        Ok(())
    }

    /// Takes the ServiceInfo of one DeviceServiceInfo. devmod ends with the first message of
    /// another module, or with the first device message that has IsMoreServiceInfo false.
    pub fn receive(
        &mut self,
        modules: &mut OwnerModules,
        service_info: ServiceInfo,
        is_more: bool,
    ) -> Result<(), Error> {
        self.restore(modules)?;
        for kv in service_info.0 {
            for kv in self.reassembler.push(kv)? {
                self.dispatch(modules, &kv)?;
            }
        }
        if !is_more {
            self.complete_devmod(modules)?;
        }
        self.save(modules);
        Ok(())
    }

    fn dispatch(&mut self, modules: &mut OwnerModules, kv: &ServiceInfoKv) -> Result<(), Error> {
        let (module, message) = split_key(&kv.key)?;
        if module == DEVMOD {
            if let DevmodPhase::Receiving(parser) = &mut self.devmod {
                parser.accept(message, &kv.value)?;
            }
            // devmod repeated after it ended is ignored.
            return Ok(());
        }
        self.complete_devmod(modules)?;
        let Some(state) = self.modules.iter_mut().find(|s| s.name == module) else {
            return Ok(()); // a module this owner does not have
        };
        if state.status != Status::Active {
            return Ok(());
        }
        if message == ACTIVE && kv.value == false.to_cbor() {
            // The device does not have (or refuses) the module.
            state.status = Status::Done;
            return Ok(());
        }
        if let Some(m) = modules.get_mut(module) {
            m.receive(message, &kv.value)?;
        }
        Ok(())
    }

    /// The owner's next OwnerServiceInfo for a device that accepts `limit` bytes: what is
    /// queued, else what the first running module produces (moving on to the next module when
    /// one is done).
    pub fn next_message(
        &mut self,
        modules: &mut OwnerModules,
        limit: u16,
    ) -> Result<OwnerTurn, Error> {
        count_round(&mut self.rounds)?;
        self.restore(modules)?;
        self.complete_devmod(modules)?;
        while self.chunker.is_empty() {
            let Some(state) = self.modules.iter_mut().find(|s| s.status == Status::Active) else {
                break;
            };
            let Some(m) = modules.get_mut(&state.name) else {
                state.status = Status::Done;
                continue;
            };
            let out = m.produce()?;
            let done = m.is_done();
            let waiting = out.is_empty() && !done;
            if done {
                state.status = Status::Done;
            }
            let name = state.name.clone();
            queue(&mut self.chunker, &name, out);
            if waiting {
                break;
            }
        }
        let service_info = self.chunker.next_message(limit)?;
        let is_more = !self.chunker.is_empty();
        let is_done = !is_more
            && self.reassembler.is_idle()
            && self.modules.iter().all(|s| s.status == Status::Done);
        self.save(modules);
        Ok(OwnerTurn {
            service_info,
            is_more,
            is_done,
        })
    }

    /// Counts an empty OwnerServiceInfo (`[false, false, []]`, the answer to a device message
    /// with IsMoreServiceInfo true) as a round.
    pub fn pull(&mut self) -> Result<(), Error> {
        count_round(&mut self.rounds)
    }

    /// Fails when a value from the device was left unfinished.
    pub fn finish(&self) -> Result<(), Error> {
        self.reassembler.finish()
    }
}

const PHASE_RECEIVING: u64 = 0;
const PHASE_COMPLETE: u64 = 1;

/// `[chunker, reassembler, [0, devmod parser] / [1, devmod], [* [name, done, saved]], rounds]`
impl Cbor for OwnerExchange {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, Error> {
        d.array_of(5, "owner ServiceInfo state (array of 5)")?;
        let chunker = Chunker::decode(d)?;
        let reassembler = Reassembler::decode(d)?;
        d.array_of(2, "devmod phase [phase, value]")?;
        let devmod = match d.uint("devmod phase")? {
            PHASE_RECEIVING => DevmodPhase::Receiving(DevmodParser::decode(d)?),
            PHASE_COMPLETE => DevmodPhase::Complete(Devmod::decode(d)?),
            other => {
                return Err(Error::invalid(
                    "owner ServiceInfo state",
                    alloc::format!("devmod phase {other}"),
                ));
            }
        };
        let n = d.array("owner module states")?;
        if n > d.remaining().len() as u64 {
            return Err(Error::invalid(
                "owner module states",
                "count beyond the input",
            ));
        }
        let mut modules = Vec::new();
        for _ in 0..n {
            d.array_of(3, "owner module state [name, done, saved]")?;
            let name = d.text("module name")?.to_string();
            let status = if d.bool("module done")? {
                Status::Done
            } else {
                Status::Active
            };
            let saved = d.bytes("module saved state")?.to_vec();
            modules.push(ModuleState {
                name,
                status,
                saved,
            });
        }
        let rounds = d.uint_as("ServiceInfo rounds")?;
        Ok(Self {
            chunker,
            reassembler,
            devmod,
            modules,
            rounds,
        })
    }

    fn encode(&self, e: &mut Encoder) {
        e.array(5).encode(&self.chunker).encode(&self.reassembler);
        match &self.devmod {
            DevmodPhase::Receiving(p) => e.array(2).uint(PHASE_RECEIVING).encode(p),
            DevmodPhase::Complete(d) => e.array(2).uint(PHASE_COMPLETE).encode(d),
        };
        e.array(self.modules.len());
        for s in &self.modules {
            e.array(3)
                .text(&s.name)
                .bool(s.status == Status::Done)
                .bytes(&s.saved);
        }
        e.uint(u64::from(self.rounds));
    }
}

#[cfg(test)]
mod tests;
