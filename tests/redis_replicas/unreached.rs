//! A refresh that never reached the platform (nothing listened at its refresh endpoint) did
//! not spend the refresh token, so the next attempt presents it at once, instead of waiting
//! for an answer that cannot come (SPEC, "Token lifecycle": a transport error is retried
//! with backoff; "Several replicas": no replica presents a refresh token already spent).

use tokio::net::{TcpListener, TcpStream};

use crate::harness::redis_server::RedisServer;
use crate::harness::{provider, route, Proxy, WAIT};
use crate::support::{FakePlatform, FakeUpstream, Kind};
use crate::*;

/// Forwards every connection to `to` while it runs.
fn forward(listener: TcpListener, to: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut platform) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut platform).await;
                }
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server"]
async fn a_refresh_that_never_connected_is_presented_again_at_the_next_attempt() {
    let redis = RedisServer::start();
    let fake = FakePlatform::start(Kind::Twitch).await;
    let up = FakeUpstream::start_checking(fake.clone()).await;
    // The refresh endpoint is a port nothing listens on until the test forwards it.
    let gate = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        l.local_addr().expect("its address")
    };
    let gated = format!("http://{gate}/oauth2/token");
    let body = format!(
        "{}{}",
        provider("tw", &fake).replace(
            &format!("refresh_url = \"{}\"", fake.refresh_url()),
            &format!("refresh_url = \"{gated}\"")
        ),
        route("/u", "tw", &up.url("/helix"), "token = \"user\""),
    );
    assert!(body.contains(&gated), "the refresh goes through the gate: {body}");
    let proxy = Proxy::start_with_store("", &store(&redis), &body).await;
    assert_eq!(proxy.login(&fake, "tw", "alice").await.status(), 200);
    wait_token(&proxy, "alice", WAIT, |t| t["status"] == "valid").await;

    let refused = proxy.refresh_now("tw", "alice").await;
    assert!(
        !refused.status().is_success(),
        "nothing listens at the refresh endpoint"
    );
    assert_eq!(fake.requests("refresh_token"), 0);

    let listener = TcpListener::bind(gate).await.expect("the gate's port again");
    let forwarding = forward(listener, fake.addr());
    let resp = proxy.refresh_now("tw", "alice").await;
    let status = resp.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        resp.text().await.unwrap_or_default()
    );
    assert_eq!(
        fake.requests("refresh_token"),
        1,
        "presented once, when it could arrive"
    );
    assert!(fake.refused().is_empty(), "{:?}", fake.refused());
    assert_eq!(as_user(&proxy, "alice").await.status(), 200);
    forwarding.abort();
    proxy.stop().await;
}
