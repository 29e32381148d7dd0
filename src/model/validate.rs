//! Field validation rules (SPEC section 1). Pure functions returning the Cloudforet error of the
//! first rule a value breaks.

use crate::api::{ApiError, ApiResult, ErrorCode, Map, Value};
use std::str::FromStr;

pub const USER_ID_MAX: usize = 60;
pub const NAME_MAX: usize = 128;
pub const EMAIL_MAX: usize = 255;
pub const LANGUAGE_MAX: usize = 7;
pub const DOMAIN_NAME_MAX: usize = 40;
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_BYTES: usize = 256;
/// Tags are bounded so one request cannot grow a user without limit.
pub const TAGS_MAX_KEYS: usize = 256;
pub const TAG_KEY_MAX: usize = 256;
pub const TAG_VALUE_MAX_BYTES: usize = 16 * 1024;

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// A required string field: empty means missing.
pub fn required<'a>(key: &str, v: &'a str) -> ApiResult<&'a str> {
    if v.is_empty() {
        Err(ApiError::required(key))
    } else {
        Ok(v)
    }
}

/// 1..=60 chars, no whitespace or control characters. `must_be_email` for LOCAL USERs.
pub fn user_id(id: &str, must_be_email: bool) -> ApiResult<()> {
    required("user_id", id)?;
    let bad = |reason: &str| {
        Err(ApiError::new(
            ErrorCode::IncorrectUserIdFormat,
            format!(
                "Invalid user id format. (user_id = {}, rule = {reason})",
                printable(id)
            ),
        ))
    };
    if char_len(id) > USER_ID_MAX {
        return bad("at most 60 characters");
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("no whitespace or control characters");
    }
    if must_be_email && !looks_like_email(id) {
        return bad("must be an email address");
    }
    Ok(())
}

/// `x@y.z`: one `@`, a non-empty local part, a domain with a dot and non-empty labels, no
/// whitespace or control characters.
pub fn looks_like_email(s: &str) -> bool {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || domain.contains('@') || !domain.contains('.') {
        return false;
    }
    domain.split('.').all(|label| !label.is_empty())
}

/// 0..=255 chars; non-empty must look like an e-mail.
pub fn email(s: &str) -> ApiResult<()> {
    if s.is_empty() {
        return Ok(());
    }
    if char_len(s) > EMAIL_MAX || !looks_like_email(s) {
        return Err(ApiError::new(
            ErrorCode::IncorrectEmailFormat,
            format!("Email format is invalid. (email = {})", printable(s)),
        ));
    }
    Ok(())
}

/// Trimmed, 0..=128 chars.
pub fn name(s: &str) -> ApiResult<String> {
    let t = s.trim();
    if char_len(t) > NAME_MAX {
        return Err(ApiError::invalid("name", "at most 128 characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "control characters are not allowed",
        ));
    }
    Ok(t.to_owned())
}

/// 0..=7 chars.
pub fn language(s: &str) -> ApiResult<()> {
    if char_len(s) > LANGUAGE_MAX || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(
            "language",
            "at most 7 characters, no whitespace",
        ));
    }
    Ok(())
}

/// An IANA zone name from the tz database.
pub fn timezone(s: &str) -> ApiResult<()> {
    if s.len() <= 64 && chrono_tz::Tz::from_str(s).is_ok() {
        Ok(())
    } else {
        Err(ApiError::invalid("timezone", "not an IANA time zone name"))
    }
}

/// The password policy. The message names the failed rule, never the password.
pub fn password(pw: &str) -> ApiResult<()> {
    let fail = |rule: &str| {
        Err(ApiError::new(
            ErrorCode::IncorrectPasswordFormat,
            format!("Password format is invalid. (rule = {rule})"),
        ))
    };
    if pw.len() > PASSWORD_MAX_BYTES {
        return fail("at most 256 bytes");
    }
    if char_len(pw) < PASSWORD_MIN_CHARS {
        return fail("at least 8 characters");
    }
    if !pw.chars().any(|c| c.is_lowercase()) {
        return fail("at least one lowercase letter");
    }
    if !pw.chars().any(|c| c.is_uppercase()) {
        return fail("at least one uppercase letter");
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) {
        return fail("at least one digit");
    }
    Ok(())
}

/// Tags as an object; a list of `{key, value}` pairs (the seed examples' form) is converted.
pub fn tags(v: &Value) -> ApiResult<Map> {
    let map = match v {
        Value::Null => Map::new(),
        Value::Object(m) => m.clone(),
        Value::List(items) => {
            let mut m = Map::new();
            for item in items {
                let key = item.get("key").and_then(Value::as_str);
                let (Some(key), Some(obj)) = (key, item.as_object()) else {
                    return Err(ApiError::invalid("tags", "list items must be {key, value}"));
                };
                if obj.keys().any(|k| k != "key" && k != "value") {
                    return Err(ApiError::invalid("tags", "list items must be {key, value}"));
                }
                m.insert(
                    key.to_owned(),
                    obj.get("value").cloned().unwrap_or(Value::Null),
                );
            }
            m
        }
        _ => return Err(ApiError::invalid("tags", "must be an object")),
    };
    if map.len() > TAGS_MAX_KEYS {
        return Err(ApiError::invalid("tags", "at most 256 keys"));
    }
    for (k, v) in &map {
        if k.is_empty() || char_len(k) > TAG_KEY_MAX {
            return Err(ApiError::invalid("tags", "keys must be 1..=256 characters"));
        }
        if encoded_size(v).is_none() {
            return Err(ApiError::invalid(
                "tags",
                "a value is nested deeper than 32 levels",
            ));
        }
        if approx_size(v) > TAG_VALUE_MAX_BYTES {
            return Err(ApiError::invalid("tags", "a value is larger than 16 KiB"));
        }
    }
    Ok(map)
}

/// Encoded size of a value (its JSON text length, counted without building it), or `None` when
/// it nests deeper than [`crate::api::value::MAX_DEPTH`]. Iterative: safe for any in-memory value.
pub fn encoded_size(v: &Value) -> Option<usize> {
    let mut stack: Vec<(&Value, usize)> = vec![(v, 1)];
    let mut size: usize = 0;
    while let Some((v, depth)) = stack.pop() {
        if depth > crate::api::value::MAX_DEPTH {
            return None;
        }
        let own = match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Int(_) | Value::Float(_) => 20,
            Value::String(s) => s.len().saturating_add(2),
            Value::List(l) => {
                stack.extend(l.iter().map(|c| (c, depth.saturating_add(1))));
                l.len().saturating_add(2)
            }
            Value::Object(m) => {
                for (k, c) in m {
                    size = size.saturating_add(k.len().saturating_add(4));
                    stack.push((c, depth.saturating_add(1)));
                }
                2
            }
        };
        size = size.saturating_add(own);
    }
    Some(size)
}

fn approx_size(v: &Value) -> usize {
    encoded_size(v).unwrap_or(usize::MAX)
}

/// Domain names: 1..=40 chars, no control characters.
pub fn domain_name(s: &str) -> ApiResult<String> {
    let t = s.trim();
    required("name", t)?;
    if char_len(t) > DOMAIN_NAME_MAX || t.chars().any(char::is_control) {
        return Err(ApiError::invalid("name", "1..=40 characters"));
    }
    Ok(t.to_owned())
}

/// A value safe to echo in an error message: control characters replaced, length capped.
pub fn printable(s: &str) -> String {
    s.chars()
        .take(80)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value;

    fn code<T: std::fmt::Debug>(r: ApiResult<T>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn user_ids() {
        assert!(user_id("a@b.io", true).is_ok());
        assert!(user_id("svc-robot", false).is_ok());
        assert_eq!(code(user_id("", true)), ErrorCode::RequiredParameter);
        assert_eq!(
            code(user_id("svc-robot", true)),
            ErrorCode::IncorrectUserIdFormat
        );
        assert_eq!(
            code(user_id("a b@c.io", true)),
            ErrorCode::IncorrectUserIdFormat
        );
        assert_eq!(
            code(user_id("a\u{7}@c.io", false)),
            ErrorCode::IncorrectUserIdFormat
        );
        let long = format!("{}@b.io", "a".repeat(60));
        assert_eq!(code(user_id(&long, true)), ErrorCode::IncorrectUserIdFormat);
        let max = "é".repeat(60);
        assert!(
            user_id(&max, false).is_ok(),
            "limit counts characters, not bytes"
        );
    }

    #[test]
    fn emails() {
        for ok in ["", "a@b.io", "first.last+x@sub.example.com"] {
            assert!(email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a", "a@b", "@b.io", "a@b.", "a@.io", "a@@b.io", "a b@c.io", "a@b..io",
        ] {
            assert_eq!(code(email(bad)), ErrorCode::IncorrectEmailFormat, "{bad}");
        }
        let long = format!("{}@b.io", "a".repeat(251));
        assert_eq!(code(email(&long)), ErrorCode::IncorrectEmailFormat);
    }

    #[test]
    fn names_languages_timezones() {
        assert_eq!(name("  Ann  ").unwrap(), "Ann");
        assert!(name(&"n".repeat(128)).is_ok());
        assert_eq!(code(name(&"n".repeat(129))), ErrorCode::InvalidParameter);
        assert!(language("ko").is_ok());
        assert!(language("").is_ok());
        assert_eq!(code(language("toolong1")), ErrorCode::InvalidParameter);
        for tz in ["UTC", "Asia/Seoul", "America/Argentina/Buenos_Aires"] {
            assert!(timezone(tz).is_ok(), "{tz}");
        }
        for tz in ["", "Mars/Olympus", "utc+9"] {
            let e = timezone(tz).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidParameter);
            assert!(e.message.contains("key = timezone"), "{}", e.message);
        }
    }

    #[test]
    fn password_policy_names_the_rule() {
        assert!(password("Abcdefg1").is_ok());
        let cases = [
            ("Abcde1", "at least 8 characters"),
            ("ABCDEFG1", "lowercase"),
            ("abcdefg1", "uppercase"),
            ("Abcdefgh", "digit"),
        ];
        for (pw, rule) in cases {
            let e = password(pw).unwrap_err();
            assert_eq!(e.code, ErrorCode::IncorrectPasswordFormat);
            assert!(e.message.contains(rule), "{pw}: {}", e.message);
            assert!(
                !e.message.contains(pw),
                "message must not echo the password"
            );
        }
        let long = format!("Aa1{}", "x".repeat(254));
        assert_eq!(code(password(&long)), ErrorCode::IncorrectPasswordFormat);
    }

    #[test]
    fn tags_accept_object_and_key_value_list() {
        let obj = tags(&value!({"team": "core"})).unwrap();
        let list = tags(&value!([{"key": "team", "value": "core"}])).unwrap();
        assert_eq!(obj, list);
        assert_eq!(code(tags(&value!("x"))), ErrorCode::InvalidParameter);
        assert_eq!(
            code(tags(&value!([{"value": 1}]))),
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            code(tags(&value!([{"key": "a", "x": 1}]))),
            ErrorCode::InvalidParameter
        );
        assert_eq!(code(tags(&value!({"": 1}))), ErrorCode::InvalidParameter);
        assert!(tags(&Value::Null).unwrap().is_empty());
        let mut deep = Value::Null;
        for _ in 1..crate::api::value::MAX_DEPTH {
            deep = Value::List(vec![deep]);
        }
        let ok = Value::Object([("d".to_owned(), deep.clone())].into_iter().collect());
        assert!(tags(&ok).is_ok());
        let too = Value::Object(
            [("d".to_owned(), Value::List(vec![deep]))]
                .into_iter()
                .collect(),
        );
        assert_eq!(code(tags(&too)), ErrorCode::InvalidParameter);
    }

    #[test]
    fn domain_names() {
        assert_eq!(domain_name(" acme ").unwrap(), "acme");
        assert_eq!(code(domain_name("")), ErrorCode::RequiredParameter);
        assert_eq!(
            code(domain_name(&"d".repeat(41))),
            ErrorCode::InvalidParameter
        );
    }
}
