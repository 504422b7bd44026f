//! The stored records of `tests/fixtures/records`, written by the
//! hand-written `to_json` code of commit 7195471 (see that folder's
//! README), for the tests that show today's types still read them.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The text of fixture `name`, without its final line break.
pub fn text(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/records/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.trim_end_matches('\n').to_string()
}

/// Fixture `name` read as a `T`, after checking that writing it again
/// gives the same JSON value (so the old reader takes what we write).
pub fn record<T: DeserializeOwned + Serialize>(name: &str) -> T {
    reread(&text(name))
}

/// `json` read as a `T`, after checking that writing it again gives the
/// same JSON value.
pub fn reread<T: DeserializeOwned + Serialize>(json: &str) -> T {
    let read: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let written = serde_json::to_value(&read).unwrap();
    let old: Value = serde_json::from_str(json).unwrap();
    assert_eq!(written, old, "written again differently");
    read
}
