//! Value ordering, equality and hashing with Mongo-like, strictly typed semantics.
//!
//! - Numbers (`Int`/`Float`) compare by numeric value, exactly (no lossy `i64 -> f64` rounding).
//! - Values of different types are never equal; for sorting, types are ranked
//!   null < numbers < strings < objects < lists < bools (BSON order).
//! - Strings compare by code point (UTF-8 byte order is code point order).
//! - [`hash_value`] agrees with [`total_cmp`]: equal values hash equally.

use crate::api::value::Value;
use std::cmp::Ordering;
use std::hash::Hasher;

/// A `'static` null, for "missing" or absent values that must be borrowed.
pub(crate) static NULL: Value = Value::Null;

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Int(_) | Value::Float(_) => 1,
        Value::String(_) => 2,
        Value::Object(_) => 3,
        Value::List(_) => 4,
        Value::Bool(_) => 5,
    }
}

/// Floats ordered with NaN lowest and equal to itself; `-0.0 == 0.0`.
fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Exact comparison of an integer with a float.
fn cmp_i64_f64(i: i64, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Greater;
    }
    // 2^63 as f64; every i64 is strictly below it and >= -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Ordering::Less;
    }
    if f < -TWO_63 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    // `t` is integral and within [-2^63, 2^63), so the cast is exact.
    let ti = t as i64;
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// Numeric comparison; `None` when either side is not a number.
pub(crate) fn num_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    Some(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(x), Value::Float(y)) => cmp_i64_f64(*x, *y),
        (Value::Float(x), Value::Int(y)) => cmp_i64_f64(*y, *x).reverse(),
        (Value::Float(x), Value::Float(y)) => cmp_f64(*x, *y),
        _ => return None,
    })
}

/// Comparison for `lt/lte/gt/gte`: number with number, string with string, else `None`.
pub(crate) fn typed_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => num_cmp(a, b),
    }
}

/// A total order over all values (BSON-like type ranking, then value).
pub fn total_cmp(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (type_rank(a), type_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.as_str().cmp(y.as_str()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = total_cmp(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                let o = ka.as_str().cmp(kb.as_str()).then_with(|| total_cmp(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => num_cmp(a, b).unwrap_or(Ordering::Equal),
    }
}

/// [`total_cmp`] where a missing value (`None`) counts as null.
pub(crate) fn cmp_opt(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    total_cmp(a.unwrap_or(&NULL), b.unwrap_or(&NULL))
}

/// Strict equality: same type (numbers by value), recursively.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    total_cmp(a, b) == Ordering::Equal
}

/// Feeds a value into a hasher consistently with [`values_equal`].
pub(crate) fn hash_value<H: Hasher>(v: &Value, h: &mut H) {
    match v {
        Value::Null => h.write_u8(0),
        Value::Int(i) => {
            h.write_u8(1);
            h.write_i64(*i);
        }
        Value::Float(f) => {
            h.write_u8(1);
            let f = *f;
            if f.is_nan() {
                h.write_u64(u64::MAX);
            } else if f.fract() == 0.0
                && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
            {
                // Integral floats hash like the equal integer (also folds -0.0 into 0).
                h.write_i64(f as i64);
            } else {
                h.write_u8(0xF);
                h.write_u64(f.to_bits());
            }
        }
        Value::String(s) => {
            h.write_u8(2);
            h.write(s.as_bytes());
            h.write_u8(0xFF);
        }
        Value::Object(m) => {
            h.write_u8(3);
            h.write_usize(m.len());
            for (k, x) in m {
                h.write(k.as_bytes());
                h.write_u8(0xFF);
                hash_value(x, h);
            }
        }
        Value::List(l) => {
            h.write_u8(4);
            h.write_usize(l.len());
            for x in l {
                hash_value(x, h);
            }
        }
        Value::Bool(b) => {
            h.write_u8(5);
            h.write_u8(u8::from(*b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value;
    use std::collections::hash_map::DefaultHasher;

    fn h(v: &Value) -> u64 {
        let mut s = DefaultHasher::new();
        hash_value(v, &mut s);
        s.finish()
    }

    #[test]
    fn strict_types() {
        assert!(!values_equal(&value!(7), &value!("7")));
        assert!(!values_equal(&value!(true), &value!(1)));
        assert!(!values_equal(&Value::Null, &value!(false)));
        assert!(values_equal(&value!(7), &value!(7.0)));
        assert!(values_equal(
            &value!({"a": [1, "x"]}),
            &value!({"a": [1.0, "x"]})
        ));
        assert!(!values_equal(&value!({"a": 1}), &value!({"a": 1, "b": 2})));
    }

    #[test]
    fn exact_int_float_comparison() {
        let big = (1i64 << 53) + 1;
        assert_eq!(
            num_cmp(&Value::Int(big), &Value::Float((1i64 << 53) as f64)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            num_cmp(&Value::Int(2), &Value::Float(2.5)),
            Some(Ordering::Less)
        );
        assert_eq!(
            num_cmp(&Value::Int(-2), &Value::Float(-2.5)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            num_cmp(&Value::Float(1e300), &Value::Int(i64::MAX)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            num_cmp(&Value::Int(i64::MIN), &Value::Float(-1e300)),
            Some(Ordering::Greater)
        );
        assert_eq!(
            num_cmp(&Value::Int(1), &Value::Float(f64::NAN)),
            Some(Ordering::Greater)
        );
        assert_eq!(num_cmp(&Value::Int(1), &value!("1")), None);
    }

    #[test]
    fn type_ranking_and_strings() {
        let mut v = vec![
            value!(true),
            value!([1]),
            value!({"a": 1}),
            value!("b"),
            value!("B"),
            value!(3),
            Value::Null,
        ];
        v.sort_by(total_cmp);
        assert_eq!(
            v,
            vec![
                Value::Null,
                value!(3),
                value!("B"),
                value!("b"),
                value!({"a": 1}),
                value!([1]),
                value!(true)
            ]
        );
        // Code point order, not locale order.
        assert_eq!(total_cmp(&value!("Z"), &value!("a")), Ordering::Less);
        assert_eq!(total_cmp(&value!("é"), &value!("z")), Ordering::Greater);
    }

    #[test]
    fn typed_cmp_only_same_kind() {
        assert_eq!(typed_cmp(&value!("a"), &value!("b")), Some(Ordering::Less));
        assert_eq!(typed_cmp(&value!(1), &value!(0.5)), Some(Ordering::Greater));
        assert_eq!(typed_cmp(&value!(1), &value!("1")), None);
        assert_eq!(typed_cmp(&value!(true), &value!(false)), None);
        assert_eq!(typed_cmp(&Value::Null, &Value::Null), None);
    }

    #[test]
    fn hash_agrees_with_equality() {
        assert_eq!(h(&value!(7)), h(&value!(7.0)));
        assert_eq!(h(&Value::Float(-0.0)), h(&value!(0)));
        assert_ne!(h(&value!(7)), h(&value!("7")));
        assert_eq!(h(&value!({"a": [1, 2.0]})), h(&value!({"a": [1.0, 2]})));
        assert_ne!(h(&value!(["ab", "c"])), h(&value!(["a", "bc"])));
    }
}
