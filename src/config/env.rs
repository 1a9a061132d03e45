//! `TOKEN_SIDECAR_*` variables as configuration keys: `__` between levels, and each value
//! as figment reads it (numbers, booleans, arrays), except where that reading would change
//! the text. figment reads `007` as the number 7 and a long run of digits as a float, which
//! would silently alter a client id or secret made of digits; such a value stays the text
//! it was.

use figment::providers::Env;
use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// The process's `TOKEN_SIDECAR_*` variables (tests pass a scoped `Env`).
pub(super) fn environment(env: Env) -> Exact {
    // `CONFIG` names the file itself and `LOG_FORMAT` is a documented shorthand for
    // `server.log_format`; neither is a key of its own.
    Exact(
        env.ignore(&["config"])
            .map(|k| {
                if k.as_str().eq_ignore_ascii_case("log_format") {
                    "server.log_format".into()
                } else {
                    k.as_str().replace("__", ".").into()
                }
            })
            .lowercase(true),
    )
}

/// figment's `Env`, with values that do not survive its number reading kept as text.
pub(super) struct Exact(Env);

impl Provider for Exact {
    fn metadata(&self) -> Metadata {
        // Keeps `Env`'s name, which is how a problem is traced back to its variable.
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (key, text) in self.0.iter() {
            let path: Vec<&str> = key.as_str().split('.').collect();
            insert(&mut dict, &path, exact(&text));
        }
        Ok(Map::from([(Profile::Default, dict)]))
    }
}

/// Puts `value` at `path` (`providers.twitch.client_id`), making the tables on the way.
/// Written here rather than merged by a nested `Figment`: values a `Figment` merges carry
/// its own tags, and the outer one could then no longer name the variable a problem came
/// from.
fn insert(dict: &mut Dict, path: &[&str], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert((*last).to_string(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry((*first).to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if entry.as_dict().is_none() {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// figment's reading of `text`, unless it is a number whose own spelling is not `text`.
fn exact(text: &str) -> Value {
    let read: Value = text.parse().unwrap_or_else(|_| Value::from(text.to_string()));
    let Value::Num(_, num) = &read else {
        return read;
    };
    let spelled = num
        .to_u128()
        .map(|n| n.to_string())
        .or_else(|| num.to_i128().map(|n| n.to_string()));
    if spelled.as_deref() == Some(text.trim()) {
        read
    } else {
        Value::from(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &Value) -> Option<&str> {
        v.as_str()
    }

    #[test]
    fn numbers_that_read_back_the_same_stay_numbers_the_rest_stays_text() {
        assert_eq!(exact("65536").to_u128(), Some(65536));
        assert_eq!(exact("-1").to_i128(), Some(-1));
        assert_eq!(text(&exact("007")), Some("007"));
        assert_eq!(text(&exact("1e5")), Some("1e5"));
        assert_eq!(text(&exact("1.50")), Some("1.50"));
        let digits = "123456789012345678901234567890123456";
        assert_eq!(text(&exact(digits)), Some(digits));
        assert_eq!(text(&exact("abc123")), Some("abc123"));
        assert_eq!(exact("true").to_bool(), Some(true));
        assert!(exact("[\"a\", \"b\"]").into_array().is_some_and(|a| a.len() == 2));
    }

    #[test]
    fn keys_nest_and_share_their_tables() {
        let mut dict = Dict::new();
        insert(&mut dict, &["providers", "tw", "client_id"], exact("007"));
        insert(&mut dict, &["providers", "tw", "client_secret"], exact("s"));
        insert(&mut dict, &["server", "retry_buffer"], exact("1024"));
        let tw = dict["providers"]
            .as_dict()
            .and_then(|p| p["tw"].as_dict())
            .expect("nested");
        assert_eq!(tw["client_id"].as_str(), Some("007"));
        assert_eq!(tw["client_secret"].as_str(), Some("s"));
        assert_eq!(
            dict["server"].as_dict().map(|s| s["retry_buffer"].to_u128()),
            Some(Some(1024))
        );
    }
}
