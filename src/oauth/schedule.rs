//! When to refresh and how long to back off: pure functions, so the policy is unit-tested
//! apart from the clock and the network.

use std::time::Duration;

const LATE_MARGIN: Duration = Duration::from_secs(60);
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// How long after issue a token of `lifetime` is refreshed. The latest point is when 80% of
/// the lifetime has passed or 60 s remain, whichever comes first, but never before half the
/// lifetime; `jitter` in [0, 1) moves it earlier by up to a tenth of the lifetime (never below
/// half) so tokens issued together do not refresh together.
pub fn refresh_after(lifetime: Duration, jitter: f64) -> Duration {
    let half = lifetime / 2;
    let eighty = lifetime.mul_f64(0.8);
    let minute_left = lifetime.saturating_sub(LATE_MARGIN);
    let due = eighty.min(minute_left).max(half);
    let spread = (lifetime / 10).min(due - half);
    due - spread.mul_f64(jitter.clamp(0.0, 1.0))
}

/// How long after issue to refresh so that a refresh token of `refresh_lifetime` does not
/// lapse while the grant sits idle (Firework's `refresh_token_expires_in`): a tenth of its
/// life before the end, at most an hour early.
pub fn before_lapse(refresh_lifetime: Duration) -> Duration {
    refresh_lifetime.saturating_sub((refresh_lifetime / 10).min(Duration::from_secs(3600)))
}

/// How long after issue a held token is renewed: by `refresh_after`, or earlier so that a
/// refresh token with a life of its own (`grant_life`, counted from the same issue) does not
/// lapse. A token that cannot be renewed (a user token that came without a refresh token)
/// serves its whole lifetime; at its end it needs a new login.
pub fn renew_after(
    lifetime: Duration,
    grant_life: Option<Duration>,
    renewable: bool,
    jitter: f64,
) -> Duration {
    if !renewable {
        return lifetime;
    }
    let access = refresh_after(lifetime, jitter);
    grant_life.map_or(access, |life| before_lapse(life).min(access))
}

/// The wait before retry number `failures` (1 for the first retry): exponential from about
/// a second, capped at five minutes, with "equal jitter" (half fixed, half random) so that
/// retries neither synchronise nor collapse to zero.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = BACKOFF_START.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let base = exp.min(BACKOFF_CAP);
    base / 2 + (base / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

/// A lifetime for answers that carry none.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_token_that_cannot_be_renewed_serves_its_whole_lifetime() {
        assert_eq!(renew_after(s(3600), None, false, 0.5), s(3600));
        assert_eq!(renew_after(s(4), Some(s(2)), false, 0.0), s(4));
        assert_eq!(renew_after(s(3600), None, true, 0.0), s(2880));
        // A refresh token that lapses sooner wins.
        assert_eq!(renew_after(s(3600), Some(s(1000)), true, 0.0), s(900));
    }

    #[test]
    fn long_tokens_refresh_at_eighty_percent() {
        assert_eq!(refresh_after(s(3600), 0.0), s(2880));
        assert_eq!(refresh_after(s(86400), 0.0), s(69120));
    }

    #[test]
    fn sixty_seconds_left_wins_when_it_comes_first() {
        // 80% of 200 s is 160 s; 60 s left is at 140 s.
        assert_eq!(refresh_after(s(200), 0.0), s(140));
    }

    #[test]
    fn never_before_half_the_lifetime() {
        assert_eq!(refresh_after(s(100), 0.0), s(50));
        assert_eq!(refresh_after(s(10), 0.99), s(5));
        assert_eq!(refresh_after(Duration::ZERO, 0.5), Duration::ZERO);
    }

    #[test]
    fn jitter_stays_inside_the_window() {
        for j in [0.0, 0.25, 0.5, 0.999] {
            let at = refresh_after(s(3600), j);
            assert!(at <= s(2880) && at >= s(2520), "{at:?}");
        }
        let early = refresh_after(s(3600), 0.999);
        assert!(early < refresh_after(s(3600), 0.0));
    }

    #[test]
    fn refresh_tokens_are_renewed_before_they_lapse() {
        assert_eq!(before_lapse(s(600_000)), s(596_400));
        assert_eq!(before_lapse(s(1000)), s(900));
    }

    #[test]
    fn backoff_doubles_from_a_second_up_to_five_minutes() {
        assert_eq!(backoff(1, 1.0), s(1));
        assert_eq!(backoff(2, 1.0), s(2));
        assert_eq!(backoff(4, 1.0), s(8));
        assert_eq!(backoff(30, 1.0), s(300));
        assert_eq!(backoff(u32::MAX, 1.0), s(300));
        assert_eq!(backoff(3, 0.0), s(2));
        assert!(backoff(0, 0.5) <= s(1));
    }
}
