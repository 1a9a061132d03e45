//! Browsers, hosts and origins: what keeps a web page on the same machine from using the
//! proxy's tokens or changing its state. Both listeners sit on loopback, where any page in a
//! browser can reach them; these checks run before anything is routed, forwarded or changed.

mod host;
mod origin;

pub use host::HostPolicy;
pub use origin::{AdminOrigin, BrowserContext, OriginPolicy, OriginVerdict};
