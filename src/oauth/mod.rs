//! The token lifecycle: answers and their dialects per platform, the held token, its cell
//! with single-flight refresh, the schedule, and the refresher loop.

mod answer;
mod cell;
mod client;
pub mod device;
pub mod device_logins;
mod dialect;
mod error;
mod keep_saving;
pub mod login;
mod obtain;
mod pending;
mod persist;
pub mod pkce;
mod provider;
mod refresher;
pub mod revoke;
pub mod said;
pub mod schedule;
mod state;
pub mod token;
pub mod validate;

pub use crate::store::{FileStore, StoreError, StoredToken, TokenStore};
pub use answer::{parse as parse_answer, Answer};
pub use cell::{Failure, Status, TokenCell, TokenKind};
pub use client::{classify, ClientBuildError, PlatformClient};
pub use dialect::{token_request, Encoding, Grant, TokenRequest};
pub use error::{chain as error_chain, CallFailure, TokenError};
pub use provider::{Provider, APP_SUBJECT};
pub use token::Token;
