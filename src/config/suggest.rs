//! "Did you mean": the closest of the valid words to a misspelt one.

/// The candidate most like `word`, if one is close enough to be what was meant.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// ` (did you mean `X`?)` when a candidate is close, else nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_misspellings_find_their_word_and_others_find_none() {
        let keys = ["listen", "admin_listen", "public_url", "retry_buffer"];
        assert_eq!(closest("lisen", keys), Some("listen"));
        assert_eq!(closest("admin_lsten", keys), Some("admin_listen"));
        assert_eq!(closest("retry_bufer", keys), Some("retry_buffer"));
        assert_eq!(closest("colour", keys), None);
        let kinds = [
            "twitch",
            "blaze",
            "glimesh",
            "firework",
            "streamersonglist",
            "oauth2",
        ];
        assert_eq!(closest("twich", kinds), Some("twitch"));
        assert_eq!(closest("kick", kinds), None);
    }
}
