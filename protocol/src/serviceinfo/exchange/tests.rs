//! The ServiceInfo rounds between a device and an owner, in memory, with the owner's state
//! encoded and decoded between every request as the relying party's database would.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use super::*;
use crate::serviceinfo::devmod::SerialNumber;
use crate::serviceinfo::{DeviceModule, OwnerModule};

fn devmod() -> Devmod {
    Devmod {
        active: true,
        os: "Linux".into(),
        arch: "x86_64".into(),
        version: "6.1".into(),
        device: "exchange test".into(),
        sn: Some(SerialNumber::Text("X1".into())),
        sep: "/".into(),
        bin: "x86_64".into(),
        ..Devmod::default()
    }
}

/// Owner side of "vouch.blob": sends a 3000-byte value, waits for the device to acknowledge
/// its length, then is done. Its progress is saved between requests.
#[derive(Default)]
struct OwnerBlob {
    phase: u8, // 0: to send, 1: waiting for the ack, 2: done
    acked: Option<u64>,
}

const BLOB_LEN: usize = 3000;

impl OwnerModule for OwnerBlob {
    fn name(&self) -> &str {
        "vouch.blob"
    }
    fn receive(&mut self, message: &str, value: &[u8]) -> Result<(), Error> {
        if message == "ack" && self.phase == 1 {
            let mut d = Decoder::new(value);
            self.acked = Some(d.uint("ack")?);
            self.phase = 2;
        }
        Ok(())
    }
    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error> {
        if self.phase != 0 {
            return Ok(Vec::new());
        }
        self.phase = 1;
        let mut e = Encoder::new();
        e.bytes(&alloc::vec![0x5a; BLOB_LEN]);
        Ok(alloc::vec![
            ModuleMessage::new("active", &true),
            ModuleMessage::encoded("blob", e.into_bytes()),
        ])
    }
    fn is_done(&self) -> bool {
        self.phase == 2
    }
    fn save(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.array(2).uint(u64::from(self.phase));
        match self.acked {
            Some(n) => e.uint(n),
            None => e.null(),
        };
        e.into_bytes()
    }
    fn restore(&mut self, saved: &[u8]) -> Result<(), Error> {
        let mut d = Decoder::new(saved);
        d.array_of(2, "blob state")?;
        self.phase = d.uint_as("phase")?;
        self.acked = if d.try_null() {
            None
        } else {
            Some(d.uint("acked")?)
        };
        Ok(())
    }
}

fn uint(n: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.uint(n);
    e.into_bytes()
}

/// Owner side of a module the device does not have: runs whatever devmod says, sends
/// `active = true`, and stops when the device answers `false`.
#[derive(Default)]
struct OwnerUnknown {
    sent: bool,
}

impl OwnerModule for OwnerUnknown {
    fn name(&self) -> &str {
        "fdo.notondevice"
    }
    fn begin(&mut self, _: &Devmod) -> Result<bool, Error> {
        Ok(true)
    }
    fn receive(&mut self, _: &str, _: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error> {
        if self.sent {
            return Ok(Vec::new());
        }
        self.sent = true;
        Ok(alloc::vec![ModuleMessage::new("active", &true)])
    }
    fn is_done(&self) -> bool {
        false
    }
    fn save(&self) -> Vec<u8> {
        self.sent.to_cbor()
    }
    fn restore(&mut self, saved: &[u8]) -> Result<(), Error> {
        self.sent = bool::from_cbor(saved)?;
        Ok(())
    }
}

/// Device side of "vouch.blob": acknowledges the blob with its length.
struct DeviceBlob {
    received: Option<usize>,
}

impl DeviceModule for DeviceBlob {
    fn name(&self) -> &str {
        "vouch.blob"
    }
    fn receive(&mut self, message: &str, value: &[u8]) -> Result<Vec<ModuleMessage>, Error> {
        if message != "blob" {
            return Ok(Vec::new());
        }
        let mut d = Decoder::new(value);
        let len = d.bytes("blob")?.len();
        self.received = Some(len);
        Ok(alloc::vec![ModuleMessage::encoded("ack", uint(len as u64))])
    }
}

/// A device module the owner does not know, which speaks first.
struct Telemetry {
    sent: bool,
}

impl DeviceModule for Telemetry {
    fn name(&self) -> &str {
        "acme.telemetry"
    }
    fn receive(&mut self, _: &str, _: &[u8]) -> Result<Vec<ModuleMessage>, Error> {
        Ok(Vec::new())
    }
    fn produce(&mut self) -> Result<Vec<ModuleMessage>, Error> {
        if self.sent {
            return Ok(Vec::new());
        }
        self.sent = true;
        Ok(alloc::vec![ModuleMessage::new("boot", &String::from("ok"))])
    }
}

fn owner_modules() -> OwnerModules {
    OwnerModules::new()
        .with(Box::new(OwnerBlob::default()))
        .with(Box::new(OwnerUnknown::default()))
}

/// Runs the rounds as TO2 does; returns the owner's final state, the device's modules and the
/// number of round trips.
fn run(limit: u16) -> (OwnerExchange, DeviceModules, usize) {
    let device = DeviceModules::new(devmod())
        .with(Box::new(DeviceBlob { received: None }))
        .with(Box::new(Telemetry { sent: false }));
    let mut dx = DeviceExchange::new(device);
    let mut stored = OwnerExchange::new().to_cbor();
    let mut messages = 0;
    loop {
        let (si, more) = dx.next_message(limit).unwrap();
        messages += 1;
        let mut ox = OwnerExchange::from_cbor(&stored).unwrap();
        let mut mods = owner_modules();
        ox.receive(&mut mods, si, more).unwrap();
        if more {
            ox.pull().unwrap();
            stored = ox.to_cbor();
            continue;
        }
        let mut turn = ox.next_message(&mut mods, limit).unwrap();
        stored = ox.to_cbor();
        dx.receive(turn.service_info.clone()).unwrap();
        while turn.is_more {
            dx.pull().unwrap();
            messages += 1;
            let mut ox = OwnerExchange::from_cbor(&stored).unwrap();
            let mut mods = owner_modules();
            ox.receive(&mut mods, ServiceInfo::default(), false)
                .unwrap();
            turn = ox.next_message(&mut mods, limit).unwrap();
            stored = ox.to_cbor();
            dx.receive(turn.service_info.clone()).unwrap();
        }
        if turn.is_done {
            break;
        }
        assert!(messages < 100, "the exchange does not end");
    }
    let ox = OwnerExchange::from_cbor(&stored).unwrap();
    ox.finish().unwrap();
    (ox, dx.finish().unwrap(), messages)
}

#[test]
fn devmod_blob_and_unknown_modules() {
    let (ox, device, _) = run(1300);
    // The owner has the device's devmod, with the module list the registry wrote.
    let got = ox.devmod().unwrap();
    assert_eq!(got.os, "Linux");
    assert_eq!(got.modules, ["devmod", "vouch.blob", "acme.telemetry"]);
    // The blob arrived whole although no message could hold it.
    let mut modules = device.into_modules();
    assert_eq!(modules[0].name(), "vouch.blob");
    let ack = modules[0].receive("blob", &[0x40]).unwrap();
    assert_eq!(ack, [ModuleMessage::encoded("ack", uint(0))]);
    // The owner module saw the acknowledgement of all 3000 bytes (its saved state says so).
    let saved = &ox
        .modules
        .iter()
        .find(|s| s.name == "vouch.blob")
        .unwrap()
        .saved;
    let mut blob = OwnerBlob::default();
    blob.restore(saved).unwrap();
    assert_eq!(blob.acked, Some(BLOB_LEN as u64));
    // The module the device does not have ended with the device's `active = false`.
    let unknown = ox
        .modules
        .iter()
        .find(|s| s.name == "fdo.notondevice")
        .unwrap();
    assert_eq!(unknown.status, Status::Done);
}

#[test]
fn a_smaller_limit_takes_more_messages() {
    let (_, _, at_1300) = run(1300);
    let (ox, _, at_400) = run(400);
    assert!(at_400 > at_1300, "{at_400} <= {at_1300}");
    assert!(ox.devmod().is_some());
}

#[test]
fn device_answers_unknown_modules_with_active_false() {
    let mut dx = DeviceExchange::new(DeviceModules::new(devmod()));
    let _devmod = dx.next_message(1300).unwrap();
    dx.receive(ServiceInfo(alloc::vec![
        crate::serviceinfo::kv("fdo.command", "active", &true),
        crate::serviceinfo::kv("fdo.command", "command", &String::from("ls")),
        crate::serviceinfo::kv("devmod", "os", &String::from("ignored")),
    ]))
    .unwrap();
    let (si, more) = dx.next_message(1300).unwrap();
    assert!(!more);
    assert_eq!(
        si.0,
        [crate::serviceinfo::kv("fdo.command", "active", &false)]
    );
}

#[test]
fn owner_refuses_incomplete_devmod() {
    let mut ox = OwnerExchange::new();
    let mut kvs = devmod().to_kvs();
    kvs.retain(|kv| kv.key != "devmod:bin");
    let err = ox
        .receive(&mut owner_modules(), ServiceInfo(kvs), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("devmod:bin"), "{err}");
    // Nothing at all is not a devmod either.
    let mut ox = OwnerExchange::new();
    assert!(
        ox.receive(&mut owner_modules(), ServiceInfo::default(), false)
            .is_err()
    );
}

#[test]
fn owner_state_refuses_garbage() {
    assert!(OwnerExchange::from_cbor(&[0x80]).is_err());
    let mut bytes = OwnerExchange::new().to_cbor();
    // devmod phase 7
    let at = bytes.iter().position(|b| *b == 0x82).unwrap();
    bytes[at + 1] = 0x07;
    assert!(OwnerExchange::from_cbor(&bytes).is_err());
}

#[test]
fn saved_state_is_what_each_module_last_saved() {
    let (ox, _, _) = run(1300);
    // Read back from the stored exchange, as the relying party does at TO2.Done.
    let mut blob = OwnerBlob::default();
    blob.restore(ox.saved_state("vouch.blob").unwrap()).unwrap();
    assert_eq!((blob.phase, blob.acked), (2, Some(BLOB_LEN as u64)));
    assert_eq!(
        ox.saved_state("fdo.notondevice"),
        Some(true.to_cbor().as_slice())
    );
    // devmod is built in, and a module the owner does not run has no state.
    assert_eq!(ox.saved_state("devmod"), None);
    assert_eq!(ox.saved_state("acme.telemetry"), None);
    assert_eq!(OwnerExchange::new().saved_state("vouch.blob"), None);
}

/// A device module with a result to read after the exchange.
struct Counter(u32);

impl DeviceModule for Counter {
    fn name(&self) -> &str {
        "vouch.counter"
    }
    fn receive(&mut self, _: &str, _: &[u8]) -> Result<Vec<ModuleMessage>, Error> {
        self.0 += 1;
        Ok(Vec::new())
    }
    fn as_any_mut(&mut self) -> Option<&mut dyn core::any::Any> {
        Some(self)
    }
}

#[test]
fn a_device_module_result_is_read_back_by_its_type() {
    let mut dx = DeviceExchange::new(
        DeviceModules::new(devmod())
            .with(Box::new(Counter(0)))
            .with(Box::new(DeviceBlob { received: None })),
    );
    dx.receive(ServiceInfo(alloc::vec![
        crate::serviceinfo::kv("vouch.counter", "tick", &true),
        crate::serviceinfo::kv("vouch.counter", "tick", &true),
    ]))
    .unwrap();
    let mut modules = dx.finish().unwrap();
    let counter = modules
        .get_mut("vouch.counter")
        .and_then(|m| m.as_any_mut())
        .and_then(|a| a.downcast_mut::<Counter>())
        .unwrap();
    assert_eq!(counter.0, 2);
    // A module that does not offer itself cannot be read back.
    assert!(
        modules
            .get_mut("vouch.blob")
            .and_then(|m| m.as_any_mut())
            .is_none()
    );
}
