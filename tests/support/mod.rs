//! In-process test fakes: strict fake platform OAuth endpoints
//! (`FakePlatform`) and a recording fake upstream API (`FakeUpstream`).
//! Every integration test binary includes this with `mod support;` and uses
//! only part of it, hence the allows.
#![allow(dead_code, unused_imports)]

mod authorize;
mod blaze;
mod device;
mod firework;
mod gate;
mod glimesh;
mod grants;
mod kind;
mod oauth2;
pub mod pkce;
mod platform;
mod router;
pub mod server;
mod shapes;
mod ssl;
mod state;
mod token;
mod twitch;
mod upstream;
pub mod wire;

pub use kind::{Failure, Kind, CLIENT_ID, CLIENT_SECRET};
pub use platform::FakePlatform;
pub use upstream::{FakeUpstream, Recorded};
