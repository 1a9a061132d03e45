//! Each platform kind's preset: endpoints and API base, as SPEC.md's platform table gives them.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Twitch,
    Blaze,
    Glimesh,
    Firework,
    StreamerSonglist,
    OAuth2,
}

pub const KINDS: &str = "twitch, blaze, glimesh, firework, streamersonglist, oauth2";

impl FromStr for Kind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "twitch" => Kind::Twitch,
            "blaze" => Kind::Blaze,
            "glimesh" => Kind::Glimesh,
            "firework" => Kind::Firework,
            "streamersonglist" => Kind::StreamerSonglist,
            "oauth2" => Kind::OAuth2,
            _ => return Err(()),
        })
    }
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Twitch => "twitch",
            Kind::Blaze => "blaze",
            Kind::Glimesh => "glimesh",
            Kind::Firework => "firework",
            Kind::StreamerSonglist => "streamersonglist",
            Kind::OAuth2 => "oauth2",
        }
    }

    pub fn preset(self) -> Preset {
        match self {
            Kind::Twitch => Preset {
                api_base: Some("https://api.twitch.tv/helix"),
                authorize_url: Some("https://id.twitch.tv/oauth2/authorize"),
                token_url: Some("https://id.twitch.tv/oauth2/token"),
                refresh_url: None,
                validate_url: Some("https://id.twitch.tv/oauth2/validate"),
                revoke_url: Some("https://id.twitch.tv/oauth2/revoke"),
                device_authorization_url: Some("https://id.twitch.tv/oauth2/device"),
            },
            Kind::Blaze => Preset {
                api_base: Some("https://api.blaze.stream"),
                authorize_url: Some("https://blaze.stream/bapi/oauth2/generate-auth-url"),
                token_url: Some("https://blaze.stream/bapi/oauth2/token"),
                refresh_url: Some("https://blaze.stream/bapi/oauth2/refresh"),
                validate_url: None,
                revoke_url: None,
                device_authorization_url: None,
            },
            Kind::Glimesh => Preset {
                api_base: Some("https://glimesh.tv/api"),
                authorize_url: Some("https://glimesh.tv/oauth/authorize"),
                token_url: Some("https://glimesh.tv/api/oauth/token"),
                refresh_url: None,
                validate_url: None,
                revoke_url: None,
                device_authorization_url: None,
            },
            Kind::Firework => Preset {
                api_base: Some("https://api.firework.com"),
                authorize_url: Some("https://api.firework.com/oauth/authorize"),
                token_url: Some("https://api.firework.com/oauth/token"),
                refresh_url: None,
                validate_url: None,
                revoke_url: None,
                device_authorization_url: None,
            },
            Kind::StreamerSonglist => Preset {
                api_base: Some("https://api.streamersonglist.com"),
                authorize_url: Some("https://id.streamersonglist.com/oauth2/authorize"),
                token_url: Some("https://id.streamersonglist.com/oauth2/token"),
                refresh_url: None,
                validate_url: None,
                revoke_url: None,
                device_authorization_url: None,
            },
            Kind::OAuth2 => Preset::default(),
        }
    }

    /// Whether the platform issues app tokens by client credentials.
    pub fn has_app_tokens(self) -> bool {
        self != Kind::Firework
    }

    /// Whether the kind can offer device-code logins (RFC 8628): Twitch by its preset, a
    /// plain oauth2 provider once `device_authorization_url` is set.
    pub fn has_device_logins(self) -> bool {
        matches!(self, Kind::Twitch | Kind::OAuth2)
    }

    /// How the login flow joins scopes.
    pub fn scope_separator(self) -> &'static str {
        match self {
            Kind::StreamerSonglist => ",",
            _ => " ",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind's defaults; `None` where the platform has no such endpoint. A missing `refresh_url`
/// means "the token endpoint".
#[derive(Debug, Default, Clone, Copy)]
pub struct Preset {
    pub api_base: Option<&'static str>,
    pub authorize_url: Option<&'static str>,
    pub token_url: Option<&'static str>,
    pub refresh_url: Option<&'static str>,
    pub validate_url: Option<&'static str>,
    pub revoke_url: Option<&'static str>,
    /// RFC 8628's device authorization endpoint, where a device-code login starts.
    pub device_authorization_url: Option<&'static str>,
}
