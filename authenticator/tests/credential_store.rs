//! `FileCredentialStore`: round trip, crash safety, permissions, corrupt files, fdo-rs' dc.bin.

use std::fs;
use std::path::{Path, PathBuf};

use vouch_authenticator::protocol::cbor::Cbor;
use vouch_authenticator::protocol::credential::DeviceCredential;
use vouch_authenticator::protocol::types::{
    Guid, Hash, HashAlg, ProtocolVersion, RendezvousInfo, RvDirective, RvInstruction,
};
use vouch_authenticator::{
    CredentialStore, FileCredentialStore, MemoryCredentialStore, StoreError,
};
use zeroize::Zeroizing;

fn credential(n: u8) -> DeviceCredential {
    DeviceCredential {
        active: true,
        protocol_version: ProtocolVersion::V101,
        hmac_secret: Some(Zeroizing::new(vec![n; 32])),
        device_info: format!("device {n}"),
        guid: Guid([n; 16]),
        rv_info: RendezvousInfo(vec![RvDirective(vec![RvInstruction::dns(
            "rv.example.com",
        )])]),
        pub_key_hash: Hash::new(HashAlg::SHA256, vec![n; 32]).unwrap(),
        device_key: None,
    }
}

/// The temporary file the store writes through (`.<name>.tmp` beside the target).
fn temp_of(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap().to_str().unwrap();
    path.with_file_name(format!(".{name}.tmp"))
}

#[test]
fn round_trip_through_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dc.cbor");
    let mut store = FileCredentialStore::new(&path);
    assert_eq!(store.load().unwrap(), None, "no credential before DI");
    assert!(!path.exists(), "loading creates nothing");

    store.store(&credential(1)).unwrap();
    assert_eq!(store.load().unwrap(), Some(credential(1)));
    // Another process (a new store on the same file) reads the same credential.
    assert_eq!(
        FileCredentialStore::new(&path).load().unwrap(),
        Some(credential(1))
    );
    // The file is our format, byte for byte.
    assert_eq!(fs::read(&path).unwrap(), credential(1).to_cbor());
}

#[test]
fn replace_keeps_either_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dc.cbor");
    let mut store = FileCredentialStore::new(&path);
    store.store(&credential(1)).unwrap();

    // A crash in the middle of storing credential 2: part of it reached the temporary file,
    // the rename never happened.
    let new = credential(2).to_cbor();
    fs::write(temp_of(&path), &new[..new.len() / 2]).unwrap();
    assert_eq!(
        store.load().unwrap(),
        Some(credential(1)),
        "the old credential survives a crash before the rename"
    );
    assert!(!temp_of(&path).exists(), "the leftover is cleaned up");

    // A crash that left the whole new credential in the temporary file: still the old one,
    // because the rename is the commit point.
    fs::write(temp_of(&path), &new).unwrap();
    assert_eq!(store.load().unwrap(), Some(credential(1)));

    // A store over a leftover replaces the credential completely.
    fs::write(temp_of(&path), b"\xff\xff garbage").unwrap();
    store.store(&credential(2)).unwrap();
    assert_eq!(store.load().unwrap(), Some(credential(2)));
    assert!(!temp_of(&path).exists());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("dc.cbor")]);
}

#[test]
fn a_failed_store_keeps_the_old_credential() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dc.cbor");
    let mut store = FileCredentialStore::new(&path);
    store.store(&credential(1)).unwrap();
    // A directory where the temporary file must go makes the write fail before the rename.
    fs::create_dir(temp_of(&path)).unwrap();
    let err = store.store(&credential(2)).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(err.to_string().contains("dc.cbor"), "{err}");
    fs::remove_dir(temp_of(&path)).unwrap();
    assert_eq!(store.load().unwrap(), Some(credential(1)));
}

#[cfg(unix)]
#[test]
fn the_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dc.cbor");
    let mut store = FileCredentialStore::new(&path);
    store.store(&credential(1)).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    // A replaced file is private too, even if the old one had been opened up.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    store.store(&credential(2)).unwrap();
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_corrupt_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dc.cbor");
    fs::write(&path, b"\x83\x01\x02").unwrap();
    let err = FileCredentialStore::new(&path).load().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(std::error::Error::source(&err).is_some());
    // A truncated credential is as corrupt as garbage.
    let whole = credential(1).to_cbor();
    fs::write(&path, &whole[..whole.len() - 1]).unwrap();
    assert!(matches!(
        FileCredentialStore::new(&path).load(),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn reads_fdo_rs_dc_bin_and_converts_it_on_store() {
    let vector =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors/external/fdo-rs/generated/dc.bin");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dc.bin");
    fs::copy(&vector, &path).unwrap();
    let mut store = FileCredentialStore::new(&path);
    let dc = store.load().unwrap().expect("dc.bin holds a credential");
    assert_eq!(
        dc,
        DeviceCredential::from_fdo_rs(&fs::read(&vector).unwrap()).unwrap()
    );
    assert!(dc.hmac_secret().is_some() && dc.device_key.is_some());
    store.store(&dc).unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        dc.to_cbor(),
        "rewritten in our format"
    );
    assert_eq!(store.load().unwrap(), Some(dc));
}

#[test]
fn memory_store_round_trip() {
    let mut store = MemoryCredentialStore::default();
    assert_eq!(store.load().unwrap(), None);
    store.store(&credential(3)).unwrap();
    assert_eq!(store.load().unwrap(), Some(credential(3)));
}
