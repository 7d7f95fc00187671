//! TO2 against peers shaped like fdo-rs and go-fdo (FDO reference §6, "Interop pitfalls"):
//! what they send is rebuilt here from the reference's facts, on the wire between our device
//! and our owner, and the run must still finish (or fail exactly where the check says).

use alloc::vec::Vec;

use super::*;
use crate::eat::{Eat, EatClaims, EatHeaders, UeidLabel};
use crate::error::VerifyError;
use crate::messages::to2::{
    DeviceServiceInfo, HelloDevice, OwnerServiceInfo, ProveDevice, ProveOvHdr,
};

/// `256: bstr(17) 0x01…`, the start of the UEID claim our device writes.
const UEID_256: [u8; 5] = [0x19, 0x01, 0x00, 0x51, 0x01];
/// `11: bstr(17) 0x01…`, the same claim under fdo-rs' key.
const UEID_11: [u8; 3] = [0x0b, 0x51, 0x01];

/// ProveDevice re-signed by the device key with its UEID moved to claim key 11, as fdo-rs
/// v0.5.6 writes it; `guid` replaces the GUID inside the UEID when given.
fn with_ueid_under_11(body: &[u8], guid: Option<Guid>, device_key: &SigningKey) -> Vec<u8> {
    let msg = ProveDevice::from_cbor(body).unwrap();
    let claims = msg.eat().sign1().payload();
    let at = claims
        .windows(UEID_256.len())
        .position(|w| w == UEID_256)
        .expect("our device writes the UEID under 256");
    let mut moved = claims[..at].to_vec();
    moved.extend_from_slice(&UEID_11);
    let guid_at = moved.len();
    moved.extend_from_slice(&claims[at + UEID_256.len()..]);
    if let Some(g) = guid {
        moved[guid_at..guid_at + 16].copy_from_slice(&g.0);
    }
    let claims = EatClaims::from_cbor(&moved).unwrap();
    assert_eq!(claims.ueid_label(), UeidLabel::Legacy);
    let headers = EatHeaders {
        nonce: Some(*msg.setup_dv_nonce()),
        maroe_prefix: None,
    };
    let eat = Eat::sign(claims, &headers, device_key).unwrap();
    // The claims went out with key 11 and nothing under 256.
    assert_eq!(eat.sign1().payload(), &moved[..]);
    eat.to_cbor()
}

/// Pitfall 1: an fdo-rs device's EAT names its UEID under claim key 11; the owner reads it
/// there, and still checks it.
#[test]
fn fdo_rs_eat_with_ueid_under_key_11() {
    let w = world(PkType::SECP256R1);
    let r = Run::resale(&w, PkType::SECP256R1);
    run(&r, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_DEVICE {
            *m.body = with_ueid_under_11(m.body, None, &w.device_key);
        }
    })
    .unwrap();
    // The same claim with another GUID is refused: key 11 is read, not skipped.
    let err = run(&r, &mut |m| {
        if m.msg_type == MessageType::TO2_PROVE_DEVICE {
            *m.body = with_ueid_under_11(m.body, Some(Guid([0x66; 16])), &w.device_key);
        }
    })
    .err()
    .unwrap();
    err.assert(
        false,
        MessageType::TO2_PROVE_DEVICE,
        ErrorCode::INVALID_MESSAGE_ERROR,
        Error::Verify(VerifyError::Ueid),
    );
}

/// Pitfall 6: fdo-rs advertises 17 as maxDeviceMessageSize (in HelloDevice) and as
/// maxOwnerMessageSize (in ProveOVHdr). Neither side refuses it, and neither cuts its
/// messages down to 17 bytes: the limits that shape ServiceInfo are the ServiceInfo sizes.
#[test]
fn message_size_17_from_fdo_rs_is_neither_refused_nor_enforced() {
    let w = world(PkType::SECP256R1);
    let mut r = Run::resale(&w, PkType::SECP256R1);
    r.device.max_message_size = 17;
    r.owner_config.max_message_size = 17;
    let mut advertised = Vec::new();
    let (mut largest_to_device, mut largest_to_owner) = (0, 0);
    let done = run(&r, &mut |m| match m.msg_type {
        MessageType::TO2_HELLO_DEVICE => {
            advertised.push(HelloDevice::from_cbor(m.body).unwrap().max_message_size);
        }
        MessageType::TO2_PROVE_OV_HDR => {
            let p = ProveOvHdr::from_cbor(m.body).unwrap();
            advertised.push(p.payload().max_message_size);
        }
        MessageType::TO2_OWNER_SERVICE_INFO => {
            let plain = m.keys.unwrap().open(m.body).unwrap();
            OwnerServiceInfo::from_cbor(&plain).unwrap();
            largest_to_device = largest_to_device.max(plain.len());
        }
        MessageType::TO2_DEVICE_SERVICE_INFO => {
            let plain = m.keys.unwrap().open(m.body).unwrap();
            DeviceServiceInfo::from_cbor(&plain).unwrap();
            largest_to_owner = largest_to_owner.max(plain.len());
        }
        _ => {}
    })
    .unwrap();
    assert_eq!(advertised, [17, 17]);
    // The 3000-byte firmware image went in pieces far larger than 17 bytes, and so did devmod.
    assert!(largest_to_device > 1000, "{largest_to_device}");
    assert!(largest_to_owner > 100, "{largest_to_owner}");
    assert!(done.owner.devmod.is_some());
}
