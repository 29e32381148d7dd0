//! Hash indexes over values that agree with strict value equality (`7 == 7.0`, `7 != "7"`).

use super::cmp::{hash_value, values_equal};
use crate::api::value::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Hash → indexes of the entries with that hash.
pub(crate) type HashIndex = HashMap<u64, Vec<usize>, BuildHasherDefault<IdHasher>>;

/// Hashes a tuple of values with a per-run random key (so crafted values cannot force
/// collisions).
pub(crate) fn hash_tuple<'v>(
    state: &RandomState,
    vals: impl IntoIterator<Item = &'v Value>,
) -> u64 {
    let mut h = state.build_hasher();
    for v in vals {
        hash_value(v, &mut h);
    }
    h.finish()
}

/// A set of distinct values in first-seen order.
pub(crate) struct ValueSet {
    values: Vec<Value>,
    index: HashIndex,
    state: RandomState,
}

impl ValueSet {
    /// An empty set.
    pub(crate) fn new() -> Self {
        ValueSet {
            values: Vec::new(),
            index: HashIndex::default(),
            state: RandomState::new(),
        }
    }

    /// Adds `v` unless an equal value is present; clones only when it is new.
    pub(crate) fn insert(&mut self, v: Cow<'_, Value>) {
        let h = hash_tuple(&self.state, [v.as_ref()]);
        let slot = self.index.entry(h).or_default();
        if slot
            .iter()
            .any(|&i| self.values.get(i).is_some_and(|x| values_equal(x, &v)))
        {
            return;
        }
        slot.push(self.values.len());
        self.values.push(v.into_owned());
    }

    /// The number of distinct values.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The values in first-seen order.
    pub(crate) fn into_vec(self) -> Vec<Value> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value;

    #[test]
    fn dedups_strictly() {
        let mut s = ValueSet::new();
        for v in [
            value!(7),
            value!(7.0),
            value!("7"),
            value!(true),
            value!(1),
            Value::Null,
            value!(null),
            value!({"a": 1}),
        ] {
            s.insert(Cow::Owned(v));
        }
        s.insert(Cow::Borrowed(&value!({"a": 1.0})));
        assert_eq!(
            s.into_vec(),
            vec![
                value!(7),
                value!("7"),
                value!(true),
                value!(1),
                Value::Null,
                value!({"a": 1})
            ]
        );
    }
}
