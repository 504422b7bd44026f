//! The invocation's budget of subrequests, `DRAIN_SUBREQUESTS`.
//!
//! Cloudflare limits the outbound requests of one invocation (a request,
//! a Cron run, a queue batch): 50 on the Workers Free plan, far more on
//! Workers Paid. Every invocation that delivers leads counts what it
//! sends against this number and stops before it, leaving the rest for
//! the next invocation (see [`crate::flows::drain::Metered`]).

/// The free plan's limit, used when `DRAIN_SUBREQUESTS` is unset.
pub const DEFAULT_SUBREQUESTS: usize = 50;
/// The most a setting may ask for (Workers Paid's default limit).
pub const MAX_SUBREQUESTS: usize = 10_000;
/// The fewest that let a run deliver anything: the reserve for its alerts
/// plus one lead's three calls.
pub const MIN_SUBREQUESTS: usize = 5;

/// The budget in force, and what was wrong with the setting if it could
/// not be used (then the free plan's limit applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub subrequests: usize,
    pub problem: Option<String>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            subrequests: DEFAULT_SUBREQUESTS,
            problem: None,
        }
    }
}

impl Budget {
    /// Reads `DRAIN_SUBREQUESTS` (a whole number from
    /// [`MIN_SUBREQUESTS`] to [`MAX_SUBREQUESTS`]).
    pub fn parse(setting: Option<&str>) -> Budget {
        let Some(text) = setting.map(str::trim).filter(|t| !t.is_empty()) else {
            return Budget::default();
        };
        match text.parse::<usize>() {
            Ok(n) if (MIN_SUBREQUESTS..=MAX_SUBREQUESTS).contains(&n) => Budget {
                subrequests: n,
                problem: None,
            },
            _ => Budget {
                subrequests: DEFAULT_SUBREQUESTS,
                problem: Some(format!(
                    "DRAIN_SUBREQUESTS must be a whole number from {MIN_SUBREQUESTS} to \
                     {MAX_SUBREQUESTS}; {DEFAULT_SUBREQUESTS} is used"
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_means_the_free_plan() {
        assert_eq!(Budget::parse(None), Budget::default());
        assert_eq!(Budget::parse(Some("  ")).subrequests, 50);
    }

    #[test]
    fn a_number_in_range_is_used() {
        assert_eq!(Budget::parse(Some("1000")).subrequests, 1000);
        assert_eq!(Budget::parse(Some(" 5 ")).subrequests, 5);
        assert_eq!(Budget::parse(Some("10000")).problem, None);
    }

    #[test]
    fn anything_else_falls_back_and_says_why() {
        for bad in ["4", "0", "-3", "10001", "fifty", "50.5"] {
            let b = Budget::parse(Some(bad));
            assert_eq!(b.subrequests, DEFAULT_SUBREQUESTS, "{bad}");
            assert!(
                b.problem.as_deref().unwrap().contains("DRAIN_SUBREQUESTS"),
                "{bad}"
            );
        }
    }
}
