//! The kinds of fake platform, their client credentials and failure modes.

pub const CLIENT_ID: &str = "fake-client-id";
pub const CLIENT_SECRET: &str = "fake-client-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Twitch,
    Blaze,
    Glimesh,
    Firework,
    StreamerSonglist,
    /// Generic RFC 6749; `basic`: the client authenticates by HTTP Basic only.
    OAuth2 {
        basic: bool,
    },
}

/// How token and refresh calls fail (after the configured delay).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Failure {
    None,
    /// This status with the platform's error JSON.
    Status(u16),
    /// 200 with an HTML page.
    Garbage,
    /// 200 with a ~10 MB JSON body (a full-looking answer whose tokens are not valid).
    Huge,
    /// The connection is closed without an answer.
    Reset,
    /// 200 JSON shaped like the answer but without the access-token field.
    MissingField,
    /// This status with this JSON body (a platform's own words).
    Json(u16, String),
    /// This status with `{"error": "invalid_request", "error_description": ...}` echoing
    /// the request's query string and body, secrets and all (as careless platforms do).
    Echo(u16),
}
