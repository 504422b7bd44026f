//! Email address syntax as a person expects it: `jane+news@mail.example.co.uk`
//! and `jo@bücher.example` are addresses; `jane@example`, `jane @x.com`
//! and `a..b@x.com` are typos.
//!
//! Not every RFC 5322 form is accepted: quoted local parts, comments and
//! IP-literal domains are refused. Nobody types them into a web form, and
//! Keap does not take them either. The address is kept as typed; the
//! domain is checked in its ASCII (IDNA) form.

/// The longest address (RFC 5321's path limit less the brackets).
pub const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;

/// What is wrong with an address. The variant is for tests and logs; the
/// visitor sees one friendly message for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailProblem {
    TooLong,
    NoAt,
    BadLocalPart,
    BadDomain,
    /// The domain has no dot (`jane@localhost`): almost always a typo.
    NoTopLevelDomain,
}

/// Checks `address` (already trimmed).
pub fn validate(address: &str) -> Result<(), EmailProblem> {
    if address.chars().count() > MAX_LEN {
        return Err(EmailProblem::TooLong);
    }
    let (local, domain) = address.rsplit_once('@').ok_or(EmailProblem::NoAt)?;
    check_local(local)?;
    check_domain(domain)
}

/// A dot-atom of RFC 5322 `atext` characters.
fn check_local(local: &str) -> Result<(), EmailProblem> {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let ok = !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atext));
    if ok {
        Ok(())
    } else {
        Err(EmailProblem::BadLocalPart)
    }
}

/// True when a URL parser would give the host `ascii` back unchanged, so
/// its check can be skipped: letters, digits, hyphens and dots, no IDNA
/// (`xn--`) label, and a last label starting with a letter (so not an
/// IPv4 address).
fn parser_keeps(ascii: &str) -> bool {
    ascii
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !ascii.contains("xn--")
        && ascii
            .rsplit('.')
            .next()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
}

/// A DNS name of at least two labels, checked after IDNA mapping.
fn check_domain(domain: &str) -> Result<(), EmailProblem> {
    // Reject before IDNA mapping what it would silently repair or accept.
    if domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || domain
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "[]:/\\@%".contains(c))
    {
        return Err(EmailProblem::BadDomain);
    }
    // IDNA (UTS #46) through `url`: Unicode labels mapped and encoded,
    // `xn--` labels checked to decode.
    let lower = domain.to_ascii_lowercase();
    let ascii = if parser_keeps(&lower) {
        lower
    } else {
        match url::Host::parse(domain) {
            Ok(url::Host::Domain(d)) => d,
            _ => return Err(EmailProblem::BadDomain),
        }
    };
    if !ascii.contains('.') {
        return Err(EmailProblem::NoTopLevelDomain);
    }
    let ldh = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if ascii.len() > 253 || !ascii.split('.').all(ldh) {
        return Err(EmailProblem::BadDomain);
    }
    // A top-level domain is letters, or an IDN in its `xn--` form.
    let tld = ascii.rsplit('.').next().unwrap_or("");
    let tld_ok =
        tld.len() >= 2 && (tld.bytes().all(|b| b.is_ascii_alphabetic()) || tld.starts_with("xn--"));
    if tld_ok {
        Ok(())
    } else {
        Err(EmailProblem::NoTopLevelDomain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_real_addresses() {
        for a in [
            "jane@example.com",
            "jane.doe+newsletter@mail.example.co.uk",
            "o'brien@example.ie",
            "x@ex-ample.io",
            "USER_1@EXAMPLE.COM",
            "jo@bücher.example",
            "info@例え.テスト",
            "a@b.xn--p1ai",
            "a@xn--bcher-kva.example",
            "jo@BÜCHER.example",
            "vera@правительство.рф",
            "first.last-2024@sub.sub2.example.museum",
            "{weird}=ok!@example.org",
        ] {
            assert_eq!(validate(a), Ok(()), "{a}");
        }
    }

    #[test]
    fn refuses_typos_and_oddities() {
        for (a, why) in [
            ("", EmailProblem::NoAt),
            ("jane.example.com", EmailProblem::NoAt),
            ("jane@", EmailProblem::BadDomain),
            ("@example.com", EmailProblem::BadLocalPart),
            ("jane @example.com", EmailProblem::BadLocalPart),
            ("jane@exa mple.com", EmailProblem::BadDomain),
            ("jane@example", EmailProblem::NoTopLevelDomain),
            ("jane@example.c", EmailProblem::NoTopLevelDomain),
            ("jane@example.123", EmailProblem::BadDomain),
            ("jane..doe@example.com", EmailProblem::BadLocalPart),
            (".jane@example.com", EmailProblem::BadLocalPart),
            ("jane.@example.com", EmailProblem::BadLocalPart),
            ("jane@example..com", EmailProblem::BadDomain),
            ("jane@.example.com", EmailProblem::BadDomain),
            ("jane@example.com.", EmailProblem::BadDomain),
            ("jane@-example.com", EmailProblem::BadDomain),
            ("jane@xn--a.com", EmailProblem::BadDomain),
            ("jane@xn--abc-.com", EmailProblem::BadDomain),
            (
                &format!("jane@{}.com", "ü".repeat(64)),
                EmailProblem::BadDomain,
            ),
            ("jane@exa_mple.com", EmailProblem::BadDomain),
            ("jane@[127.0.0.1]", EmailProblem::BadDomain),
            ("jane@127.0.0.1", EmailProblem::BadDomain),
            ("\"jane doe\"@example.com", EmailProblem::BadLocalPart),
            ("ja\u{0}ne@example.com", EmailProblem::BadLocalPart),
            ("jane@exam\nple.com", EmailProblem::BadDomain),
            ("a@b@example.com", EmailProblem::BadLocalPart),
            ("josé@example.com", EmailProblem::BadLocalPart),
        ] {
            assert_eq!(validate(a), Err(why), "{a:?}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(186));
        assert_eq!(long.len(), 255);
        assert_eq!(validate(&long), Err(EmailProblem::TooLong));
        assert_eq!(
            validate(&format!("{}@example.com", "a".repeat(65))),
            Err(EmailProblem::BadLocalPart)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn a_host_the_parser_keeps_is_one_it_gives_back(host in "[a-z0-9.-]{1,30}|[a-zA-Z0-9.x-]{1,12}") {
            if parser_keeps(&host) {
                prop_assert_eq!(url::Host::parse(&host), Ok(url::Host::Domain(host.clone())));
            }
        }

        #[test]
        fn generated_valid_addresses_are_accepted(
            local in "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-zA-Z0-9_+-]{1,10}){0,2}",
            // `xn--` starts a punycode label, which must then decode: left out.
            labels in proptest::collection::vec(
                "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?".prop_filter("not punycode", |l| !l.starts_with("xn--")),
                1..4,
            ),
            tld in "[a-z]{2,10}",
        ) {
            let address = format!("{local}@{}.{tld}", labels.join("."));
            prop_assert_eq!(validate(&address), Ok(()), "{}", address);
        }

        #[test]
        fn any_string_never_panics(s in ".{0,300}") {
            let _ = validate(&s);
        }
    }
}
