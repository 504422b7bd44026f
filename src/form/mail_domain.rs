//! Whether an address's domain takes mail, asked of a DNS-over-HTTPS
//! resolver in its JSON form (docs/CONTRACT.md 3.10):
//! `GET {DOH_URL}?name=<domain>&type=MX` with `Accept: application/dns-json`.
//!
//! A domain takes mail when it has MX records, or, with none, an A or
//! AAAA record (the implicit MX of RFC 5321 5.1). It does not when it does
//! not exist (`Status` 3, NXDOMAIN), has none of those records, or says
//! so with a null MX (RFC 7505: its one MX is `0 .`). Anything else (the
//! resolver fails, answers late or answers nonsense) is [`Verdict::Unknown`],
//! and an unknown domain never stops a lead: the lookup only ever refuses
//! on a clear answer. The whole lookup has [`LOOKUP_BUDGET_MS`].
//!
//! Answers are kept in the isolate's [`DomainCache`] for their TTL, so a
//! common domain costs no request at all.

use std::collections::BTreeMap;

use futures_util::future::join;
use serde::Deserialize;

use crate::http::{Method, OutRequest};
use crate::platform::Platform;

/// The longest a lookup may hold a visitor up, all its requests together.
pub const LOOKUP_BUDGET_MS: u64 = 1500;
/// Answers kept at most this long, whatever their TTL says.
const MAX_TTL_SECS: u64 = 86_400;
/// Answers kept at least this long (a TTL of 0 would make every post ask).
const MIN_TTL_SECS: u64 = 60;
/// An answer with no TTL (a negative one without an SOA) is kept this long.
const DEFAULT_TTL_SECS: u64 = 300;
/// A failed lookup is not asked again for this long, so a resolver that
/// is down costs one wait per domain per half minute, not one per post.
const UNKNOWN_TTL_SECS: u64 = 30;
/// Domains kept per isolate.
pub const CACHE_CAPACITY: usize = 256;

/// Why a domain cannot take mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// NXDOMAIN: the domain does not exist (a typo, usually).
    NoSuchDomain,
    /// It exists but has no MX, A or AAAA record.
    NoRecords,
    /// It says it takes no mail (RFC 7505).
    NullMx,
}

impl Refusal {
    /// For the owner's log: no address, only what was found.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoSuchDomain => "the domain does not exist",
            Refusal::NoRecords => "the domain has no mail server or address",
            Refusal::NullMx => "the domain accepts no mail (null MX)",
        }
    }
}

/// What the lookup concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    TakesMail,
    Refused(Refusal),
    /// No clear answer: the lead goes on as if the domain were fine.
    Unknown,
}

/// The record types asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Mx,
    A,
    Aaaa,
}

impl RecordType {
    fn name(self) -> &'static str {
        match self {
            RecordType::Mx => "MX",
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }

    /// The type's number in a DNS answer.
    fn code(self) -> u16 {
        match self {
            RecordType::Mx => 15,
            RecordType::A => 1,
            RecordType::Aaaa => 28,
        }
    }
}

/// What one answer says about one record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// NXDOMAIN.
    NoDomain { ttl_secs: u64 },
    /// At least one record of the type (MX: not only a null MX).
    Found { ttl_secs: u64 },
    /// The one MX record is the null MX `0 .`.
    NullMx { ttl_secs: u64 },
    /// The name exists but has no record of the type.
    Empty { ttl_secs: u64 },
    /// No usable answer: an error status, a failed or late request, text
    /// that is not a DoH answer.
    Failed,
}

/// A DoH JSON answer, read leniently: only what the decision needs.
#[derive(Deserialize)]
struct DohAnswer {
    #[serde(rename = "Status")]
    status: u32,
    #[serde(rename = "Answer", default)]
    answer: Vec<DohRecord>,
    #[serde(rename = "Authority", default)]
    authority: Vec<DohRecord>,
}

#[derive(Deserialize)]
struct DohRecord {
    #[serde(rename = "type", default)]
    kind: u16,
    #[serde(rename = "TTL", default)]
    ttl: Option<u64>,
    #[serde(default)]
    data: String,
}

/// True for an MX record's data saying "no mail": preference 0 and the
/// root as exchange (`0 .`).
fn is_null_mx(data: &str) -> bool {
    let mut parts = data.split_whitespace();
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(pref), Some("."), None) if pref.parse::<u16>() == Ok(0)
    )
}

/// Reads one resolver answer to a question about `want`.
pub fn read_answer(body: &[u8], want: RecordType) -> Step {
    let Ok(answer) = serde_json::from_slice::<DohAnswer>(body) else {
        return Step::Failed;
    };
    let ttl_of = |records: &[&DohRecord]| {
        records
            .iter()
            .filter_map(|r| r.ttl)
            .min()
            .unwrap_or(DEFAULT_TTL_SECS)
    };
    // A negative answer's TTL is its SOA's (RFC 2308), in the authority part.
    let negative_ttl = || ttl_of(&answer.authority.iter().collect::<Vec<_>>());
    match answer.status {
        0 => {}
        3 => {
            return Step::NoDomain {
                ttl_secs: negative_ttl(),
            }
        }
        _ => return Step::Failed,
    }
    // The answer may hold a CNAME chain before the records asked for.
    let found: Vec<&DohRecord> = answer
        .answer
        .iter()
        .filter(|r| r.kind == want.code())
        .collect();
    if found.is_empty() {
        return Step::Empty {
            ttl_secs: negative_ttl(),
        };
    }
    let ttl_secs = ttl_of(&found);
    // RFC 7505: a null MX is the domain's only MX. One beside real ones is
    // a mistake of the domain's, not a refusal of mail.
    if want == RecordType::Mx && found.len() == 1 && found.iter().all(|r| is_null_mx(&r.data)) {
        Step::NullMx { ttl_secs }
    } else {
        Step::Found { ttl_secs }
    }
}

/// The verdict from the MX answer and, when it had no MX, the A and AAAA
/// answers; with how long it holds. Only clear answers refuse.
pub fn decide(mx: Step, fallback: Option<(Step, Step)>) -> (Verdict, u64) {
    match (mx, fallback) {
        (Step::Found { ttl_secs }, _) => (Verdict::TakesMail, ttl_secs),
        (Step::NoDomain { ttl_secs }, _) => (Verdict::Refused(Refusal::NoSuchDomain), ttl_secs),
        (Step::NullMx { ttl_secs }, _) => (Verdict::Refused(Refusal::NullMx), ttl_secs),
        (Step::Empty { .. }, Some((a, aaaa))) => match (a, aaaa) {
            (Step::Found { ttl_secs }, _) | (_, Step::Found { ttl_secs }) => {
                (Verdict::TakesMail, ttl_secs)
            }
            (
                Step::Empty { ttl_secs: t1 } | Step::NoDomain { ttl_secs: t1 },
                Step::Empty { ttl_secs: t2 } | Step::NoDomain { ttl_secs: t2 },
            ) => (Verdict::Refused(Refusal::NoRecords), t1.min(t2)),
            _ => (Verdict::Unknown, UNKNOWN_TTL_SECS),
        },
        _ => (Verdict::Unknown, UNKNOWN_TTL_SECS),
    }
}

/// The name to ask about: the address's domain in ASCII (IDNA), lower
/// case, without a trailing dot. `None` for an address literal
/// (`[192.0.2.1]`) or anything that is not a domain name: nothing to ask.
pub fn lookup_name(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    if domain.starts_with('[') {
        return None;
    }
    match url::Host::parse(domain.trim_end_matches('.')) {
        Ok(url::Host::Domain(ascii)) if !ascii.is_empty() => Some(ascii),
        _ => None,
    }
}

/// The question to the resolver; `None` when `doh_url` is not a URL.
pub fn request(doh_url: &str, name: &str, want: RecordType, timeout_ms: u32) -> Option<OutRequest> {
    let mut url = url::Url::parse(doh_url).ok()?;
    url.query_pairs_mut()
        .append_pair("name", name)
        .append_pair("type", want.name());
    Some(
        OutRequest::new(Method::Get, url.as_str())
            .header("Accept", "application/dns-json")
            .timeout_ms(timeout_ms),
    )
}

/// Looked-up domains, each until its TTL runs out; at most
/// [`CACHE_CAPACITY`], the one closest to expiring making room first.
#[derive(Debug, Default)]
pub struct DomainCache {
    entries: BTreeMap<String, (Verdict, u64)>,
}

impl DomainCache {
    /// The verdict for `name`, if known and not expired at `now_ms`.
    pub fn get(&self, name: &str, now_ms: u64) -> Option<Verdict> {
        self.entries
            .get(name)
            .filter(|(_, expires)| *expires > now_ms)
            .map(|(verdict, _)| *verdict)
    }

    /// Keeps `verdict` for `ttl_secs` (within the cache's bounds).
    pub fn put(&mut self, name: &str, verdict: Verdict, ttl_secs: u64, now_ms: u64) {
        let ttl = if verdict == Verdict::Unknown {
            UNKNOWN_TTL_SECS
        } else {
            ttl_secs.clamp(MIN_TTL_SECS, MAX_TTL_SECS)
        };
        if !self.entries.contains_key(name) && self.entries.len() >= CACHE_CAPACITY {
            self.entries.retain(|_, (_, expires)| *expires > now_ms);
            if self.entries.len() >= CACHE_CAPACITY {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, expires))| *expires)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(
            name.to_string(),
            (verdict, now_ms.saturating_add(ttl.saturating_mul(1000))),
        );
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Asks one question within what is left of the budget that began at
/// `started_ms`.
async fn ask<P: Platform>(
    p: &P,
    doh_url: &str,
    name: &str,
    want: RecordType,
    started_ms: u64,
) -> Step {
    let left = LOOKUP_BUDGET_MS.saturating_sub(p.now_ms().saturating_sub(started_ms));
    if left == 0 {
        return Step::Failed;
    }
    let Some(req) = request(doh_url, name, want, left as u32) else {
        return Step::Failed;
    };
    match p.fetch(req).await {
        Ok(r) if r.status == 200 => read_answer(&r.body, want),
        _ => Step::Failed,
    }
}

/// Whether `address`'s domain takes mail: from the isolate's cache, else
/// one MX question (and, when it has no MX, the A and AAAA questions side
/// by side), within [`LOOKUP_BUDGET_MS`]. Never fails: an unclear answer
/// is [`Verdict::Unknown`].
pub async fn check<P: Platform>(p: &P, doh_url: &str, address: &str) -> Verdict {
    let Some(name) = lookup_name(address) else {
        return Verdict::Unknown;
    };
    let now = p.now_ms();
    if let Some(memory) = p.memory() {
        if let Some(known) = memory.with(|c: &mut DomainCache| c.get(&name, now)) {
            return known;
        }
    }
    let mx = ask(p, doh_url, &name, RecordType::Mx, now).await;
    let fallback = if matches!(mx, Step::Empty { .. }) {
        Some(
            join(
                ask(p, doh_url, &name, RecordType::A, now),
                ask(p, doh_url, &name, RecordType::Aaaa, now),
            )
            .await,
        )
    } else {
        None
    };
    let (verdict, ttl) = decide(mx, fallback);
    if let Some(memory) = p.memory() {
        memory.with(|c: &mut DomainCache| c.put(&name, verdict, ttl, p.now_ms()));
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{FetchError, InResponse};
    use crate::testing::{block_on, MemoryPlatform};

    const DOH: &str = "https://doh.test/dns-query";

    fn mx(data: &str, ttl: u64) -> String {
        format!(
            r#"{{"Status":0,"Answer":[{{"name":"x.","type":15,"TTL":{ttl},"data":"{data}"}}]}}"#
        )
    }

    #[test]
    fn reads_mx_answers() {
        let body = mx("10 mx.example.com.", 300);
        assert_eq!(
            read_answer(body.as_bytes(), RecordType::Mx),
            Step::Found { ttl_secs: 300 }
        );
        assert_eq!(
            read_answer(mx("0 .", 3600).as_bytes(), RecordType::Mx),
            Step::NullMx { ttl_secs: 3600 }
        );
        // A null MX beside a real one is the domain's mistake: it takes mail.
        let both = r#"{"Status":0,"Answer":[{"type":15,"TTL":60,"data":"0 ."},{"type":15,"TTL":60,"data":"5 mx.a."}]}"#;
        assert_eq!(
            read_answer(both.as_bytes(), RecordType::Mx),
            Step::Found { ttl_secs: 60 }
        );
        // "10 ." is not the null MX (preference must be 0).
        assert_eq!(
            read_answer(mx("10 .", 60).as_bytes(), RecordType::Mx),
            Step::Found { ttl_secs: 60 }
        );
    }

    #[test]
    fn reads_negative_and_broken_answers() {
        let nx = r#"{"Status":3,"Authority":[{"type":6,"TTL":900,"data":"ns. host. 1 2 3 4 5"}]}"#;
        assert_eq!(
            read_answer(nx.as_bytes(), RecordType::Mx),
            Step::NoDomain { ttl_secs: 900 }
        );
        let empty = r#"{"Status":0,"Answer":[{"type":5,"TTL":60,"data":"other.example."}]}"#;
        assert_eq!(
            read_answer(empty.as_bytes(), RecordType::Mx),
            Step::Empty {
                ttl_secs: DEFAULT_TTL_SECS
            }
        );
        assert_eq!(
            read_answer(br#"{"Status":2}"#, RecordType::Mx),
            Step::Failed
        );
        assert_eq!(read_answer(b"<html>", RecordType::Mx), Step::Failed);
        assert_eq!(read_answer(b"", RecordType::A), Step::Failed);
    }

    #[test]
    fn decides_only_on_clear_answers() {
        let found = Step::Found { ttl_secs: 10 };
        let empty = Step::Empty { ttl_secs: 20 };
        assert_eq!(decide(found, None).0, Verdict::TakesMail);
        assert_eq!(
            decide(Step::NoDomain { ttl_secs: 5 }, None),
            (Verdict::Refused(Refusal::NoSuchDomain), 5)
        );
        assert_eq!(
            decide(Step::NullMx { ttl_secs: 5 }, None).0,
            Verdict::Refused(Refusal::NullMx)
        );
        assert_eq!(decide(empty, Some((found, empty))).0, Verdict::TakesMail);
        assert_eq!(decide(empty, Some((empty, found))).0, Verdict::TakesMail);
        assert_eq!(
            decide(empty, Some((empty, empty))).0,
            Verdict::Refused(Refusal::NoRecords)
        );
        assert_eq!(
            decide(empty, Some((Step::Failed, empty))).0,
            Verdict::Unknown
        );
        assert_eq!(decide(Step::Failed, None).0, Verdict::Unknown);
    }

    #[test]
    fn the_name_asked_is_the_ascii_domain() {
        assert_eq!(lookup_name("a@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(
            lookup_name("josé@bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            lookup_name("a@example.com.").as_deref(),
            Some("example.com")
        );
        assert_eq!(lookup_name("a@[192.0.2.1]"), None);
        assert_eq!(lookup_name("no-at-sign"), None);
        let r = request(DOH, "example.com", RecordType::Mx, 1500).unwrap();
        assert_eq!(r.url, "https://doh.test/dns-query?name=example.com&type=MX");
        assert_eq!(r.headers.get("Accept"), Some("application/dns-json"));
        assert_eq!(r.timeout_ms, Some(1500));
        assert!(request("not a url", "example.com", RecordType::A, 1).is_none());
    }

    /// A resolver: per (name, type), an answer body, or a failure.
    fn resolver(p: &MemoryPlatform, answers: Vec<(&'static str, &'static str, Option<String>)>) {
        p.respond(move |req| {
            let url = url::Url::parse(&req.url).unwrap();
            let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
            let hit = answers.iter().find(|(n, t, _)| {
                q.get("name").map(String::as_str) == Some(*n)
                    && q.get("type").map(String::as_str) == Some(*t)
            });
            match hit {
                Some((_, _, Some(body))) => Ok(InResponse::new(200, body.clone())),
                Some((_, _, None)) => Err(FetchError::Timeout),
                None => Ok(InResponse::new(200, r#"{"Status":0}"#)),
            }
        });
    }

    #[test]
    fn an_a_record_alone_takes_mail_and_nothing_at_all_does_not() {
        let p = MemoryPlatform::new();
        let a = r#"{"Status":0,"Answer":[{"type":1,"TTL":120,"data":"192.0.2.1"}]}"#.to_string();
        resolver(&p, vec![("a-only.test", "A", Some(a))]);
        assert_eq!(
            block_on(check(&p, DOH, "x@a-only.test")),
            Verdict::TakesMail
        );
        assert_eq!(p.requests.borrow().len(), 3, "MX, then A and AAAA");
        assert_eq!(
            block_on(check(&p, DOH, "x@empty.test")),
            Verdict::Refused(Refusal::NoRecords)
        );
    }

    #[test]
    fn a_failing_resolver_is_unknown_and_a_bad_doh_url_asks_nothing() {
        let p = MemoryPlatform::new();
        resolver(&p, vec![("slow.test", "MX", None)]);
        assert_eq!(block_on(check(&p, DOH, "x@slow.test")), Verdict::Unknown);
        p.respond(|_| Ok(InResponse::new(500, "")));
        assert_eq!(block_on(check(&p, DOH, "x@down.test")), Verdict::Unknown);
        let before = p.requests.borrow().len();
        assert_eq!(block_on(check(&p, "::", "x@other.test")), Verdict::Unknown);
        assert_eq!(p.requests.borrow().len(), before);
    }

    #[test]
    fn answers_are_cached_for_their_ttl() {
        let p = MemoryPlatform::new();
        resolver(
            &p,
            vec![("mail.test", "MX", Some(mx("10 mx.mail.test.", 600)))],
        );
        assert_eq!(block_on(check(&p, DOH, "a@mail.test")), Verdict::TakesMail);
        assert_eq!(block_on(check(&p, DOH, "b@MAIL.test")), Verdict::TakesMail);
        assert_eq!(
            p.requests.borrow().len(),
            1,
            "the second came from the cache"
        );
        p.advance_ms(600_000);
        assert_eq!(block_on(check(&p, DOH, "c@mail.test")), Verdict::TakesMail);
        assert_eq!(
            p.requests.borrow().len(),
            2,
            "asked again once the TTL ran out"
        );
    }

    proptest::proptest! {
        /// Whatever a resolver answers and whatever the address: a step
        /// or a name, never a panic.
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
                        data in proptest::prelude::any::<String>(),
                        address in proptest::prelude::any::<String>()) {
            let _ = read_answer(&body, RecordType::Mx);
            let json = serde_json::json!({"Status": 0, "Answer": [{"type": 15, "TTL": 1, "data": data}]});
            let _ = read_answer(json.to_string().as_bytes(), RecordType::Mx);
            let _ = lookup_name(&address);
            let _ = lookup_name(&format!("a@{address}"));
        }
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut cache = DomainCache::default();
        for i in 0..(CACHE_CAPACITY + 50) {
            // Later ones live longer: the first ones make room.
            cache.put(&format!("d{i}.test"), Verdict::TakesMail, 60 + i as u64, 0);
        }
        assert_eq!(cache.len(), CACHE_CAPACITY);
        assert_eq!(cache.get("d0.test", 0), None);
        assert_eq!(
            cache.get(&format!("d{}.test", CACHE_CAPACITY + 49), 0),
            Some(Verdict::TakesMail)
        );
        // TTLs are kept within bounds: a zero TTL still holds a minute.
        cache.put("zero.test", Verdict::Refused(Refusal::NoSuchDomain), 0, 0);
        assert!(cache.get("zero.test", 59_999).is_some());
        assert!(cache.get("zero.test", 60_000).is_none());
    }
}
