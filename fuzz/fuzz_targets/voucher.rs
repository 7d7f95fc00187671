//! Voucher decoding (CBOR and PEM) and verification never panic; decoding keeps the bytes, so
//! decode → encode returns the input exactly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::crypto::RustCrypto;
use vouch_protocol::voucher::OwnershipVoucher;

fuzz_target!(|data: &[u8]| {
    if let Ok(ov) = OwnershipVoucher::from_cbor(data) {
        assert_eq!(ov.to_cbor(), data, "voucher re-encoding differs");
        let _ = ov.verify(&RustCrypto, Some(b"fuzz secret"), None);
    }
    let _ = OwnershipVoucher::from_bytes(data);
});
