//! Printing results: JSON, YAML (a small emitter for JSON values) and tables.

use serde_json::Value as Json;
use std::fmt::Write as _;

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Columns for lists, KEY VALUE lines for one object
    Table,
    /// Pretty-printed JSON, exactly as the HTTP gateway would answer
    Json,
    /// YAML
    Yaml,
}

/// Keys whose values are secrets; they are shown as `***` unless asked for.
const SECRET_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "password",
    "verify_code",
    "otp_secret",
];

/// Replaces secret values (by key, at any depth) with `***`.
pub fn redact(v: &mut Json) {
    match v {
        Json::Object(m) => {
            for (k, x) in m.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) && !x.is_null() {
                    *x = Json::String("***".into());
                } else {
                    redact(x);
                }
            }
        }
        Json::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

/// Renders `v` in `format`; the text ends with a newline unless it is empty.
pub fn render(v: &Json, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
            s.push('\n');
            s
        }
        Format::Yaml => yaml(v),
        Format::Table => table(v),
    }
}

// ---------------------------------------------------------------------------------------------
// YAML

/// A YAML document for a JSON value (block style; strings quoted where YAML would misread them).
pub fn yaml(v: &Json) -> String {
    let mut out = String::new();
    match v {
        Json::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
        Json::Array(a) if !a.is_empty() => yaml_list(a, 0, &mut out),
        other => {
            out.push_str(&yaml_scalar(other));
            out.push('\n');
        }
    }
    out
}

fn yaml_map(m: &serde_json::Map<String, Json>, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (k, v) in m {
        let _ = write!(out, "{pad}{}:", yaml_string(k));
        yaml_value_after_key(v, indent, out);
    }
}

/// Writes what follows `key:` (or `-`): an inline scalar or an indented block.
fn yaml_value_after_key(v: &Json, indent: usize, out: &mut String) {
    match v {
        Json::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml_map(m, indent + 2, out);
        }
        Json::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml_list(a, indent + 2, out);
        }
        other => {
            let _ = writeln!(out, " {}", yaml_scalar(other));
        }
    }
}

fn yaml_list(a: &[Json], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for v in a {
        match v {
            Json::Object(m) if !m.is_empty() => {
                // `- first: x` then the other keys aligned under `first`.
                let mut item = String::new();
                yaml_map(m, indent + 2, &mut item);
                let _ = write!(out, "{pad}- {}", &item[indent + 2..]);
            }
            Json::Array(inner) if !inner.is_empty() => {
                let _ = writeln!(out, "{pad}-");
                yaml_list(inner, indent + 2, out);
            }
            other => {
                let _ = writeln!(out, "{pad}- {}", yaml_scalar(other));
            }
        }
    }
}

fn yaml_scalar(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => yaml_string(s),
        Json::Array(_) => "[]".into(),
        Json::Object(_) => "{}".into(),
    }
}

/// A string as a plain scalar when YAML reads it back as the same string, else double-quoted
/// (JSON's escapes are valid in YAML double-quoted scalars).
fn yaml_string(s: &str) -> String {
    const RESERVED: &[&str] = &[
        "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n",
    ];
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/');
    let plain = first_ok
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.@/+:-".contains(c))
        && !s.ends_with(' ')
        && !s.ends_with(':')
        && !s.contains(": ")
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        s.to_owned()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Tables

/// Preferred columns of known result rows, in order; only those present in some row are shown.
const USER_COLUMNS: &[&str] = &[
    "user_id",
    "name",
    "state",
    "email",
    "user_type",
    "backend",
    "role_type",
    "last_accessed_at",
];
const DOMAIN_COLUMNS: &[&str] = &["domain_id", "name", "state", "created_at"];

fn cell(v: &Json) -> String {
    let s = match v {
        Json::Null => String::new(),
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    // One line per row, whatever the data holds.
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn columns(rows: &[serde_json::Map<String, Json>]) -> Vec<String> {
    let has = |k: &str| rows.iter().any(|r| r.contains_key(k));
    let preferred = if has("user_id") {
        Some(USER_COLUMNS)
    } else if has("domain_id") && has("name") {
        Some(DOMAIN_COLUMNS)
    } else {
        None
    };
    match preferred {
        Some(cols) => cols
            .iter()
            .filter(|c| has(c))
            .map(|c| c.to_string())
            .collect(),
        // Unknown rows: every scalar field of the first row.
        None => rows
            .first()
            .map(|r| {
                r.iter()
                    .filter(|(_, v)| !v.is_object() && !v.is_array())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn grid(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let _ = write!(line, "{c:<w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A table: rows for a `{results: [...]}` answer, KEY VALUE lines for any other object.
pub fn table(v: &Json) -> String {
    let Json::Object(m) = v else {
        return format!("{}\n", cell(v));
    };
    if let Some(Json::Array(results)) = m.get("results") {
        let rows: Vec<serde_json::Map<String, Json>> = results
            .iter()
            .filter_map(|r| r.as_object().cloned())
            .collect();
        let cols = columns(&rows);
        if cols.is_empty() {
            return String::new();
        }
        let header: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
        let body: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                cols.iter()
                    .map(|c| r.get(c).map(cell).unwrap_or_default())
                    .collect()
            })
            .collect();
        return grid(&header, &body);
    }
    if m.is_empty() {
        return String::new();
    }
    let body: Vec<Vec<String>> = m
        .iter()
        .map(|(k, v)| vec![k.to_uppercase(), cell(v)])
        .collect();
    grid(&["KEY".into(), "VALUE".into()], &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_quotes_what_yaml_would_misread() {
        let v = json!({
            "user_id": "ann@acme.io",
            "state": "ENABLED",
            "created_at": "2026-09-21T14:13:20.000Z",
            "name": "",
            "word": "yes",
            "num": "42",
            "colon": "a: b",
            "multi": "l1\nl2",
            "n": 7,
            "ok": true,
            "none": null,
            "tags": {"team": "core", "empty": {}},
            "actions": ["UPDATE_PASSWORD"],
            "rows": [{"a": 1, "b": [1, 2]}, []],
            "list": []
        });
        let y = yaml(&v);
        let expected = "\
actions:
  - UPDATE_PASSWORD
colon: \"a: b\"
created_at: \"2026-09-21T14:13:20.000Z\"
list: []
multi: \"l1\\nl2\"
\"n\": 7
name: \"\"
none: null
num: \"42\"
ok: true
rows:
  - a: 1
    b:
      - 1
      - 2
  - []
state: ENABLED
tags:
  empty: {}
  team: core
user_id: ann@acme.io
word: \"yes\"
";
        assert_eq!(y, expected);
        assert_eq!(yaml(&json!({})), "{}\n");
    }

    #[test]
    fn tables_show_rows_or_key_values() {
        let v = json!({"results": [
            {"user_id": "a@b.io", "name": "A", "state": "ENABLED", "tags": {"x": 1}, "domain_id": "d"},
            {"user_id": "bb@b.io", "name": "B\nC", "state": "DISABLED", "domain_id": "d"}
        ], "total_count": 2});
        assert_eq!(
            table(&v),
            "USER_ID  NAME  STATE\na@b.io   A     ENABLED\nbb@b.io  B C   DISABLED\n"
        );
        let d = json!({"results": [{"domain_id": "domain-1", "name": "acme", "state": "ENABLED",
                                     "created_at": "t", "tags": {}}]});
        assert_eq!(
            table(&d),
            "DOMAIN_ID  NAME  STATE    CREATED_AT\ndomain-1   acme  ENABLED  t\n"
        );
        assert_eq!(
            table(&json!({"a": 1, "b": null})),
            "KEY  VALUE\nA    1\nB\n"
        );
        assert_eq!(table(&json!({})), "");
    }

    #[test]
    fn secrets_are_redacted_by_key() {
        let mut v = json!({"access_token": "t1", "refresh_token": "t2", "x": [{"password": "p"}],
                           "verify_code": null});
        redact(&mut v);
        assert_eq!(
            v,
            json!({"access_token": "***", "refresh_token": "***", "x": [{"password": "***"}],
                   "verify_code": null})
        );
    }
}
