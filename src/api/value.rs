//! A JSON value that survives every encoding identityd uses.
//!
//! `serde_json::Value` cannot travel over tarpc: bincode is not self-describing, so it cannot
//! `deserialize_any`. [`Value`] serializes as plain JSON when the format is human readable
//! (serde_json) and as an explicitly tagged enum otherwise (bincode 1 on the wire, bincode 2 on
//! disk). Tags, MFA options, query values and stat rows all use it.

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// A JSON object with keys in code-point order.
pub type Map = BTreeMap<String, Value>;

/// A JSON value. Integers and floats are kept apart so `7` round-trips as `7`; they compare as
/// numbers (see [`Value::as_f64`]).
#[derive(Clone, Debug, PartialEq, Default, bincode::Encode)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Object(Map),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The value as a number, for numeric comparison; `None` for non-numbers.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    /// Object member lookup; `None` when `self` is not an object or has no such key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }
    /// Follows a dotted path (`tags.team`) through nested objects.
    pub fn pointer(&self, dotted: &str) -> Option<&Value> {
        dotted.split('.').try_fold(self, |v, k| v.get(k))
    }
    /// Name of the JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Object(_) => "object",
        }
    }
    /// Converts into `serde_json::Value` (for the HTTP gateway and tests).
    /// Nesting deeper than `2 * MAX_DEPTH` (only possible for a value built in memory) is
    /// cut to `null`, so this recursion is bounded.
    pub fn to_json(&self) -> serde_json::Value {
        self.to_json_at(0)
    }

    fn to_json_at(&self, depth: usize) -> serde_json::Value {
        if depth > 2 * MAX_DEPTH {
            return serde_json::Value::Null;
        }
        let d = depth.saturating_add(1);
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(|v| v.to_json_at(d)).collect()),
            Value::Object(m) => serde_json::Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_json_at(d)))
                    .collect(),
            ),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::List(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, Value::from(v))).collect())
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}
impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Self {
        Value::List(l)
    }
}

/// Deepest nesting of lists/objects accepted when decoding a [`Value`] (a scalar is depth 1, `[1]`
/// depth 2). Tags, MFA options and query values never need more; decoding deeper input fails
/// with `ERROR_INVALID_PARAMETER` before recursing further, so no input can overflow the stack.
pub const MAX_DEPTH: usize = 32;

/// Message of the decode error for a value nested deeper than [`MAX_DEPTH`].
pub const TOO_DEEP: &str = "ERROR_INVALID_PARAMETER: Invalid parameter. (key = value, reason = nested deeper than 32 levels)";

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts one level of `Value` decoding on this thread; refuses past [`MAX_DEPTH`]. Decoding is
/// synchronous, so a per-thread counter covers serde_json, bincode 1 and bincode 2 alike.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        DEPTH.with(|d| {
            let now = d.get();
            if now >= MAX_DEPTH {
                None
            } else {
                d.set(now.saturating_add(1));
                Some(DepthGuard)
            }
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// The bincode 2 form (disk: WAL, snapshots); same variant order as [`Value`], so the derived
/// `Encode` of `Value` and this `Decode` agree.
#[derive(bincode::Decode)]
enum NativeTagged {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Object(Map),
}

impl<C> bincode::Decode<C> for Value {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let Some(_guard) = DepthGuard::enter() else {
            return Err(bincode::error::DecodeError::Other(TOO_DEEP));
        };
        Ok(match NativeTagged::decode(d)? {
            NativeTagged::Null => Value::Null,
            NativeTagged::Bool(b) => Value::Bool(b),
            NativeTagged::Int(i) => Value::Int(i),
            NativeTagged::Float(f) => Value::Float(f),
            NativeTagged::String(s) => Value::String(s),
            NativeTagged::List(l) => Value::List(l),
            NativeTagged::Object(m) => Value::Object(m),
        })
    }
}
bincode::impl_borrow_decode!(Value);

/// The tagged form used by non-self-describing formats.
#[derive(Serialize, Deserialize)]
enum Tagged {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Object(Map),
}

/// Any JSON value.
impl schemars::JsonSchema for Value {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"description": "Any JSON value."})
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            match self {
                Value::Null => s.serialize_unit(),
                Value::Bool(b) => s.serialize_bool(*b),
                Value::Int(i) => s.serialize_i64(*i),
                Value::Float(f) => s.serialize_f64(*f),
                Value::String(v) => s.serialize_str(v),
                Value::List(l) => s.collect_seq(l),
                Value::Object(m) => s.collect_map(m),
            }
        } else {
            // Borrowing mirror of `Tagged`, so serializing does not clone.
            #[derive(Serialize)]
            enum TaggedRef<'a> {
                Null,
                Bool(bool),
                Int(i64),
                Float(f64),
                String(&'a str),
                List(&'a [Value]),
                Object(&'a Map),
            }
            let t = match self {
                Value::Null => TaggedRef::Null,
                Value::Bool(b) => TaggedRef::Bool(*b),
                Value::Int(i) => TaggedRef::Int(*i),
                Value::Float(f) => TaggedRef::Float(*f),
                Value::String(v) => TaggedRef::String(v),
                Value::List(l) => TaggedRef::List(l),
                Value::Object(m) => TaggedRef::Object(m),
            };
            t.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Some(_guard) = DepthGuard::enter() else {
            return Err(serde::de::Error::custom(TOO_DEEP));
        };
        if d.is_human_readable() {
            d.deserialize_any(JsonVisitor)
        } else {
            Ok(match Tagged::deserialize(d)? {
                Tagged::Null => Value::Null,
                Tagged::Bool(b) => Value::Bool(b),
                Tagged::Int(i) => Value::Int(i),
                Tagged::Float(f) => Value::Float(f),
                Tagged::String(s) => Value::String(s),
                Tagged::List(l) => Value::List(l),
                Tagged::Object(m) => Value::Object(m),
            })
        }
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u)
            .map(Value::Int)
            .unwrap_or(Value::Float(u as f64)))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Builds a [`Value`] from JSON text-like syntax, for tests and examples.
#[macro_export]
macro_rules! value {
    ($($json:tt)+) => {
        $crate::api::value::Value::from(::serde_json::json!($($json)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Value::from(serde_json::json!({
            "a": [1, 2.5, "x", null, true, {"b": {"c": []}}],
            "team": "core", "n": -7, "big": 18446744073709551615u64
        }))
    }

    #[test]
    fn json_round_trip_is_plain_json() {
        let v = sample();
        let text = serde_json::to_string(&v).unwrap();
        assert!(text.starts_with("{\"a\":[1,2.5,\"x\",null,true"), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn bincode1_round_trip() {
        let v = sample();
        let bytes = bincode1_encode(&v);
        let back: Value = bincode1_decode(&bytes);
        assert_eq!(back, v);
    }

    #[test]
    fn bincode2_serde_and_native_round_trip() {
        let v = sample();
        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&v, cfg).unwrap();
        let (back, _): (Value, _) = bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(back, v);
        let bytes = bincode::encode_to_vec(&v, cfg).unwrap();
        let (back, _): (Value, _) = bincode::decode_from_slice(&bytes, cfg).unwrap();
        assert_eq!(back, v);
    }

    fn nested(depth: usize) -> Value {
        let mut v = Value::Null;
        for _ in 1..depth {
            v = Value::List(vec![v]);
        }
        v
    }

    #[test]
    fn depth_bound_on_every_decoder() {
        let ok = nested(MAX_DEPTH);
        // Encode by hand-built bytes for the too-deep case, far past the bound (the old crash).
        let deep_json = format!("{}null{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_json = &deep_json[10_000 - 100..20_001 - 100];
        let e = serde_json::from_str::<Value>(deep_json).unwrap_err();
        assert!(e.to_string().contains("ERROR_INVALID_PARAMETER"), "{e}");
        let text = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), ok);
        let too = format!("[{text}]");
        assert!(serde_json::from_str::<Value>(&too).is_err());

        // bincode 1 (tarpc): variant 5 (List) as u32 LE, length 1 as u64 LE, repeated; then Null.
        let mut frame = Vec::new();
        for _ in 0..10_000 {
            frame.extend_from_slice(&5u32.to_le_bytes());
            frame.extend_from_slice(&1u64.to_le_bytes());
        }
        frame.extend_from_slice(&0u32.to_le_bytes());
        let r = {
            use tokio_serde::Deserializer as _;
            let mut codec: tokio_serde::formats::Bincode<Value, Value> = Default::default();
            std::pin::Pin::new(&mut codec).deserialize(&bytes::BytesMut::from(&frame[..]))
        };
        assert!(r.is_err());
        assert_eq!(bincode1_decode(&bincode1_encode(&ok)), ok);

        // bincode 2 native (WAL/snapshot): variant and length are varints (5, 1), then Null (0).
        let cfg = bincode::config::standard();
        let mut bytes = [5u8, 1].repeat(10_000);
        bytes.push(0);
        let e = bincode::decode_from_slice::<Value, _>(&bytes, cfg).unwrap_err();
        assert!(e.to_string().contains("ERROR_INVALID_PARAMETER"), "{e}");
        let good = bincode::encode_to_vec(&ok, cfg).unwrap();
        assert_eq!(
            bincode::decode_from_slice::<Value, _>(&good, cfg)
                .unwrap()
                .0,
            ok
        );
        let deeper = bincode::encode_to_vec(nested(MAX_DEPTH + 1), cfg).unwrap();
        assert!(bincode::decode_from_slice::<Value, _>(&deeper, cfg).is_err());
        // The counter is back to zero after errors.
        assert_eq!(DEPTH.with(|d| d.get()), 0);
    }

    #[test]
    fn pointer_follows_dots() {
        let v = value!({"tags": {"team": "core"}});
        assert_eq!(v.pointer("tags.team"), Some(&Value::from("core")));
        assert_eq!(v.pointer("tags.nope"), None);
        assert_eq!(v.pointer("tags.team.x"), None);
    }

    // tarpc's wire codec is bincode 1 via tokio-serde; exercise the same path.
    fn bincode1_encode(v: &Value) -> Vec<u8> {
        use tokio_serde::Serializer as _;
        let mut codec: tokio_serde::formats::Bincode<Value, Value> = Default::default();
        std::pin::Pin::new(&mut codec)
            .serialize(v)
            .unwrap()
            .to_vec()
    }
    fn bincode1_decode(b: &[u8]) -> Value {
        use tokio_serde::Deserializer as _;
        let mut codec: tokio_serde::formats::Bincode<Value, Value> = Default::default();
        std::pin::Pin::new(&mut codec)
            .deserialize(&bytes::BytesMut::from(b))
            .unwrap()
    }
}
