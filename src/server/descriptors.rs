//! File descriptors: every client connection and every upstream connection takes one. The
//! soft limit is often 1024 while the hard one is far higher; like nginx's
//! `worker_rlimit_nofile` and Go's runtime, the proxy raises the soft limit to the hard one
//! at start, and sizes the default `max_concurrent_requests` from what it got, so a storm of
//! requests parked on one token refresh is admitted rather than refused.

/// Descriptors kept for listeners, the store, platform calls, logs.
const RESERVE: u64 = 256;
const MIN_CAP: u64 = 64;
/// Beyond this, memory rather than descriptors is what a burst would exhaust.
const MAX_CAP: u64 = 65_536;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit in force.
pub fn raise_nofile_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the file descriptor limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The default `max_concurrent_requests` for a descriptor limit: a request holds at most two
/// (its client's connection and an upstream connection), and some are kept in reserve.
pub fn default_max_concurrent_requests(nofile: u64) -> usize {
    let cap = (nofile.saturating_sub(RESERVE) / 2).clamp(MIN_CAP, MAX_CAP);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_follows_the_descriptors() {
        assert_eq!(default_max_concurrent_requests(1024), 384);
        assert_eq!(default_max_concurrent_requests(20_000), 9_872);
        assert_eq!(default_max_concurrent_requests(1_048_576), 65_536);
        assert_eq!(default_max_concurrent_requests(100), 64);
    }
}
