//! `Upgrade` (WebSocket) pass-through: once the upstream answers 101, the two upgraded
//! connections are joined byte for byte until either side closes.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::admission::Held;

pub async fn tunnel(client: OnUpgrade, upstream: OnUpgrade, held: Held, route: String) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            tracing::warn!(route, error = %e, "upgrade failed");
            return;
        }
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((up, down)) => tracing::debug!(route, up, down, "upgraded connection closed"),
        Err(e) => tracing::debug!(route, error = %e, "upgraded connection ended with an error"),
    }
    drop(held);
}
