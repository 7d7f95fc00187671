//! `FileKeyStore`: generation, reload, file format and mode, refusals.

use std::fs;
use std::path::Path;

use vouch_authenticator::protocol::crypto::{SigningKey, VerifyingKey};
use vouch_authenticator::protocol::types::{PkEnc, PkType};
use vouch_authenticator::{FileKeyStore, KeyStore, MemoryKeyStore, StoreError};

/// Signs with the store's key and checks the signature against the store's public key.
fn sign_and_verify(store: &mut dyn KeyStore) {
    let (alg, sig) = {
        let signer = store.load().unwrap().expect("a key is present");
        (signer.algorithm(), signer.sign(b"attest").unwrap())
    };
    let pk = store.public_key(PkEnc::X509).unwrap().unwrap();
    let vk = VerifyingKey::from_public_key(&pk).unwrap();
    vk.verify(alg, b"attest", &sig).unwrap();
    assert!(vk.verify(alg, b"attesT", &sig).is_err());
}

#[test]
fn generates_each_curve_once_and_reloads_it() {
    for (pk_type, sig_len) in [(PkType::SECP256R1, 64), (PkType::SECP384R1, 96)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device-key.pem");
        let mut store = FileKeyStore::new(&path);
        assert!(store.load().unwrap().is_none());
        assert!(store.public_key(PkEnc::X509).unwrap().is_none());
        assert!(!path.exists(), "loading creates nothing");

        let signer = store.load_or_generate(pk_type).unwrap();
        assert_eq!(signer.sign(b"m").unwrap().len(), sig_len);
        let public = signer.public_key(PkEnc::COSEKEY).unwrap();
        assert_eq!(public.pk_type, pk_type);
        sign_and_verify(&mut store);

        // The same key, again and from a new store on the same file: never regenerated.
        assert_eq!(
            store
                .load_or_generate(pk_type)
                .unwrap()
                .public_key(PkEnc::COSEKEY)
                .unwrap(),
            public
        );
        let mut reopened = FileKeyStore::new(&path);
        assert_eq!(
            reopened.public_key(PkEnc::COSEKEY).unwrap(),
            Some(public.clone())
        );
        assert_eq!(
            reopened
                .load_or_generate(pk_type)
                .unwrap()
                .public_key(PkEnc::COSEKEY)
                .unwrap(),
            public
        );
        // A second device gets a different key.
        let other = dir.path().join("other.pem");
        assert_ne!(
            FileKeyStore::new(&other)
                .load_or_generate(pk_type)
                .unwrap()
                .public_key(PkEnc::COSEKEY)
                .unwrap(),
            public
        );
    }
}

#[test]
fn the_file_is_pkcs8_pem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device-key.pem");
    let mut store = FileKeyStore::new(&path);
    let public = store
        .load_or_generate(PkType::SECP256R1)
        .unwrap()
        .public_key(PkEnc::X509)
        .unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let pem = pem::parse(&text).unwrap();
    assert_eq!(pem.tag(), "PRIVATE KEY");
    let key = SigningKey::from_der(pem.contents()).unwrap();
    // PKCS#8, not SEC1: it re-encodes to the same bytes.
    assert_eq!(key.to_pkcs8_der().unwrap().as_slice(), pem.contents());
    use vouch_authenticator::protocol::crypto::Signer;
    assert_eq!(key.public_key(PkEnc::X509).unwrap(), public);
}

#[cfg(unix)]
#[test]
fn the_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device-key.pem");
    FileKeyStore::new(&path)
        .load_or_generate(PkType::SECP384R1)
        .unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_present_key_of_another_type_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device-key.pem");
    FileKeyStore::new(&path)
        .load_or_generate(PkType::SECP256R1)
        .unwrap();
    let before = fs::read(&path).unwrap();
    let err = FileKeyStore::new(&path)
        .load_or_generate(PkType::SECP384R1)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::KeyTypeMismatch {
                wanted: PkType::SECP384R1,
                present: PkType::SECP256R1
            }
        ),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn unsupported_key_types_are_refused_without_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device-key.pem");
    let err = FileKeyStore::new(&path)
        .load_or_generate(PkType::RSAPSS)
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, StoreError::Protocol(_)), "{err}");
    assert!(!path.exists());
}

#[test]
fn a_corrupt_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in [
        ("garbage.pem", &b"not a key"[..]),
        ("binary.pem", &b"\xff\xfe\x00"[..]),
        (
            "cert.pem",
            &b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"[..],
        ),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, contents).unwrap();
        let mut store = FileKeyStore::new(&path);
        let err = store.load().map(|_| ()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{name}: {err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        // and generation does not paper over it
        let err = store
            .load_or_generate(PkType::SECP256R1)
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{name}: {err}");
        assert_eq!(fs::read(&path).unwrap(), contents);
    }
}

#[test]
fn a_leftover_temporary_file_is_ignored_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device-key.pem");
    let temp = Path::new(dir.path()).join(".device-key.pem.tmp");
    fs::write(&temp, b"-----BEGIN PRIVATE KEY-----\nhalf").unwrap();
    let mut store = FileKeyStore::new(&path);
    assert!(store.load().unwrap().is_none());
    assert!(!temp.exists());
    store.load_or_generate(PkType::SECP256R1).unwrap();
    fs::write(&temp, b"half of another key").unwrap();
    let mut reopened = FileKeyStore::new(&path);
    sign_and_verify(&mut reopened);
    assert!(!temp.exists());
}

#[test]
fn memory_store_holds_a_given_key() {
    let mut rng = vouch_authenticator::protocol::crypto::test::SeededRng::new(b"device");
    let key = SigningKey::generate(PkType::SECP256R1, &mut rng).unwrap();
    let expected = key.verifying_key();
    let mut store = MemoryKeyStore::new(Some(key));
    sign_and_verify(&mut store);
    let pk = store
        .load_or_generate(PkType::SECP256R1)
        .unwrap()
        .public_key(PkEnc::X509)
        .unwrap();
    assert_eq!(VerifyingKey::from_public_key(&pk).unwrap(), expected);
    assert!(matches!(
        store.load_or_generate(PkType::SECP384R1).map(|_| ()),
        Err(StoreError::KeyTypeMismatch { .. })
    ));

    let mut empty = MemoryKeyStore::default();
    assert!(empty.load().unwrap().is_none());
    empty.load_or_generate(PkType::SECP384R1).unwrap();
    sign_and_verify(&mut empty);
}
