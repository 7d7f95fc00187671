//! Every wire message decoder, selected by the first input byte (the message type). No input
//! may panic, and a decoded message must survive encode → decode unchanged.
//! Found here once: a NaN inside the error message's lenient timestamp made a value comparison
//! fail though the bytes matched; the harness compares encodings since.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::messages::{di, to0, to1, to2, ErrorMessage};

/// Our encoding of a decoded message decodes again, to a message with the same encoding.
/// (Encodings are compared rather than values: a lenient field may hold a NaN float.)
fn round_trip<M: Cbor>(body: &[u8]) {
    if let Ok(m) = M::from_cbor(body) {
        let ours = m.to_cbor();
        let again = M::from_cbor(&ours).expect("our encoding decodes");
        assert_eq!(again.to_cbor(), ours);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&ty, body)) = data.split_first() else { return };
    match ty {
        10 => round_trip::<di::AppStart>(body),
        11 => round_trip::<di::SetCredentials>(body),
        12 => round_trip::<di::SetHmac>(body),
        13 => round_trip::<di::Done>(body),
        20 => round_trip::<to0::Hello>(body),
        21 => round_trip::<to0::HelloAck>(body),
        22 => round_trip::<to0::OwnerSign>(body),
        23 => round_trip::<to0::AcceptOwner>(body),
        30 => round_trip::<to1::HelloRv>(body),
        31 => round_trip::<to1::HelloRvAck>(body),
        32 => round_trip::<to1::ProveToRv>(body),
        33 => round_trip::<to1::RvRedirect>(body),
        60 => round_trip::<to2::HelloDevice>(body),
        61 => round_trip::<to2::ProveOvHdr>(body),
        62 => round_trip::<to2::GetOvNextEntry>(body),
        63 => round_trip::<to2::OvNextEntry>(body),
        64 => round_trip::<to2::ProveDevice>(body),
        65 => round_trip::<to2::SetupDevice>(body),
        66 => round_trip::<to2::DeviceServiceInfoReady>(body),
        67 => round_trip::<to2::OwnerServiceInfoReady>(body),
        68 => round_trip::<to2::DeviceServiceInfo>(body),
        69 => round_trip::<to2::OwnerServiceInfo>(body),
        70 => round_trip::<to2::Done>(body),
        71 => round_trip::<to2::Done2>(body),
        _ => round_trip::<ErrorMessage>(body),
    }
});
