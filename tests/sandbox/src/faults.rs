//! Injected failures: "fail the next N calls of this route", "hold the
//! next N calls of this route for a while" (a timeout, for a client with a
//! shorter one), "fail this fraction of REST calls" (deterministic for a
//! seed), and a delay on every answer. Set through `POST /_sandbox/faults`.

use serde_json::{json, Map, Value};

use crate::route::Route;

/// Which calls a counted fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One route, by its [`Route::name`].
    Route(Route),
    /// `/token`, any grant.
    Token,
    /// Anything under `/crm/rest`.
    Rest,
    /// The token endpoint and the REST API (not the consent pages or the
    /// control API).
    Any,
}

impl Target {
    fn parse(name: &str) -> Option<Target> {
        match name {
            "token" => Some(Target::Token),
            "rest" => Some(Target::Rest),
            "any" => Some(Target::Any),
            other => Route::from_name(other)
                .filter(|r| *r != Route::Control)
                .map(Target::Route),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Target::Route(route) => route.name(),
            Target::Token => "token",
            Target::Rest => "rest",
            Target::Any => "any",
        }
    }

    fn matches(self, route: Route) -> bool {
        match self {
            Target::Route(r) => r == route,
            Target::Token => route.is_token(),
            Target::Rest => route.is_rest(),
            Target::Any => route.is_token() || route.is_rest(),
        }
    }
}

/// A failure to answer instead of (or, with `after`, in place of) the real
/// answer, or a hold before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The status to answer; `None` for a hold alone (the call is carried
    /// out and answered normally, late).
    pub status: Option<u16>,
    /// When true the call is carried out first and only its answer is
    /// replaced, like a response lost on the way back.
    pub after: bool,
    /// How long to hold the call before carrying it out and answering: a
    /// client whose timeout is shorter sees a timeout, and does not learn
    /// whether Keap did the work.
    pub hang_ms: u64,
}

#[derive(Debug, Clone)]
struct Counted {
    target: Target,
    fault: Fault,
    remaining: u64,
}

/// SplitMix64: tiny, seedable, good enough to pick which calls fail.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone)]
struct Random {
    rate: f64,
    seed: u64,
    statuses: Vec<u16>,
    rng: SplitMix64,
}

/// Every fault currently set.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    counted: Vec<Counted>,
    random: Option<Random>,
    delay_ms: u64,
}

/// The longest delay the control API accepts (a test's timeout is shorter).
pub const MAX_DELAY_MS: u64 = 120_000;

impl FaultPlan {
    /// Applies a `POST /_sandbox/faults` body. Keys: `route`+`status`
    /// and/or `hang_ms` (+`count`, default 1, +`after`);
    /// `fail_rate`+`statuses` (+`seed`); `delay_ms`; `clear`. Unknown keys
    /// are refused so a typo in a test does not silently disable a fault.
    pub fn apply(&mut self, body: &Value) -> Result<(), String> {
        let object = body
            .as_object()
            .ok_or_else(|| "body must be a JSON object".to_owned())?;
        const KEYS: [&str; 10] = [
            "route",
            "status",
            "hang_ms",
            "count",
            "after",
            "fail_rate",
            "seed",
            "statuses",
            "delay_ms",
            "clear",
        ];
        if let Some(key) = object.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key {key:?}; known: {}", KEYS.join(", ")));
        }
        let mut next = self.clone();
        if object.get("clear") == Some(&Value::Bool(true)) {
            next = FaultPlan::default();
        }
        if ["route", "status", "hang_ms"]
            .iter()
            .any(|k| object.contains_key(*k))
        {
            next.counted.push(parse_counted(object)?);
        }
        if let Some(rate) = object.get("fail_rate") {
            next.random = parse_random(rate, object)?;
        }
        if let Some(delay) = object.get("delay_ms") {
            next.delay_ms = delay
                .as_u64()
                .filter(|ms| *ms <= MAX_DELAY_MS)
                .ok_or_else(|| format!("delay_ms must be an integer 0..={MAX_DELAY_MS}"))?;
        }
        *self = next;
        Ok(())
    }

    /// How long to wait before answering any Keap route.
    pub fn delay_ms(&self) -> u64 {
        self.delay_ms
    }

    /// The fault for this call of `route`, if one is due; spends it.
    pub fn take(&mut self, route: Route) -> Option<Fault> {
        if let Some(index) = self
            .counted
            .iter()
            .position(|c| c.remaining > 0 && c.target.matches(route))
        {
            let counted = self.counted.get_mut(index)?;
            counted.remaining -= 1;
            let fault = counted.fault;
            if counted.remaining == 0 {
                self.counted.remove(index);
            }
            return Some(fault);
        }
        if !route.is_rest() {
            return None;
        }
        let random = self.random.as_mut()?;
        let roll = random.rng.next_unit();
        let pick = random.rng.next_u64();
        if roll >= random.rate || random.statuses.is_empty() {
            return None;
        }
        let index = usize::try_from(pick % random.statuses.len() as u64).unwrap_or(0);
        random.statuses.get(index).map(|&status| Fault {
            status: Some(status),
            after: false,
            hang_ms: 0,
        })
    }

    /// The plan, for `GET /_sandbox/state`.
    pub fn to_json(&self) -> Value {
        json!({
            "pending": self.counted.iter().map(|c| json!({
                "route": c.target.name(),
                "status": c.fault.status,
                "hang_ms": c.fault.hang_ms,
                "remaining": c.remaining,
                "after": c.fault.after,
            })).collect::<Vec<_>>(),
            "random": self.random.as_ref().map(|r| json!({
                "fail_rate": r.rate,
                "seed": r.seed,
                "statuses": r.statuses,
            })),
            "delay_ms": self.delay_ms,
        })
    }
}

fn parse_status(value: Option<&Value>) -> Result<u16, String> {
    value
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (400..=599).contains(s))
        .ok_or_else(|| "status must be an HTTP error status (400..=599)".to_owned())
}

fn parse_counted(object: &Map<String, Value>) -> Result<Counted, String> {
    let name = object
        .get("route")
        .and_then(Value::as_str)
        .ok_or_else(|| "route must be a string".to_owned())?;
    let target = Target::parse(name).ok_or_else(|| {
        format!("unknown route {name:?}; use token, rest, any or a route name from the counts")
    })?;
    let status = match object.get("status") {
        None => None,
        Some(status) => Some(parse_status(Some(status))?),
    };
    let hang_ms = match object.get("hang_ms") {
        None => 0,
        Some(ms) => ms
            .as_u64()
            .filter(|ms| (1..=MAX_DELAY_MS).contains(ms))
            .ok_or_else(|| format!("hang_ms must be an integer 1..={MAX_DELAY_MS}"))?,
    };
    if status.is_none() && hang_ms == 0 {
        return Err("a route fault needs a status, a hang_ms or both".to_owned());
    }
    let remaining = match object.get("count") {
        None => 1,
        Some(count) => count
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| "count must be a positive integer".to_owned())?,
    };
    let after = match object.get("after") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| "after must be a boolean".to_owned())?,
    };
    Ok(Counted {
        target,
        fault: Fault {
            status,
            after,
            hang_ms,
        },
        remaining,
    })
}

fn parse_random(rate: &Value, object: &Map<String, Value>) -> Result<Option<Random>, String> {
    let rate = rate
        .as_f64()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| "fail_rate must be a number in 0..=1".to_owned())?;
    if rate == 0.0 {
        return Ok(None);
    }
    let seed = match object.get("seed") {
        None => 0,
        Some(s) => s
            .as_u64()
            .ok_or_else(|| "seed must be a non-negative integer".to_owned())?,
    };
    let statuses = match object.get("statuses") {
        None => vec![500],
        Some(list) => list
            .as_array()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| "statuses must be a non-empty array".to_owned())?
            .iter()
            .map(|s| parse_status(Some(s)))
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Some(Random {
        rate,
        seed,
        statuses,
        rng: SplitMix64(seed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_fault_fires_n_times_on_matching_routes_only() {
        let mut plan = FaultPlan::default();
        plan.apply(&json!({"route": "contacts_put", "status": 503, "count": 2}))
            .unwrap();
        assert_eq!(plan.take(Route::TagsPost), None);
        assert_eq!(
            plan.take(Route::ContactsPut).map(|f| f.status),
            Some(Some(503))
        );
        assert_eq!(
            plan.take(Route::ContactsPut).map(|f| f.status),
            Some(Some(503))
        );
        assert_eq!(plan.take(Route::ContactsPut), None);
    }

    #[test]
    fn a_hang_alone_holds_the_call_and_can_come_with_a_status() {
        let mut plan = FaultPlan::default();
        plan.apply(&json!({"route": "notes_post", "hang_ms": 50}))
            .unwrap();
        plan.apply(&json!({"route": "notes_post", "hang_ms": 10, "status": 504, "after": true}))
            .unwrap();
        assert_eq!(plan.take(Route::TagsPost), None);
        assert_eq!(
            plan.take(Route::NotesPost),
            Some(Fault {
                status: None,
                after: false,
                hang_ms: 50
            })
        );
        assert_eq!(
            plan.take(Route::NotesPost),
            Some(Fault {
                status: Some(504),
                after: true,
                hang_ms: 10
            })
        );
        assert_eq!(plan.take(Route::NotesPost), None);
    }

    #[test]
    fn groups_match_their_routes() {
        let mut plan = FaultPlan::default();
        plan.apply(&json!({"route": "token", "status": 500}))
            .unwrap();
        assert_eq!(plan.take(Route::ContactsPut), None);
        assert!(plan.take(Route::TokenRefresh).is_some());
        plan.apply(&json!({"route": "any", "status": 500, "count": 9}))
            .unwrap();
        assert_eq!(plan.take(Route::Authorize), None);
        assert!(plan.take(Route::Userinfo).is_some());
    }

    #[test]
    fn random_faults_are_deterministic_per_seed_and_rest_only() {
        let run = || {
            let mut plan = FaultPlan::default();
            plan.apply(&json!({"fail_rate": 0.3, "seed": 42, "statuses": [500, 429]}))
                .unwrap();
            assert_eq!(plan.take(Route::TokenRefresh), None);
            (0..200)
                .map(|_| plan.take(Route::ContactsPut).and_then(|f| f.status))
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let failed = first.iter().filter(|f| f.is_some()).count();
        assert!((30..=90).contains(&failed), "{failed} of 200 failed");
        assert!(first.contains(&Some(429)) && first.contains(&Some(500)));
    }

    #[test]
    fn refuses_bad_commands_without_changing_the_plan() {
        let mut plan = FaultPlan::default();
        plan.apply(&json!({"delay_ms": 5})).unwrap();
        for bad in [
            json!({"route": "nope", "status": 500}),
            json!({"route": "rest", "status": 200}),
            json!({"route": "rest", "status": 500, "count": 0}),
            json!({"route": "rest"}),
            json!({"route": "notes_post", "hang_ms": 0}),
            json!({"route": "notes_post", "hang_ms": 999_999}),
            json!({"fail_rate": 2}),
            json!({"delay_ms": 5, "rout": "rest"}),
            json!([1]),
        ] {
            assert!(plan.apply(&bad).is_err(), "{bad}");
        }
        assert_eq!(plan.delay_ms(), 5);
        plan.apply(&json!({"clear": true})).unwrap();
        assert_eq!(plan.delay_ms(), 0);
    }
}
