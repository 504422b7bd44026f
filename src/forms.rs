//! STUB: to be replaced by the real FORMS module.
#[derive(Debug, Clone, Default)]
pub struct Forms;

impl Forms {
    pub fn from_json(_v: Option<&serde_json::Value>) -> Result<Forms, String> {
        Ok(Forms)
    }
}
