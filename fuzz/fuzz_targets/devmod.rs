//! The owner's reading of the device's `devmod` key/values: never a panic, whatever order or
//! values arrive; a devmod it accepts, sent again as key/values, is read back the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_protocol::cbor::Cbor;
use vouch_protocol::serviceinfo::devmod::{Devmod, DevmodParser};
use vouch_protocol::types::ServiceInfo;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = ServiceInfo::from_cbor(data) else { return };
    let mut parser = DevmodParser::new();
    for kv in &info.0 {
        if parser.accept(kv.message(), &kv.value).is_err() {
            return;
        }
    }
    let Ok(devmod) = parser.finish() else { return };
    let again = Devmod::from_kvs(&devmod.to_kvs()).expect("our devmod reads back");
    assert_eq!(again.to_cbor(), devmod.to_cbor());
});
