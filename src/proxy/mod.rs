//! The proxy listener's request path, one phase a file: admission → host and origin
//! policy → route → token → rewrite → inject → send → replay → respond (`forward` runs them
//! in order over hyper's types; `h1`, the listener's own HTTP/1.1 engine, runs the same
//! phases over the bytes for requests without a body). Bodies stream both ways.

pub mod admission;
pub mod body;
pub mod forward;
pub mod h1;
pub mod headers;
pub mod inject;
pub(crate) mod policy;
pub mod response;
pub(crate) mod rewrite;
pub mod route;
mod route_metrics;
pub(crate) mod send;
pub mod target;
pub mod token;
mod upgrade;
pub mod upstream;

pub use forward::handle;
pub use token::TOKEN_USER;
