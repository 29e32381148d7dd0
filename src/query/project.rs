//! Field projection for `only` / `minimal`.

use super::EngineConfig;
use crate::api::value::{Map, Value};

fn insert_path(out: &mut Map, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            out.insert(path.to_owned(), v);
        }
        Some((head, rest)) => {
            let slot = out
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = slot {
                insert_path(m, rest, v);
            }
        }
    }
}

/// Projects a document to `fields` (dotted keys build nested objects: `tags.team` →
/// `{"tags": {"team": …}}`); the configured key fields are always kept; missing fields are
/// absent from the result.
pub fn project(doc: &Value, fields: &[String], cfg: &EngineConfig) -> Value {
    let mut out = Map::new();
    for f in cfg.key_fields.iter().chain(fields) {
        if let Some(v) = doc.pointer(f) {
            insert_path(&mut out, f, v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value;

    #[test]
    fn dotted_and_key_fields() {
        let cfg = EngineConfig::default();
        let doc = value!({"user_id": "a@b.io", "domain_id": "domain-1", "name": "A",
            "tags": {"team": "core", "site": "x"}, "mfa": {"state": "ENABLED"}});
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            project(
                &doc,
                &f(&["name", "tags.team", "missing", "tags.nope.x"]),
                &cfg
            ),
            value!({"user_id": "a@b.io", "domain_id": "domain-1", "name": "A", "tags": {"team": "core"}})
        );
        assert_eq!(
            project(&doc, &f(&["tags.team", "tags"]), &cfg),
            value!({"user_id": "a@b.io", "domain_id": "domain-1", "tags": {"team": "core", "site": "x"}})
        );
        assert_eq!(
            project(&doc, &f(&["tags", "tags.team"]), &cfg),
            value!({"user_id": "a@b.io", "domain_id": "domain-1", "tags": {"team": "core", "site": "x"}})
        );
        assert_eq!(project(&value!("x"), &f(&["a"]), &cfg), value!({}));
    }
}
