//! STUB: to be replaced by the real origin module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins(Vec<Origin>);

impl AllowedOrigins {
    pub fn parse(_raw: Option<&str>) -> (AllowedOrigins, Vec<String>) {
        (AllowedOrigins(Vec::new()), Vec::new())
    }
}
