//! Where in a TOML file a key is written, so that a problem can name its line. A key that is
//! not written (a missing one) is placed at the nearest table that is: its `[header]`.

use std::ops::Range;

use toml_edit::{ImDocument, Item, TableLike, Value};

/// One step of a key path: a table key or an array index (`routes[0].prefix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// `routes[0].headers.x` → [routes, 0, headers, x].
pub fn steps(key: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, indices) = part.split_once('[').unwrap_or((part, ""));
        if !name.is_empty() {
            out.push(Step::Key(name.to_string()));
        }
        for index in indices.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// The 1-based line of `key` (or of the nearest enclosing table written in the file).
pub fn line(doc: &ImDocument<String>, key: &str) -> Option<usize> {
    let span = span(doc, &steps(key))?;
    let text: &str = doc.raw();
    let upto = text.get(..span.start)?;
    Some(upto.matches('\n').count() + 1)
}

fn span(doc: &ImDocument<String>, path: &[Step]) -> Option<Range<usize>> {
    let mut best = None;
    let mut table: Option<&dyn TableLike> = Some(doc.as_table());
    let mut i = 0;
    while let (Some(t), Some(Step::Key(k))) = (table, path.get(i)) {
        let Some((key, item)) = t.get_key_value(k) else {
            break;
        };
        best = key.span().or(best);
        i += 1;
        table = match (item, path.get(i)) {
            (Item::ArrayOfTables(a), Some(Step::Index(n))) => {
                i += 1;
                a.get(*n).map(|t| {
                    best = t.span().or(best.clone());
                    t as &dyn TableLike
                })
            }
            (Item::Value(Value::Array(a)), Some(Step::Index(n))) => {
                i += 1;
                a.get(*n).and_then(|v| {
                    best = v.span().or(best.clone());
                    v.as_inline_table().map(|t| t as &dyn TableLike)
                })
            }
            (item, _) => {
                if let Item::Table(t) = item {
                    best = t.span().or(best);
                }
                item.as_table_like()
            }
        };
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[server]\nlisten = \"x\"\n\n[providers.twitch]\nclient_id = \"c\"\n\n\
                        [[routes]]\nprefix = \"/a\"\n\n[[routes]]\nprefix = \"/b\"\nheaders = { x = \"1\" }\n";

    #[test]
    fn keys_tables_and_array_entries_are_found() {
        let doc = ImDocument::parse(TEXT.to_string()).unwrap();
        assert_eq!(line(&doc, "server.listen"), Some(2));
        assert_eq!(line(&doc, "providers.twitch.client_id"), Some(5));
        assert_eq!(line(&doc, "routes[1].prefix"), Some(11));
        assert_eq!(line(&doc, "routes[1].headers.x"), Some(12));
    }

    #[test]
    fn a_missing_key_is_placed_at_its_table() {
        let doc = ImDocument::parse(TEXT.to_string()).unwrap();
        assert_eq!(line(&doc, "providers.twitch.client_secret"), Some(4));
        assert_eq!(line(&doc, "routes[0].provider"), Some(7));
        assert_eq!(line(&doc, "server.admin_token"), Some(1));
        assert_eq!(line(&doc, "store.path"), None);
    }
}
