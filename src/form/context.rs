//! Where a submission came from: the page the form was on, the visitor's
//! referrer, the campaign parameters and the site's origin, recorded in
//! the submission's Keap note (docs/CONTRACT.md 1, 4).
//!
//! Context is a record for the owner, never a reason to refuse a lead: a
//! value that is too long or not plain text is dropped, not refused.

use serde::{Deserialize, Serialize};

use crate::form::body::Fields;

/// The campaign parameters, in the order a note lists them.
pub const CAMPAIGN_FIELDS: [&str; 6] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
];

/// The posted field naming the page the form was on.
pub const PAGE_FIELD: &str = "_page";
/// The posted field holding the visitor's own referrer (`document.referrer`).
pub const REFERRER_FIELD: &str = "_referrer";

/// Longest page or referrer address kept, in characters.
pub const MAX_URL: usize = 2000;
/// Longest campaign value kept, in characters.
pub const MAX_CAMPAIGN: usize = 200;

/// What is known of where a submission came from; every value optional.
/// Stored (sealed) with a queued lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Context {
    /// The `_page` field, else the request's `Referer`.
    pub page: Option<String>,
    /// The `_referrer` field.
    pub referrer: Option<String>,
    /// `(name, value)` for each campaign parameter given, in
    /// [`CAMPAIGN_FIELDS`] order.
    pub campaign: Vec<(String, String)>,
    /// The allowed origin the post came from.
    pub origin: Option<String>,
}

impl Context {
    /// Reads the context fields of a submission. `referer` is the
    /// request's `Referer` header, used when no `_page` was posted (a plain
    /// form with JavaScript off); `origin` is the post's allowed origin.
    pub fn read(fields: &Fields, referer: Option<&str>, origin: Option<&str>) -> Context {
        let page = kept(fields.get(PAGE_FIELD), MAX_URL).or_else(|| kept(referer, MAX_URL));
        let campaign = CAMPAIGN_FIELDS
            .iter()
            .filter_map(|name| {
                let value = kept(fields.get(name), MAX_CAMPAIGN)?;
                Some((name.to_string(), value))
            })
            .collect();
        Context {
            page,
            referrer: kept(fields.get(REFERRER_FIELD), MAX_URL),
            campaign,
            origin: kept(origin, MAX_URL),
        }
    }

    /// The addresses, which may carry a visitor's data in their query
    /// strings, to scrub from text we keep. (Campaign values are the
    /// site's own words, often plain ones like `email`; scrubbing them
    /// would garble Keap's messages for nothing.)
    pub fn values(&self) -> impl Iterator<Item = &str> {
        [&self.page, &self.referrer]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }
}

/// `value` trimmed, when it is non-empty one-line text of at most `max`
/// characters; otherwise nothing.
fn kept(value: Option<&str>, max: usize) -> Option<String> {
    let value = value?.trim();
    let fine = !value.is_empty()
        && value.chars().count() <= max
        && !value.chars().any(|c| c.is_control() || c == '\u{FFFD}');
    fine.then(|| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::new();
        for (k, v) in pairs {
            f.push(*k, *v);
        }
        f
    }

    #[test]
    fn reads_page_referrer_and_campaign_in_order() {
        let f = fields(&[
            ("gclid", "abc"),
            ("utm_source", " newsletter "),
            ("_page", "https://example.com/contact?x=1"),
            ("_referrer", "https://search.example/"),
            ("utm_campaign", "spring"),
            ("utm_other", "ignored"),
        ]);
        let c = Context::read(
            &f,
            Some("https://example.com/elsewhere"),
            Some("https://example.com"),
        );
        assert_eq!(c.page.as_deref(), Some("https://example.com/contact?x=1"));
        assert_eq!(c.referrer.as_deref(), Some("https://search.example/"));
        assert_eq!(
            c.campaign,
            vec![
                ("utm_source".to_string(), "newsletter".to_string()),
                ("utm_campaign".to_string(), "spring".to_string()),
                ("gclid".to_string(), "abc".to_string()),
            ]
        );
        assert_eq!(c.origin.as_deref(), Some("https://example.com"));
    }

    #[test]
    fn the_referer_header_stands_in_for_a_missing_or_unusable_page() {
        let referer = Some("https://example.com/contact");
        for f in [
            fields(&[]),
            fields(&[("_page", "  ")]),
            fields(&[("_page", &"p".repeat(MAX_URL + 1))]),
            fields(&[("_page", "bad\u{0}page")]),
        ] {
            let c = Context::read(&f, referer, None);
            assert_eq!(c.page.as_deref(), referer);
        }
        assert_eq!(Context::read(&fields(&[]), None, None), Context::default());
    }

    #[test]
    fn bad_values_are_dropped_never_refused() {
        let long = "u".repeat(MAX_CAMPAIGN + 1);
        let f = fields(&[
            ("utm_source", &long),
            ("utm_medium", "line\nbreak"),
            ("utm_term", "garbled\u{FFFD}"),
            ("utm_content", &"u".repeat(MAX_CAMPAIGN)),
            ("_referrer", "tab\there"),
        ]);
        let c = Context::read(&f, Some("bell\u{7}"), None);
        assert_eq!(
            c.campaign,
            vec![("utm_content".to_string(), "u".repeat(MAX_CAMPAIGN))]
        );
        assert_eq!(c.referrer, None);
        assert_eq!(c.page, None);
    }

    #[test]
    fn an_old_record_without_context_reads_as_empty() {
        let c: Context = serde_json::from_str("{}").unwrap();
        assert_eq!(c, Context::default());
        let c: Context =
            serde_json::from_str(r#"{"campaign":[["utm_source","x"]],"page":"p"}"#).unwrap();
        assert_eq!(c.campaign.len(), 1);
    }
}
