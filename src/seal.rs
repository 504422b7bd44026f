//! STUB: to be replaced by the real sealing module (AES-256-GCM).
use std::fmt;

pub struct SealKey([u8; 32]);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey([redacted])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    Missing,
    NotBase64,
    WrongLength(usize),
}

impl SealKey {
    pub fn from_base64(_s: &str) -> Result<SealKey, KeyProblem> {
        Ok(SealKey([0; 32]))
    }
}
