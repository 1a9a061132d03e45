//! Holding one token call at the fake platform before it looks at it: while it is parked a
//! test can stop or kill the caller, then let the call through or drop it unread (as a
//! network that lost it would: the platform never saw it).

use std::time::Duration;

use tokio::sync::watch;

#[derive(Debug, Clone, Default)]
struct GateState {
    /// The grant type whose next call is parked.
    armed: Option<String>,
    /// The parked call's credential (its refresh token, or its grant type).
    parked: Option<String>,
    /// Bumped by each release.
    released: u64,
    drop: bool,
}

#[derive(Default)]
pub struct Gate {
    state: watch::Sender<GateState>,
}

impl Gate {
    /// Parks the next call of `grant`.
    pub fn arm(&self, grant: &str) {
        self.state.send_modify(|s| s.armed = Some(grant.to_string()));
    }

    /// Called by the handler; false when the call is to be dropped unread.
    pub async fn pass(&self, grant: &str, credential: &str) -> bool {
        let mut ticket = None;
        self.state.send_if_modified(|s| {
            if s.armed.as_deref() != Some(grant) {
                return false;
            }
            s.armed = None;
            s.parked = Some(credential.to_string());
            ticket = Some(s.released);
            true
        });
        let Some(ticket) = ticket else { return true };
        let mut rx = self.state.subscribe();
        let drop = match rx.wait_for(|s| s.released != ticket).await {
            Ok(s) => s.drop,
            Err(_) => true,
        };
        !drop
    }

    /// Waits until a call is parked; its credential.
    pub async fn parked(&self, timeout: Duration) -> Option<String> {
        let mut rx = self.state.subscribe();
        let parked = async {
            let s = rx.wait_for(|s| s.parked.is_some()).await.ok()?;
            s.parked.clone()
        };
        tokio::time::timeout(timeout, parked).await.ok()?
    }

    /// Lets the parked call through (`drop`: answers it with a reset, unread).
    pub fn release(&self, drop: bool) {
        self.state.send_modify(|s| {
            s.armed = None;
            s.parked = None;
            s.drop = drop;
            s.released += 1;
        });
    }
}
