//! Reading a request's `Accept` header (RFC 9110, section 12.5.1): how
//! much the client wants a given media type, as the most specific range
//! that matches it says.
//!
//! Q-values are read as whole thousandths, without floating point (which
//! would cost the wasm a float parser): `q=0.9` is 900, no `q` is 1000.

/// A media range's weight, in thousandths (0 to 1000).
pub type Quality = u16;

const FULL: Quality = 1000;

/// How much `accept` wants `media_type` (`type/subtype`, lower case): the
/// q-value of the most specific range that matches it (`text/html`, then
/// `text/*`, then `*/*`), 0 when none does. A range with a malformed
/// q-value is skipped, as if it were not listed.
pub fn quality(accept: &str, media_type: &str) -> Quality {
    let (kind, _) = media_type.split_once('/').unwrap_or((media_type, ""));
    let mut best: Option<(u8, Quality)> = None;
    for (essence, params) in ranges(accept) {
        let specificity = if essence.eq_ignore_ascii_case(media_type) {
            3
        } else if essence.eq_ignore_ascii_case("*/*") {
            1
        } else if essence
            .split_once('/')
            .is_some_and(|(t, s)| s == "*" && t.eq_ignore_ascii_case(kind))
        {
            2
        } else {
            continue;
        };
        let q = match q_values(params).last() {
            Some(text) => parse_q(text),
            None => Some(FULL),
        };
        let Some(q) = q else { continue };
        // The most specific range decides; among equals, the first listed.
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0, |(_, q)| q)
}

/// Whether `accept` names `media_type` itself (no wildcard) without
/// refusing it with `q=0`: the form path answers JSON only to a client
/// that asks for JSON by name, since a browser's `*/*` does not mean it.
pub fn lists(accept: &str, media_type: &str) -> bool {
    ranges(accept).any(|(essence, params)| {
        essence.eq_ignore_ascii_case(media_type) && !q_values(params).any(|q| parse_q(q) == Some(0))
    })
}

/// Each media range of `accept`: its essence (`text/html`) and the text of
/// its parameters after the first `;`.
fn ranges(accept: &str) -> impl Iterator<Item = (&str, &str)> {
    accept.split(',').map(|range| {
        let (essence, params) = range.split_once(';').unwrap_or((range, ""));
        (essence.trim(), params)
    })
}

/// The values of the `q` parameters among `params`, in order.
fn q_values(params: &str) -> impl Iterator<Item = &str> {
    params
        .split(';')
        .filter_map(|p| p.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
        .map(|(_, value)| value.trim())
}

/// A q-value (`0`, `0.5`, `1`, `1.000`: at most three decimals) in
/// thousandths; `None` when malformed or above 1.
fn parse_q(text: &str) -> Option<Quality> {
    let (whole, decimals) = match text.split_once('.') {
        Some((w, d)) => (w, d),
        None => (text, ""),
    };
    if decimals.len() > 3 || !decimals.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: Quality = decimals
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |n, b| n * 10 + Quality::from(b - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(FULL),
        _ => None,
    }
}

/// Whether an answer that can be a page or JSON should be the page: only
/// when the client wants `text/html` more than `application/json`. No
/// `Accept`, `*/*`, or a tie: JSON (scripts and `curl` send no `Accept`
/// or `*/*`; a browser's form post lists `text/html` first).
pub fn prefers_html(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| quality(a, "text/html") > quality(a, "application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values_are_read_in_thousandths() {
        for (text, q) in [
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("0", Some(0)),
            ("0.9", Some(900)),
            ("0.85", Some(850)),
            ("0.001", Some(1)),
            ("0.", Some(0)),
            ("1.001", None),
            ("2", None),
            ("0.0001", None),
            ("", None),
            ("-0.5", None),
            ("0.a", None),
            (".5", None),
        ] {
            assert_eq!(parse_q(text), q, "{text:?}");
        }
    }

    #[test]
    fn the_most_specific_matching_range_decides() {
        let a = "text/*;q=0.3, text/html;q=0.7, */*;q=0.5";
        assert_eq!(quality(a, "text/html"), 700);
        assert_eq!(quality(a, "text/plain"), 300);
        assert_eq!(quality(a, "application/json"), 500);
        assert_eq!(quality("text/html", "application/json"), 0);
        assert_eq!(quality("", "application/json"), 0);
        assert_eq!(quality("Application/JSON", "application/json"), 1000);
        assert_eq!(quality("text/html; charset=utf-8; q=0.4", "text/html"), 400);
        // A malformed q-value: the range is not counted.
        assert_eq!(quality("application/json;q=high", "application/json"), 0);
        assert_eq!(
            quality("application/json;q=high, */*;q=0.2", "application/json"),
            200
        );
    }

    #[test]
    fn a_type_is_listed_by_name_unless_refused_with_q_zero() {
        assert!(lists("application/json", "application/json"));
        assert!(lists(
            "text/html, Application/JSON;q=0.1",
            "application/json"
        ));
        assert!(lists("application/json;q=high", "application/json"));
        assert!(!lists("*/*", "application/json"));
        assert!(!lists("application/*", "application/json"));
        assert!(!lists("application/json;q=0", "application/json"));
        assert!(!lists("application/json; q=0.000", "application/json"));
        assert!(!lists("", "application/json"));
    }

    #[test]
    fn scripts_get_json_and_browsers_get_pages() {
        let html = |a: Option<&str>| prefers_html(a);
        // Scripts: no Accept (curl sends */*), an explicit JSON, or a tie.
        assert!(!html(None));
        assert!(!html(Some("")));
        assert!(!html(Some("*/*")));
        assert!(!html(Some("application/json")));
        assert!(!html(Some("text/html;q=0.9, application/json")));
        assert!(!html(Some("application/json, text/html")));
        assert!(!html(Some("text/html;q=0")));
        assert!(!html(Some("text/html;q=0.5, application/*;q=0.6")));
        assert!(!html(Some("text/plain")));
        // Browsers: a form post or a navigation.
        assert!(html(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,\
             image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
        )));
        assert!(html(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(html(Some("text/html")));
        assert!(html(Some("TEXT/HTML")));
        assert!(html(Some("text/*")));
        assert!(html(Some("application/json;q=0.5, text/html")));
        assert!(html(Some("application/json;q=0, */*")));
    }
}
