//! The proxy listener's request path: route → inject → forward, with streaming bodies.

pub mod body;
pub mod forward;
pub mod headers;
pub mod route;
pub mod token;
mod upgrade;
pub mod upstream;

pub use forward::handle;
pub use token::TOKEN_USER;
