//! A postal address from a form's address fields, sent to Keap as one
//! `addresses` entry in the `BILLING` slot (docs/CONTRACT.md 4).
//!
//! Keap v1 keeps a contact's addresses as slots keyed by `field`; sending
//! `BILLING` replaces that slot whole and leaves `SHIPPING` and `OTHER` as
//! they were. So the address the visitor gave is sent complete, and a
//! returning contact's billing address becomes the new one.

use serde::{Deserialize, Serialize};

/// The form fields of an address, as the visitor posts them.
pub const ADDRESS_FIELDS: [&str; 6] = [
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country_code",
];

/// Longest values, in characters.
pub const MAX_LINE: usize = 255;
pub const MAX_CITY: usize = 100;
pub const MAX_REGION: usize = 100;
pub const MAX_POSTAL_CODE: usize = 20;

/// An address as the visitor gave it; at least one part is set.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-3, upper case (`USA`, `GBR`).
    pub country_code: Option<String>,
}

impl std::fmt::Debug for Address {
    /// Shape only: an address is the visitor's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Address([given])")
    }
}

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressProblem {
    /// A `region` with no `country_code`: Keap refuses it.
    RegionWithoutCountry,
    /// A country code that is not three letters.
    BadCountryCode,
}

impl Address {
    /// An address from its parts (each already checked as text), or none
    /// when no part was given.
    pub fn from_parts(
        line1: Option<String>,
        line2: Option<String>,
        locality: Option<String>,
        region: Option<String>,
        postal_code: Option<String>,
        country_code: Option<String>,
    ) -> Result<Option<Address>, AddressProblem> {
        let country_code = country_code.map(|c| country(&c)).transpose()?;
        if region.is_some() && country_code.is_none() {
            return Err(AddressProblem::RegionWithoutCountry);
        }
        let address = Address {
            line1,
            line2,
            locality,
            region,
            postal_code,
            country_code,
        };
        Ok((!address.values().is_empty()).then_some(address))
    }

    /// Every part given.
    pub fn values(&self) -> Vec<&str> {
        [
            &self.line1,
            &self.line2,
            &self.locality,
            &self.region,
            &self.postal_code,
            &self.country_code,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect()
    }
}

/// A country code as Keap v1 takes it: ISO 3166-1 alpha-3, upper case.
fn country(code: &str) -> Result<String, AddressProblem> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(AddressProblem::BadCountryCode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn an_address_takes_what_was_given() {
        let a = Address::from_parts(
            s("1 Main St"),
            None,
            s("Springfield"),
            s("IL"),
            None,
            s("usa"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.country_code.as_deref(), Some("USA"));
        assert_eq!(a.values(), vec!["1 Main St", "Springfield", "IL", "USA"]);
        assert_eq!(
            Address::from_parts(None, None, None, None, None, None),
            Ok(None)
        );
        assert!(format!("{a:?}").find("Main").is_none());
    }

    #[test]
    fn a_region_needs_a_country_and_a_country_is_three_letters() {
        assert_eq!(
            Address::from_parts(None, None, None, s("IL"), None, None),
            Err(AddressProblem::RegionWithoutCountry)
        );
        for bad in ["US", "U.S", "United States", "12A", "ÜSA"] {
            assert_eq!(
                Address::from_parts(None, None, None, None, None, s(bad)),
                Err(AddressProblem::BadCountryCode),
                "{bad}"
            );
        }
    }
}
