//! Sealing: AES-256-GCM under `ENCRYPTION_KEY`, for everything kept in KV
//! that holds a token or a person's data.
//!
//! A sealed value is text: `v1.<key id>.<base64url(nonce || ciphertext)>`.
//! The key id (a short hash of the key) lets a value sealed under another
//! key be reported as such instead of as tampering. The label (what the
//! value is, e.g. `auth/tokens`) and the envelope's prefix are the
//! associated data, so a sealed value cannot be moved to another purpose or
//! have its key id edited without failing to open.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_ID_LEN: usize = 4;

/// The 32-byte sealing key. Its `Debug` never shows the key.
pub struct SealKey {
    key: [u8; 32],
    /// Hex of the first bytes of a hash of the key: safe to show, tells keys apart.
    id: String,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKey(id {})", self.id)
    }
}

/// Why `ENCRYPTION_KEY` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    Missing,
    NotBase64,
    /// Decoded to this many bytes instead of 32.
    WrongLength(usize),
}

const KEY_HOWTO: &str = "generate one with `openssl rand -base64 32` and set it with \
`wrangler secret put ENCRYPTION_KEY` (locally: an `ENCRYPTION_KEY=...` line in `.dev.vars`)";

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Missing => write!(f, "ENCRYPTION_KEY is not set: {KEY_HOWTO}"),
            KeyProblem::NotBase64 => write!(f, "ENCRYPTION_KEY is not valid base64: {KEY_HOWTO}"),
            KeyProblem::WrongLength(n) => write!(
                f,
                "ENCRYPTION_KEY decodes to {n} bytes, not 32: {KEY_HOWTO}"
            ),
        }
    }
}

impl SealKey {
    /// Reads `ENCRYPTION_KEY`: standard base64 (padding optional) of exactly
    /// 32 bytes. Surrounding whitespace, as left by copy and paste, is ignored.
    pub fn from_base64(s: &str) -> Result<SealKey, KeyProblem> {
        let s = s.trim();
        if s.is_empty() {
            return Err(KeyProblem::Missing);
        }
        let bytes = STANDARD
            .decode(s)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
            .map_err(|_| KeyProblem::NotBase64)?;
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyProblem::WrongLength(bytes.len()))?;
        Ok(SealKey::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> SealKey {
        let digest = Sha256::new()
            .chain_update(b"keap-form-worker/key-id\0")
            .chain_update(key)
            .finalize();
        let id = hex(digest.get(..KEY_ID_LEN).unwrap_or_default());
        SealKey { key, id }
    }

    /// A short, non-secret name for this key (shown on `/admin/status`
    /// problems when a stored value was sealed under another one).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.key.into())
    }
}

/// Why a sealed value was not opened. Such a value is never used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// Not a sealed value of a version this worker reads.
    Malformed,
    /// Sealed under another `ENCRYPTION_KEY` (the key was changed).
    OtherKey,
    /// Failed the integrity check: tampered with, corrupted, or moved to
    /// another label.
    Rejected,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpenError::Malformed => "the stored value is not a sealed value this worker can read",
            OpenError::OtherKey => {
                "the stored value was sealed under a different ENCRYPTION_KEY (was the key changed?)"
            }
            OpenError::Rejected => "the stored value failed its integrity check (tampered or corrupted)",
        })
    }
}

/// Seals `plaintext` for the purpose `label`.
///
/// The nonce is 96 random bits. Should the system's random source ever
/// fail, the nonce is derived from the key, label and plaintext instead
/// (as in SIV modes): a nonce then repeats only for an identical value,
/// which reveals equality and nothing else, never the key stream.
pub fn seal(key: &SealKey, label: &str, plaintext: &[u8]) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    if getrandom::getrandom(&mut nonce).is_err() {
        nonce = synthetic_nonce(key, label, plaintext);
    }
    let aad = associated_data(&key.id, label);
    // AES-GCM refuses only plaintexts over 64 GiB, far past any Worker's
    // memory; an empty result would then fail to open as `Malformed`.
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .unwrap_or_default();
    let mut body = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&ciphertext);
    format!("{VERSION}.{}.{}", key.id, URL_SAFE_NO_PAD.encode(body))
}

/// Opens a value sealed by [`seal`] under the same key and label.
pub fn open(key: &SealKey, label: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
    let mut parts = sealed.trim().split('.');
    let (Some(VERSION), Some(key_id), Some(body), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OpenError::Malformed);
    };
    if key_id.len() != KEY_ID_LEN * 2 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpenError::Malformed);
    }
    let body = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| OpenError::Malformed)?;
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError::Malformed);
    }
    if key_id != key.id {
        return Err(OpenError::OtherKey);
    }
    let (nonce, ciphertext) = body.split_at(NONCE_LEN);
    let aad = associated_data(key_id, label);
    key.cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| OpenError::Rejected)
}

fn associated_data(key_id: &str, label: &str) -> String {
    format!("{VERSION}.{key_id}.{label}")
}

fn synthetic_nonce(key: &SealKey, label: &str, plaintext: &[u8]) -> [u8; NONCE_LEN] {
    let digest = Sha256::new()
        .chain_update(b"keap-form-worker/nonce\0")
        .chain_update(key.key)
        .chain_update((label.len() as u64).to_be_bytes())
        .chain_update(label.as_bytes())
        .chain_update(plaintext)
        .finalize();
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(digest.get(..NONCE_LEN).unwrap_or(&[0; NONCE_LEN]));
    nonce
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(byte: u8) -> SealKey {
        SealKey::from_bytes([byte; 32])
    }

    #[test]
    fn round_trip() {
        let k = key(7);
        let sealed = seal(&k, "auth/tokens", b"hello tokens");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("hello"));
        assert_eq!(open(&k, "auth/tokens", &sealed).unwrap(), b"hello tokens");
    }

    #[test]
    fn two_seals_of_the_same_value_differ() {
        let k = key(7);
        assert_ne!(seal(&k, "l", b"same"), seal(&k, "l", b"same"));
    }

    #[test]
    fn any_flipped_character_is_refused() {
        let k = key(7);
        let sealed = seal(&k, "auth/tokens", b"a secret refresh token");
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            // Swap to another character of the same alphabet class.
            bytes[i] = match bytes[i] {
                b'.' => b'x',
                b'a' => b'b',
                _ => b'a',
            };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered == sealed {
                continue;
            }
            assert!(
                open(&k, "auth/tokens", &tampered).is_err(),
                "flip at {i} opened"
            );
        }
    }

    #[test]
    fn flipped_ciphertext_bit_is_rejected() {
        let k = key(7);
        let sealed = seal(&k, "l", b"payload");
        let (head, body) = sealed.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(open(&k, "l", &tampered), Err(OpenError::Rejected));
    }

    #[test]
    fn wrong_key_is_reported_as_other_key() {
        let sealed = seal(&key(1), "l", b"payload");
        assert_eq!(open(&key(2), "l", &sealed), Err(OpenError::OtherKey));
    }

    #[test]
    fn wrong_label_is_rejected() {
        let k = key(1);
        let sealed = seal(&k, "auth/tokens", b"payload");
        assert_eq!(open(&k, "outbox", &sealed), Err(OpenError::Rejected));
    }

    #[test]
    fn edited_key_id_does_not_open() {
        let (a, b) = (key(1), key(2));
        let sealed = seal(&a, "l", b"payload");
        let forged = sealed.replacen(a.id(), b.id(), 1);
        assert_eq!(open(&b, "l", &forged), Err(OpenError::Rejected));
    }

    #[test]
    fn malformed_values() {
        let k = key(1);
        for bad in [
            "",
            "v1",
            "v1..",
            "v2.00000000.AAAA",
            "plain text token",
            "v1.zzzzzzzz.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1.0000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v1.00000000.short",
            "v1.00000000.***not base64***",
            "v1.00000000.AAAA.extra",
        ] {
            assert_eq!(open(&k, "l", bad), Err(OpenError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let k = key(3);
        assert_eq!(open(&k, "l", &seal(&k, "l", b"")).unwrap(), b"");
    }

    #[test]
    fn synthetic_nonce_depends_on_value() {
        let k = key(3);
        assert_ne!(
            synthetic_nonce(&k, "l", b"a"),
            synthetic_nonce(&k, "l", b"b")
        );
        assert_ne!(
            synthetic_nonce(&k, "l", b"a"),
            synthetic_nonce(&k, "m", b"a")
        );
    }

    #[test]
    fn key_parsing() {
        let good = STANDARD.encode([9u8; 32]);
        assert!(SealKey::from_base64(&good).is_ok());
        assert!(SealKey::from_base64(&format!("  {good}\n")).is_ok());
        assert!(SealKey::from_base64(good.trim_end_matches('=')).is_ok());
        assert_eq!(SealKey::from_base64("").unwrap_err(), KeyProblem::Missing);
        assert_eq!(
            SealKey::from_base64("not base64!").unwrap_err(),
            KeyProblem::NotBase64
        );
        assert_eq!(
            SealKey::from_base64(&STANDARD.encode([1u8; 16])).unwrap_err(),
            KeyProblem::WrongLength(16)
        );
    }

    #[test]
    fn problems_say_how_to_fix() {
        for p in [
            KeyProblem::Missing,
            KeyProblem::NotBase64,
            KeyProblem::WrongLength(3),
        ] {
            let text = p.to_string();
            assert!(text.contains("openssl rand -base64 32"), "{text}");
            assert!(
                text.contains("wrangler secret put ENCRYPTION_KEY"),
                "{text}"
            );
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let k = key(0xAB);
        let shown = format!("{k:?}");
        assert!(!shown.to_lowercase().contains("abab"));
        assert!(shown.contains(k.id()));
    }

    proptest! {
        #[test]
        fn round_trips_arbitrary_bytes(
            data in proptest::collection::vec(any::<u8>(), 0..512),
            key_bytes in any::<[u8; 32]>(),
            label in "[a-z/]{0,16}",
        ) {
            let k = SealKey::from_bytes(key_bytes);
            let sealed = seal(&k, &label, &data);
            prop_assert_eq!(open(&k, &label, &sealed).unwrap(), data);
        }
    }
}
