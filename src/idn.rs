//! Internationalised domain names to their ASCII (`xn--`) form.
//!
//! `url` hands IDNA to `idna`, whose Unicode tables are about a fifth of
//! the wasm once gzipped. The worker pins `idna_adapter` to its table-free
//! release (see Cargo.toml), which keeps `url`'s checks of ASCII and
//! `xn--` hosts but refuses Unicode ones. Hosts a person types (in
//! `ALLOWED_ORIGINS`, a form's redirect, an email address) go through
//! [`ascii_host`] first: lowercased and Punycode-encoded (RFC 3492), which
//! is what browsers send for every real-world IDN. UTS #46's rarer
//! mappings (width folding, NFC) are not applied; such a host is refused
//! by `url` rather than mis-mapped.

use std::borrow::Cow;

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

/// The longest label Punycode is asked to encode (a DNS label is at most
/// 63 bytes, so anything longer is refused later anyway).
const MAX_LABEL_CHARS: usize = 63;

/// Dots that UTS #46 treats as the label separator.
fn is_dot(c: char) -> bool {
    matches!(c, '.' | '\u{3002}' | '\u{FF0E}' | '\u{FF61}')
}

/// `host` in ASCII: each label lowercased, non-ASCII labels as `xn--`
/// Punycode. `None` when a label cannot be encoded (too long). The result
/// is not yet validated: `url` (or the caller) checks it.
pub fn ascii_host(host: &str) -> Option<String> {
    if host.is_ascii() {
        return Some(host.to_ascii_lowercase());
    }
    let mut out = String::with_capacity(host.len() + 8);
    for (i, label) in host.split(is_dot).enumerate() {
        if i > 0 {
            out.push('.');
        }
        let lower: Vec<char> = label.chars().map(lowercase).collect();
        if lower.iter().all(char::is_ascii) {
            out.extend(lower);
        } else {
            out.push_str("xn--");
            out.push_str(&punycode(&lower)?);
        }
    }
    Some(out)
}

/// Lowercase for the capitals people put in host names: ASCII, Latin-1,
/// Greek and Cyrillic. Full Unicode case tables would cost the wasm 11 KB;
/// a host with other capitals is sent as typed, and simply matches nothing.
fn lowercase(c: char) -> char {
    let shift = match c {
        'A'..='Z' | 'À'..='Ö' | 'Ø'..='Þ' | 'Α'..='Ρ' | 'Σ'..='Ω' | 'А'..='Я' => 32,
        'Ѐ'..='Џ' => 80,
        _ => 0,
    };
    char::from_u32(c as u32 + shift).unwrap_or(c)
}

/// `text` with the host of its `scheme://authority` converted by
/// [`ascii_host`]; unchanged when the authority is already ASCII or there
/// is none. Anything unusual is left for `url` to refuse.
pub fn ascii_url(text: &str) -> Cow<'_, str> {
    let Some(scheme_end) = text.find("://") else {
        return Cow::Borrowed(text);
    };
    let start = scheme_end + 3;
    let rest = &text[start..];
    let end = start + rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &text[start..end];
    if authority.is_ascii() {
        return Cow::Borrowed(text);
    }
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    let host_end = host_port.rfind(':').unwrap_or(host_port.len());
    let (host, port) = host_port.split_at(host_end);
    if !port.is_ascii() {
        return Cow::Borrowed(text);
    }
    match ascii_host(host) {
        Some(ascii) => Cow::Owned(format!(
            "{}{}{}{}",
            &text[..start + host_start],
            ascii,
            port,
            &text[end..]
        )),
        None => Cow::Borrowed(text),
    }
}

/// RFC 3492's encoder, for one label (without the `xn--`). `None` on
/// overflow or an overlong label.
fn punycode(input: &[char]) -> Option<String> {
    if input.len() > MAX_LABEL_CHARS {
        return None;
    }
    let mut out: String = input.iter().filter(|c| c.is_ascii()).collect();
    let basic = out.len() as u32;
    let mut handled = basic;
    if basic > 0 {
        out.push('-');
    }
    let mut n = INITIAL_N;
    let mut delta: u32 = 0;
    let mut bias = INITIAL_BIAS;
    let total = input.len() as u32;
    while handled < total {
        let m = input.iter().map(|&c| c as u32).filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in input {
            let c = c as u32;
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = threshold(k, bias);
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n += 1;
    }
    Some(out)
}

/// Whether an `xn--` label (given without the prefix) is one a browser
/// could have made: it decodes, re-encodes to itself, and holds a
/// non-ASCII letter and no control, space or ASCII punctuation. `url` with
/// the table-free IDNA back end does not check this.
pub fn valid_ace_label(code: &str) -> bool {
    let Some(chars) = decode(code) else {
        return false;
    };
    chars.iter().any(|c| !c.is_ascii())
        && chars.iter().all(|&c| {
            if c.is_ascii() {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
            } else {
                !c.is_control() && !c.is_whitespace()
            }
        })
        && punycode(&chars).as_deref() == Some(code)
}

/// RFC 3492's decoder. `None` when `input` is not valid Punycode.
fn decode(input: &str) -> Option<Vec<char>> {
    if input.len() > MAX_LABEL_CHARS {
        return None;
    }
    let (basic, rest) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    if !basic.is_ascii() {
        return None;
    }
    let mut out: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    let mut digits = rest.bytes().peekable();
    while digits.peek().is_some() {
        let (old_i, mut w, mut k) = (i, 1u32, BASE);
        loop {
            let d = match digits.next()? {
                b @ b'a'..=b'z' => u32::from(b - b'a'),
                b @ b'A'..=b'Z' => u32::from(b - b'A'),
                b @ b'0'..=b'9' => u32::from(b - b'0') + 26,
                _ => return None,
            };
            i = i.checked_add(d.checked_mul(w)?)?;
            let t = threshold(k, bias);
            if d < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = out.len() as u32 + 1;
        bias = adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        out.insert(i as usize, char::from_u32(n)?);
        i += 1;
    }
    Some(out)
}

fn threshold(k: u32, bias: u32) -> u32 {
    if k <= bias {
        T_MIN
    } else if k >= bias + T_MAX {
        T_MAX
    } else {
        k - bias
    }
}

fn digit(d: u32) -> char {
    // d < 36 by construction.
    char::from(if d < 26 {
        b'a' + d as u8
    } else {
        b'0' + (d - 26) as u8
    })
}

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_known_labels() {
        // Vectors from RFC 3492 section 7.1 and from browsers' address bars.
        for (host, ascii) in [
            ("bücher.example", "xn--bcher-kva.example"),
            ("München.DE", "xn--mnchen-3ya.de"),
            ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
            ("правительство.рф", "xn--80aealotwbjpid2k.xn--p1ai"),
            ("ليهمابتكلموشعربي؟", "xn--egbpdaj6bu4bxfgehfvwxn"),
            ("他们为什么不说中文", "xn--ihqwcrb4cv8a8dqg056pqjye"),
            ("例え。テスト", "xn--r8jz45g.xn--zckzah"),
            ("Example.COM", "example.com"),
            ("BÜCHER.example", "xn--bcher-kva.example"),
            ("ПРАВИТЕЛЬСТВО.РФ", "xn--80aealotwbjpid2k.xn--p1ai"),
        ] {
            assert_eq!(ascii_host(host).as_deref(), Some(ascii), "{host}");
        }
    }

    #[test]
    fn rewrites_only_the_host_of_a_url() {
        assert_eq!(
            ascii_url("https://bücher.example:8443/danke?x=ü#f"),
            "https://xn--bcher-kva.example:8443/danke?x=ü#f"
        );
        assert_eq!(
            ascii_url("https://user@bücher.example"),
            "https://user@xn--bcher-kva.example"
        );
        assert!(matches!(
            ascii_url("https://example.com/ü"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(ascii_url("/relative/ü"), Cow::Borrowed(_)));
    }

    #[test]
    fn url_accepts_what_it_makes() {
        let url = url::Url::parse(&ascii_url("https://bücher.example/")).unwrap();
        assert_eq!(url.host_str(), Some("xn--bcher-kva.example"));
    }

    #[test]
    fn refuses_labels_longer_than_dns_allows() {
        assert_eq!(ascii_host(&"ü".repeat(64)), None);
    }

    #[test]
    fn ace_labels_are_checked() {
        for good in ["bcher-kva", "p1ai", "r8jz45g", "80aealotwbjpid2k"] {
            assert!(valid_ace_label(good), "{good}");
        }
        // `a` decodes to U+0080, a control; `abc` to ASCII only; `99` is
        // not canonical; `-` and `ü` are not Punycode.
        for bad in ["a", "abc-", "", "bcher-kva!", "ü", "zz99999999999"] {
            assert!(!valid_ace_label(bad), "{bad}");
        }
    }

    #[test]
    fn lowercase_agrees_with_unicode_where_it_maps() {
        for c in ('\0'..='\u{52F}').filter(|&c| lowercase(c) != c) {
            assert_eq!(c.to_lowercase().collect::<Vec<_>>(), [lowercase(c)], "{c}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever the input, no panic, and the output is ASCII.
        #[test]
        fn any_host_gives_ascii_or_none(s in "\\PC{0,80}") {
            if let Some(a) = ascii_host(&s) {
                prop_assert!(a.is_ascii());
            }
            let _ = ascii_url(&format!("https://{s}/"));
            let _ = valid_ace_label(&s);
        }

        /// Encoding round-trips through the decoder, and what the encoder
        /// makes of a real word is a valid label.
        #[test]
        fn labels_round_trip(label in "[a-z0-9à-öø-ÿа-я例えテスト]{1,30}") {
            let chars: Vec<char> = label.chars().collect();
            let code = punycode(&chars).unwrap();
            prop_assert_eq!(decode(&code), Some(chars.clone()));
            prop_assert_eq!(valid_ace_label(&code), !label.is_ascii());
        }
    }
}
