//! A small planner over a domain's user indexes (`model::index`): it answers the common query
//! shapes without reading every user, and hands everything else to the engine.
//!
//! 1. **Candidates.** `filter` conditions `eq`/`in` on `user_id`, `email`, `name` give slot
//!    lists; on `state`, `backend` (`auth_type`), `user_type` bitmaps; on `domain_id` all or
//!    nothing; the keyword (ASCII words) is searched in the keyword text. The result is a set
//!    of slots: exactly the matches when every condition was one of those (and there is no
//!    `filter_or`), otherwise a superset.
//! 2. **Default order** (`name`, then `user_id`): the exact matches are either walked in the
//!    name order (dense sets; no filter at all skips straight to the page) or gathered and
//!    the first `start + limit` selected (sparse sets), whichever is cheaper.
//! 3. **Anything else** (other sorts, filters the indexes cannot answer exactly, `stat`
//!    pipelines) is left to the engine, which runs off the actor: the planner hands out the
//!    candidates' shared records (at most `--query-plan-candidates` of them, a pointer copy
//!    each) or, beyond that, nothing, and the engine reads a snapshot of every user. The
//!    engine applies the whole filter again, so a superset is enough.
//!
//! So the work inside the actor is index work only: lookups, bitmaps, at most
//! [`MAX_INDEXED_WORDS`] passes over the keyword text, the name order, pointer copies.
//!
//! Results are identical to the engine's over all users: `tests/query_plan_differential.rs`.

use super::budget::{Budget, Meter};
use super::filter::{Filter, Shape};
use super::sort::SortKey;
use super::stat::{CountShape, count_rows_of};
use super::{EngineConfig, Query, StatQuery, StatResult};
use crate::api::{Backend, UserState, UserType, Value};
use crate::model::entities::User;
use crate::model::index::{Bits, Slot, UserIndex};
use crate::model::state::DomainState;
use memchr::memmem::Finder;
use std::borrow::Cow;
use std::sync::Arc;

/// The fields the keyword text holds.
const KEYWORD_FIELDS: [&str; 3] = ["user_id", "name", "email"];

/// Keyword words searched in the keyword text inside the actor (each is a pass over ~55 bytes
/// per user, 2–9 ms at 1M users); with more, the engine matches the keyword off the actor.
const MAX_INDEXED_WORDS: usize = 4;

/// A set of users as slots.
#[derive(Debug)]
pub(crate) enum Set<'s> {
    All,
    Bits(Cow<'s, Bits>),
    /// Ascending, without duplicates.
    List(Vec<Slot>),
}

impl Set<'_> {
    fn count(&self, ix: &UserIndex) -> usize {
        match self {
            Set::All => ix.len(),
            Set::Bits(b) => b.count(),
            Set::List(l) => l.len(),
        }
    }

    fn contains(&self, s: Slot) -> bool {
        match self {
            Set::All => true,
            Set::Bits(b) => b.get(s),
            Set::List(l) => l.binary_search(&s).is_ok(),
        }
    }

    /// The slots (all live slots for `All`).
    fn slots<'a>(&'a self, ix: &'a UserIndex) -> Box<dyn Iterator<Item = Slot> + 'a> {
        match self {
            Set::All => Box::new(
                (0..ix.slot_bound())
                    .filter_map(|s| Slot::try_from(s).ok())
                    .filter(|&s| ix.entry(s).is_some()),
            ),
            Set::Bits(b) => Box::new(b.iter()),
            Set::List(l) => Box::new(l.iter().copied()),
        }
    }
}

/// The string values an `eq`/`in` condition accepts (`eq` of a non-string accepts none: every
/// indexed field is a string that is always present).
fn accepted<'a>(shape: Shape<'a>) -> Option<Vec<&'a str>> {
    match shape {
        Shape::Eq(Value::String(s)) => Some(vec![s.as_str()]),
        Shape::Eq(_) => Some(Vec::new()),
        Shape::In(strings) => Some(strings.iter().map(String::as_str).collect()),
        Shape::Other => None,
    }
}

/// Bit `i` set: the `i`-th value of an enum field is accepted.
type Mask = u8;

fn mask_of<T>(vals: &[&str], parse: fn(&str) -> Option<T>, ix: fn(T) -> usize) -> Mask {
    vals.iter()
        .filter_map(|v| parse(v))
        .fold(0, |m, t| m | 1 << ix(t))
}

const STATES: [UserState; 3] = [UserState::Enabled, UserState::Disabled, UserState::Pending];
const BACKENDS: [Backend; 2] = [Backend::Local, Backend::External];
const USER_TYPES: [UserType; 2] = [UserType::User, UserType::ApiUser];

fn state_ix(v: UserState) -> usize {
    STATES.iter().position(|x| *x == v).unwrap_or(0)
}
fn backend_ix(v: Backend) -> usize {
    BACKENDS.iter().position(|x| *x == v).unwrap_or(0)
}
fn user_type_ix(v: UserType) -> usize {
    USER_TYPES.iter().position(|x| *x == v).unwrap_or(0)
}

fn intersect(list: &mut Option<Vec<Slot>>, mut found: Vec<Slot>) {
    found.sort_unstable();
    found.dedup();
    *list = Some(match list.take() {
        None => found,
        Some(prev) => prev
            .into_iter()
            .filter(|s| found.binary_search(s).is_ok())
            .collect(),
    });
}

/// The user of a slot.
fn user(s: &DomainState, slot: Slot) -> Option<&User> {
    s.index
        .entry(slot)
        .and_then(|e| s.users.get(e.user_id.as_ref()))
}

/// One enum field's accepted values: `None` when all are, else the bitmap of the one value or
/// the union of several.
fn column<'a>(mask: Mask, sets: &[&'a Bits], bound: usize) -> Option<Cow<'a, Bits>> {
    let picked: Vec<&'a Bits> = sets
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & 1 << i != 0)
        .map(|(_, b)| *b)
        .collect();
    match picked.as_slice() {
        _ if picked.len() == sets.len() => None,
        [one] => Some(Cow::Borrowed(*one)),
        many => {
            let mut union = Bits::with_bound(bound);
            many.iter().for_each(|b| union.or_assign(b));
            Some(Cow::Owned(union))
        }
    }
}

/// The candidates of a filter (step 1), and whether they are exactly its matches.
pub(crate) fn candidates<'s>(
    s: &'s DomainState,
    f: &Filter,
    cfg: &EngineConfig,
) -> (Set<'s>, bool) {
    let ix = &s.index;
    let mut exact = !f.has_or();
    let mut list: Option<Vec<Slot>> = None;
    let (mut states, mut backends, mut types): (Mask, Mask, Mask) = (0b111, 0b11, 0b11);
    for c in f.and_conds() {
        let key = c.key();
        let indexed = matches!(
            key,
            "user_id"
                | "email"
                | "name"
                | "state"
                | "backend"
                | "auth_type"
                | "user_type"
                | "domain_id"
        );
        let Some(vals) = accepted(c.shape()).filter(|_| indexed) else {
            exact = false;
            continue;
        };
        match key {
            "user_id" => intersect(&mut list, vals.iter().filter_map(|v| ix.slot(v)).collect()),
            "email" => intersect(
                &mut list,
                vals.iter()
                    .flat_map(|v| {
                        ix.email_candidates(v)
                            .into_iter()
                            .filter(move |&c| user(s, c).is_some_and(|u| u.email == *v))
                    })
                    .collect(),
            ),
            "name" => intersect(
                &mut list,
                vals.iter().flat_map(|v| ix.name_slots(v)).collect(),
            ),
            "state" => states &= mask_of(&vals, UserState::parse, state_ix),
            "backend" | "auth_type" => backends &= mask_of(&vals, Backend::parse, backend_ix),
            "user_type" => types &= mask_of(&vals, UserType::parse, user_type_ix),
            _ => {
                if !vals.contains(&s.domain.domain_id.as_str()) {
                    intersect(&mut list, Vec::new());
                }
            }
        }
    }
    let words = f.keyword();
    // The keyword text holds `user_id`, `name` and `email`: other keyword fields, or words
    // that are not ASCII (see `model::index`), are left to the engine.
    // Each word is one pass over the keyword text in the actor: more than a few are left to
    // the engine too.
    let ascii = words.len() <= MAX_INDEXED_WORDS
        && words.iter().all(|w| w.is_ascii())
        && cfg.keyword_fields == KEYWORD_FIELDS;
    exact &= ascii;
    let finders: Vec<Finder<'_>> = if ascii {
        words
            .iter()
            .map(|w| Finder::new(w.lowered().as_bytes()))
            .collect()
    } else {
        Vec::new()
    };
    if list.as_ref().is_some_and(Vec::is_empty) {
        // An `eq`/`in` that nothing satisfies: nothing matches, whatever else the filter says.
        return (Set::List(Vec::new()), true);
    }
    let enum_ok = |slot: Slot| {
        ix.entry(slot).is_some_and(|e| {
            states & 1 << state_ix(e.state) != 0
                && backends & 1 << backend_ix(e.backend) != 0
                && types & 1 << user_type_ix(e.user_type) != 0
        })
    };
    if let Some(l) = list {
        let kept = l
            .into_iter()
            .filter(|&c| enum_ok(c) && (finders.is_empty() || ix.keyword_hit(c, &finders)))
            .collect();
        return (Set::List(kept), exact);
    }
    let bound = ix.slot_bound();
    let cols = [
        column(states, &STATES.map(|v| ix.state_bits(v)), bound),
        column(backends, &BACKENDS.map(|v| ix.backend_bits(v)), bound),
        column(types, &USER_TYPES.map(|v| ix.user_type_bits(v)), bound),
    ];
    let mut bits: Option<Cow<'_, Bits>> = None;
    for c in cols.into_iter().flatten() {
        bits = Some(match bits {
            None => c,
            Some(prev) => {
                let mut prev = prev.into_owned();
                prev.and_assign(&c);
                Cow::Owned(prev)
            }
        });
    }
    if !finders.is_empty() {
        let mut hits = Bits::with_bound(ix.slot_bound());
        ix.keyword_scan(&finders, bits.as_deref(), &mut hits);
        bits = Some(Cow::Owned(hits));
    }
    (bits.map_or(Set::All, Set::Bits), exact)
}

/// Whether the query's order is the default one (`name`, then `user_id`, ascending).
fn name_order(q: &Query, cfg: &EngineConfig) -> bool {
    let asc = |k: &str| SortKey {
        key: k.to_owned(),
        desc: false,
    };
    let default = cfg.default_sort.len() == 1
        && cfg.default_sort.first().is_some_and(|k| k == "name")
        && cfg.tie_break == "user_id";
    default
        && (q.sort.is_empty() || q.sort == [asc("name")] || q.sort == [asc("name"), asc("user_id")])
}

/// The users the engine is to read, as the actor hands them out.
pub(crate) enum Gathered {
    /// Every user: the engine reads a snapshot.
    All,
    /// A superset of the matches, in slot order.
    Some(Vec<Arc<User>>),
}

/// The users of `set`, when there are at most `bound` of them (each a pointer copy).
fn gather(s: &DomainState, set: &Set<'_>, bound: usize) -> Gathered {
    if matches!(set, Set::All) || set.count(&s.index) > bound {
        return Gathered::All;
    }
    Gathered::Some(set.slots(&s.index).filter_map(|c| user_arc(s, c)).collect())
}

/// The shared record of a slot's user.
fn user_arc(s: &DomainState, slot: Slot) -> Option<Arc<User>> {
    s.index
        .entry(slot)
        .and_then(|e| s.users.get_arc(e.user_id.as_ref()))
        .cloned()
}

/// What the actor decides for a `list`.
pub(crate) enum ListPlan {
    /// `count_only` answered from the indexes.
    Count(u64),
    /// The page itself, in order, and the number of matches (answered from the indexes).
    Page(Vec<Arc<User>>, u64),
    /// The engine must filter, sort and page these users.
    Engine(Gathered),
}

/// `list` as the actor plans it. The actor's work is index work only: candidates from the
/// indexes and, when they are exactly the matches in the default order, the page from the
/// name order; everything else (filters the indexes cannot answer, other orders) is left to
/// the engine, over at most `bound` gathered users or over a snapshot of all.
pub(crate) fn list(s: &DomainState, q: &Query, cfg: &EngineConfig, bound: usize) -> ListPlan {
    let ix = &s.index;
    let (set, exact) = candidates(s, &q.filter, cfg);
    if !exact || (!name_order(q, cfg) && !q.count_only()) {
        return ListPlan::Engine(gather(s, &set, bound));
    }
    let m = set.count(ix);
    let total_count = u64::try_from(m).unwrap_or(u64::MAX);
    if q.count_only() {
        return ListPlan::Count(total_count);
    }
    let (skip, end) = q.window(cfg);
    let take = end.min(m).saturating_sub(skip);
    let slots: Vec<Slot> = match &set {
        Set::All => ix.order_from(skip).take(take).collect(),
        _ => {
            // Walking the order visits about end * n / m users; gathering reads all m
            // matches and compares about m of them (a comparison costs a few visits).
            let n = ix.len().max(1) as f64;
            let walk = end.min(m) as f64 * n / m.max(1) as f64;
            if walk <= 4.0 * m as f64 {
                ix.order_from(0)
                    .filter(|&c| set.contains(c))
                    .skip(skip)
                    .take(take)
                    .collect()
            } else {
                let mut all: Vec<Slot> = set.slots(ix).collect();
                let by = |a: &Slot, b: &Slot| ix.cmp_order(*a, *b);
                if end < all.len() {
                    all.select_nth_unstable_by(end, by);
                    all.truncate(end);
                }
                all.sort_unstable_by(by);
                all.into_iter().skip(skip).collect()
            }
        }
    };
    ListPlan::Page(
        slots.into_iter().filter_map(|c| user_arc(s, c)).collect(),
        total_count,
    )
}

/// What the actor decides for a `stat`.
pub(crate) enum StatPlan {
    /// Counted from the bitmaps (a [`CountShape`] on enum fields with an exactly indexed
    /// filter), the rest of the pipeline run on the few counted rows.
    Done(Result<StatResult, super::QueryError>),
    /// The engine must run the query over these users.
    Engine(Gathered),
}

/// `stat` as the actor plans it (see [`list`]).
pub(crate) fn stat(
    s: &DomainState,
    q: &StatQuery,
    now: i64,
    cfg: &EngineConfig,
    budget: &Budget,
) -> StatPlan {
    let ix = &s.index;
    let (set, exact) = candidates(s, q.filter(), cfg);
    if exact && let Some(shape) = q.count_shape() {
        let keys: &[&str] = match &shape {
            CountShape::Count(_) => &[],
            CountShape::Group { keys, .. } => keys,
        };
        if let Some(groups) = count_by_enums(ix, &set, keys) {
            // At most 3 * 2 * 2 * 2 rows: metered, without a deadline.
            let meter = Meter::new(budget, None);
            return StatPlan::Done(q.finish_counted(count_rows_of(&shape, groups), now, &meter));
        }
    }
    StatPlan::Engine(gather(s, &set, budget.plan_candidates))
}

/// One enum field's values as group-key values and bitmaps.
type Column<'a> = Vec<(Value, &'a Bits)>;

/// Counts `set` per combination of the enum `keys` (`None` when a key is not an enum field).
fn count_by_enums(ix: &UserIndex, set: &Set<'_>, keys: &[&str]) -> Option<Vec<(Vec<Value>, u64)>> {
    let cols: Vec<Column<'_>> = keys
        .iter()
        .map(|k| match *k {
            "state" => Some(
                STATES
                    .iter()
                    .map(|v| (Value::from(v.as_str()), ix.state_bits(*v)))
                    .collect(),
            ),
            "backend" | "auth_type" => Some(
                BACKENDS
                    .iter()
                    .map(|v| (Value::from(v.as_str()), ix.backend_bits(*v)))
                    .collect(),
            ),
            "user_type" => Some(
                USER_TYPES
                    .iter()
                    .map(|v| (Value::from(v.as_str()), ix.user_type_bits(*v)))
                    .collect(),
            ),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if cols.len() > 4 {
        return None;
    }
    // Every combination of values (odometer over the columns).
    let mut out = Vec::new();
    let mut pick = vec![0usize; cols.len()];
    loop {
        let mut acc = match set {
            Set::All => None,
            Set::Bits(b) => Some(b.as_ref().clone()),
            Set::List(l) => {
                let mut b = Bits::default();
                l.iter().for_each(|&c| b.set(c));
                Some(b)
            }
        };
        let mut key = Vec::with_capacity(cols.len());
        for (col, &p) in cols.iter().zip(&pick) {
            let (v, bits) = col.get(p)?;
            key.push(v.clone());
            match &mut acc {
                None => acc = Some((*bits).clone()),
                Some(a) => a.and_assign(bits),
            }
        }
        let n = acc.map_or(ix.len(), |a| a.count());
        out.push((key, u64::try_from(n).unwrap_or(u64::MAX)));
        // Next combination.
        let mut i = 0;
        loop {
            let (Some(p), Some(col)) = (pick.get_mut(i), cols.get(i)) else {
                return Some(out);
            };
            *p += 1;
            if *p < col.len() {
                break;
            }
            *p = 0;
            i += 1;
        }
    }
}

/// `find` by keyword: the users whose `user_id`, `name` or `email` contains any of the
/// (already lower-cased) words, in slot order, when every word is ASCII, there are few words
/// and at most `bound` users match; otherwise `Gathered::All` (the caller scans a snapshot).
pub(crate) fn find_keyword(s: &DomainState, words: &[String], bound: usize) -> Gathered {
    if words.len() > MAX_INDEXED_WORDS || !words.iter().all(|w| w.is_ascii()) {
        return Gathered::All;
    }
    let finders: Vec<Finder<'_>> = words.iter().map(|w| Finder::new(w.as_bytes())).collect();
    let mut hits = Bits::default();
    s.index.keyword_scan(&finders, None, &mut hits);
    gather(s, &Set::Bits(Cow::Owned(hits)), bound)
}
