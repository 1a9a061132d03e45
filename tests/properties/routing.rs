//! Routing: escapes, rewrite, match_prefix.

use proptest::prelude::*;
use token_sidecar::proxy::route::{escapes, match_prefix, rewrite};

use crate::*;

// ---------------------------------------------------------------------------------------
// Routing.

proptest! {
    #[test]
    fn escapes_never_panics(path in any::<String>()) {
        let _ = escapes(&path);
    }

    /// What `escapes()` lets through has no `..` segment after any number of decodings.
    #[test]
    fn a_path_escapes_calls_safe_has_no_dot_dot_at_any_depth(path in tricky_path()) {
        if !escapes(&path) {
            for (depth, layer) in layers(&path).iter().enumerate() {
                prop_assert!(
                    !has_dot_dot(layer),
                    "{path:?} passes, but decoded {depth} times it is {:?}",
                    String::from_utf8_lossy(layer)
                );
            }
        }
    }

    /// And it refuses nothing else, except what is encoded four layers deep or more.
    #[test]
    fn escapes_refuses_only_dot_dot_or_absurdly_deep_encodings(path in tricky_path()) {
        let deep = layers(&path).len() > 4;
        prop_assert_eq!(escapes(&path), escapes_at_any_depth(&path) || deep, "{:?}", path);
    }

    /// Plain `..` segments anywhere are always caught, whatever surrounds them.
    #[test]
    fn a_literal_dot_dot_segment_is_always_caught(
        before in prop::collection::vec("[a-z%.]{0,4}", 0..4),
        after in prop::collection::vec("[a-z%.]{0,4}", 0..4),
        sep in prop::sample::select(vec!["/", "\\"]),
    ) {
        let path = format!("/{}{sep}..{sep}{}", before.join("/"), after.join("/"));
        prop_assert!(escapes(&path), "{path:?}");
    }

    /// A base path comes from a parsed URL and a rest from a request path: neither carries
    /// a raw `?` or `#`.
    #[test]
    fn rewrite_never_panics(base in "[^?#]{0,20}", rest in "[^?#]{0,20}", q in prop::option::of(".{0,10}")) {
        if let Ok(target) = rewrite(&base, &rest, q.as_deref()) {
            if rest.is_empty() || rest.starts_with('/') {
                prop_assert!(target.path().starts_with(&base), "{base:?} {rest:?} -> {target}");
            }
        }
    }

    /// The upstream target is the base path, then the rest, then the query: it starts with
    /// the base, and has a `..` only where base or rest already had one.
    #[test]
    fn rewrite_keeps_the_base_and_introduces_no_dot_dot(
        base in base_path(),
        rest in rest_path(),
        q in query(),
    ) {
        let target = rewrite(&base, &rest, q.as_deref());
        prop_assert!(target.is_ok(), "{base:?} {rest:?} {q:?}: {target:?}");
        let target = target.unwrap();
        let path = target.path();
        prop_assert!(path.starts_with(&base), "{path:?} does not start with {base:?}");
        prop_assert!(path.starts_with('/'), "{path:?}");
        let expected = format!("{base}{rest}");
        prop_assert_eq!(path, if expected.is_empty() { "/" } else { expected.as_str() });
        prop_assert_eq!(target.query(), q.as_deref());
        if !escapes_at_any_depth(&base) && !escapes_at_any_depth(&rest) {
            prop_assert!(!escapes_at_any_depth(path), "{path:?} gained a ..");
        }
    }

    #[test]
    fn match_prefix_never_panics(prefix in ".{0,12}", path in ".{0,24}") {
        let _ = match_prefix(&prefix, &path);
    }

    /// A prefix matches only whole segments: `/a` matches `/a` and `/a/...`, never `/ab`.
    #[test]
    fn match_prefix_matches_only_at_segment_boundaries(
        prefix in prefix(),
        tail in "[a-z./]{0,8}",
        other in "[a-z./]{0,12}",
        use_prefix in any::<bool>(),
    ) {
        let path = if use_prefix { format!("{prefix}{tail}") } else { other };
        match match_prefix(&prefix, &path) {
            Some(rest) if prefix == "/" => prop_assert_eq!(rest, path.as_str()),
            Some(rest) => {
                prop_assert_eq!(format!("{prefix}{rest}"), path.clone());
                prop_assert!(rest.is_empty() || rest.starts_with('/'), "{prefix:?} {path:?} -> {rest:?}");
                // The prefix's segments are exactly the path's first segments.
                let want: Vec<&str> = prefix.split('/').collect();
                let got: Vec<&str> = path.split('/').take(want.len()).collect();
                prop_assert_eq!(got, want);
            }
            None => {
                let boundary = path == prefix || path.starts_with(&format!("{prefix}/"));
                prop_assert!(prefix != "/" && !boundary, "{prefix:?} should match {path:?}");
            }
        }
    }
}
