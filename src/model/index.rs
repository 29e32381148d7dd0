//! Secondary indexes over a domain's users: derived data, changed only by
//! [`super::state::DomainState::apply`] (live writes and recovery alike), never persisted.
//!
//! - Every user has a *slot* (a small integer, reused after deletion) holding its `user_id`,
//!   `name` and enum fields, so the query planner reads them without a hash lookup.
//! - `order`: the slots in the default list order (`name`, then `user_id`, by code point), as a
//!   list of sorted blocks: finding the n-th user skips whole blocks.
//! - One bitmap of slots per value of `state`, `backend` and `user_type`.
//! - `email` → slots, keyed by a keyed hash of the address (callers verify the address).
//! - Keyword text: per user, `user_id`, `name` and `email` (when it differs from `user_id`)
//!   lower-cased character by character and each followed by `\n`, in contiguous chunks of
//!   4096 slots scanned with `memchr::memmem`. A keyword word has no whitespace, so a match never
//!   spans two fields or two users. Replaced texts stay as dead bytes until the chunk is compacted.

use super::entities::User;
use super::user_map::UserMap;
use crate::api::{Backend, UserState, UserType};
use memchr::memmem::Finder;
use std::cmp::Ordering;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

/// A user's position in the slot table.
pub type Slot = u32;

/// Blocks of `order` split when they reach twice this size.
const ORDER_BLOCK: usize = 512;
/// Slots per keyword-text chunk, as a power of two.
const HAY_CHUNK_BITS: u32 = 12;
/// Slots per chunk of the snapshot column, as a power of two.
const COLUMN_CHUNK_BITS: u32 = 10;

/// One chunk of the snapshot column: the users of `1 << COLUMN_CHUNK_BITS` slots.
type ColumnChunk = Vec<Option<Arc<User>>>;

/// Every user of a domain at one instant, shared with the domain's state (see
/// [`UserIndex::snapshot`]): taking one copies a pointer per 1024 users; while it lives, the
/// first change to one of those 1024 users copies that chunk's pointers.
#[derive(Clone, Default)]
pub struct UserSnapshot {
    chunks: Vec<Arc<ColumnChunk>>,
}

impl UserSnapshot {
    /// The users, in slot order.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter().flatten().map(Arc::as_ref))
    }
}

/// What the index keeps per user.
#[derive(Debug, Clone)]
pub struct Entry {
    pub user_id: Arc<str>,
    pub name: Box<str>,
    pub state: UserState,
    pub backend: Backend,
    pub user_type: UserType,
    /// Offset of the user's keyword text in its chunk (`u32::MAX` while it has none).
    hay: u32,
}

/// A set of slots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    /// An empty set with room for slots below `bound`.
    pub fn with_bound(bound: usize) -> Self {
        Bits {
            words: Vec::with_capacity(bound.div_ceil(64)),
        }
    }

    pub fn get(&self, s: Slot) -> bool {
        let i = s as usize;
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn set(&mut self, s: Slot) {
        let i = s as usize;
        if self.words.len() <= i / 64 {
            self.words.resize(i / 64 + 1, 0);
        }
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    pub fn clear(&mut self, s: Slot) {
        let i = s as usize;
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    /// Number of slots in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The slots in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = Slot> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Slot::try_from(i * 64 + b as usize).ok()
            })
        })
    }

    /// Keeps only the slots also in `o`.
    pub fn and_assign(&mut self, o: &Bits) {
        for (i, w) in self.words.iter_mut().enumerate() {
            *w &= o.words.get(i).copied().unwrap_or(0);
        }
    }

    /// Adds the slots of `o`.
    pub fn or_assign(&mut self, o: &Bits) {
        if self.words.len() < o.words.len() {
            self.words.resize(o.words.len(), 0);
        }
        for (w, x) in self.words.iter_mut().zip(&o.words) {
            *w |= x;
        }
    }

    /// Whether any slot in `lo..hi` (multiples of 64) is in the set.
    fn any_in(&self, lo: usize, hi: usize) -> bool {
        let hi = (hi / 64).min(self.words.len());
        self.words
            .get(lo / 64..hi)
            .is_some_and(|ws| ws.iter().any(|w| *w != 0))
    }

    fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

/// The slots of one e-mail hash: almost always one (boxed otherwise, to keep entries small).
#[derive(Debug, Clone)]
#[allow(clippy::box_collection)] // the box halves every entry of a map with one per user
enum Posting {
    One(Slot),
    Many(Box<BTreeSet<Slot>>),
}

#[derive(Debug, Clone, Default)]
struct HayChunk {
    text: Vec<u8>,
    /// `(offset, slot)` of every text in `text`, live or dead, by offset.
    starts: Vec<(u32, Slot)>,
    /// Bytes of replaced texts.
    dead: usize,
}

impl HayChunk {
    /// The index in `starts` of the text at `start`, and the text's byte range.
    fn locate(&self, start: u32) -> Option<(usize, usize, usize)> {
        let k = self.starts.partition_point(|&(s, _)| s < start);
        let &(s, _) = self.starts.get(k)?;
        if s != start {
            return None;
        }
        let end = self
            .starts
            .get(k + 1)
            .map_or(self.text.len(), |&(s, _)| s as usize);
        Some((k, s as usize, end))
    }
}

/// Lower-cases `s` character by character (as keyword matching does) onto `out`.
fn fold_into(out: &mut Vec<u8>, s: &str) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| b.to_ascii_lowercase()));
    } else {
        let mut buf = [0u8; 4];
        for c in s.chars().flat_map(char::to_lowercase) {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// The keyword text of a user.
fn hay_text(out: &mut Vec<u8>, user_id: &str, name: &str, email: &str) {
    fold_into(out, user_id);
    out.push(b'\n');
    fold_into(out, name);
    out.push(b'\n');
    if email != user_id && !email.is_empty() {
        fold_into(out, email);
        out.push(b'\n');
    }
}

fn state_ix(v: UserState) -> usize {
    match v {
        UserState::Enabled => 0,
        UserState::Disabled => 1,
        UserState::Pending => 2,
    }
}
fn backend_ix(v: Backend) -> usize {
    match v {
        Backend::Local => 0,
        Backend::External => 1,
    }
}
fn user_type_ix(v: UserType) -> usize {
    match v {
        UserType::User => 0,
        UserType::ApiUser => 1,
    }
}

/// The indexes of one domain's users (see the module documentation).
#[derive(Clone, Default)]
pub struct UserIndex {
    slots: Vec<Option<Entry>>,
    free: Vec<Slot>,
    slot_of: HashMap<Arc<str>, Slot>,
    /// Sorted blocks of slots by `(name, user_id)`; no block is empty.
    order: Vec<Vec<Slot>>,
    state: [Bits; 3],
    backend: [Bits; 2],
    user_type: [Bits; 2],
    email: HashMap<u64, Posting>,
    email_hasher: RandomState,
    hay: Vec<HayChunk>,
    /// The users by slot, in copy-on-write chunks ([`UserIndex::snapshot`]).
    column: Vec<Arc<ColumnChunk>>,
}

impl std::fmt::Debug for UserIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserIndex")
            .field("users", &self.slot_of.len())
            .field("slots", &self.slots.len())
            .field("order_blocks", &self.order.len())
            .finish_non_exhaustive()
    }
}

fn key(slots: &[Option<Entry>], s: Slot) -> (&str, &str) {
    match slots.get(s as usize) {
        Some(Some(e)) => (&e.name, &e.user_id),
        _ => ("", ""),
    }
}

impl UserIndex {
    /// Number of users.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// One past the highest slot ever used.
    pub fn slot_bound(&self) -> usize {
        self.slots.len()
    }

    /// The slot of a user.
    pub fn slot(&self, user_id: &str) -> Option<Slot> {
        self.slot_of.get(user_id).copied()
    }

    /// What the index keeps for a slot (`None` when free).
    pub fn entry(&self, s: Slot) -> Option<&Entry> {
        self.slots.get(s as usize).and_then(Option::as_ref)
    }

    pub fn state_bits(&self, v: UserState) -> &Bits {
        &self.state[state_ix(v)]
    }

    pub fn backend_bits(&self, v: Backend) -> &Bits {
        &self.backend[backend_ix(v)]
    }

    pub fn user_type_bits(&self, v: UserType) -> &Bits {
        &self.user_type[user_type_ix(v)]
    }

    /// Slots whose e-mail may be `email` (same hash): verify against the user.
    pub fn email_candidates(&self, email: &str) -> Vec<Slot> {
        match self.email.get(&self.email_hasher.hash_one(email)) {
            None => Vec::new(),
            Some(Posting::One(s)) => vec![*s],
            Some(Posting::Many(set)) => set.iter().copied().collect(),
        }
    }

    /// The slots of users named exactly `name`, in order.
    pub fn name_slots(&self, name: &str) -> Vec<Slot> {
        let start = self.position_of((name, ""));
        self.order_from(start)
            .take_while(|&s| key(&self.slots, s).0 == name)
            .collect()
    }

    /// The slots in the default order (`name`, then `user_id`), from position `pos` on.
    pub fn order_from(&self, pos: usize) -> impl Iterator<Item = Slot> + '_ {
        let mut skip = pos;
        let mut first = self.order.len();
        for (i, b) in self.order.iter().enumerate() {
            if skip < b.len() {
                first = i;
                break;
            }
            skip -= b.len();
        }
        self.order
            .get(first..)
            .unwrap_or_default()
            .iter()
            .flatten()
            .skip(skip)
            .copied()
    }

    /// The number of users ordered before `k`.
    fn position_of(&self, k: (&str, &str)) -> usize {
        let slots = &self.slots;
        let bi = self
            .order
            .partition_point(|b| b.last().is_some_and(|&s| key(slots, s) < k));
        let before: usize = self.order.iter().take(bi).map(Vec::len).sum();
        let within = self
            .order
            .get(bi)
            .map_or(0, |b| b.partition_point(|&s| key(slots, s) < k));
        before + within
    }

    /// The block and offset where `k` is or would go.
    fn order_find(&self, k: (&str, &str)) -> (usize, usize) {
        let slots = &self.slots;
        let last = self.order.len().saturating_sub(1);
        let bi = self
            .order
            .partition_point(|b| b.last().is_some_and(|&s| key(slots, s) < k))
            .min(last);
        let pos = self
            .order
            .get(bi)
            .map_or(0, |b| b.partition_point(|&s| key(slots, s) < k));
        (bi, pos)
    }

    fn order_insert(&mut self, s: Slot) {
        if self.order.is_empty() {
            self.order.push(vec![s]);
            return;
        }
        let (bi, pos) = self.order_find(key(&self.slots, s));
        if let Some(b) = self.order.get_mut(bi) {
            b.insert(pos, s);
            if b.len() >= 2 * ORDER_BLOCK {
                let tail = b.split_off(ORDER_BLOCK);
                self.order.insert(bi + 1, tail);
            }
        }
    }

    fn order_remove(&mut self, s: Slot) {
        let (bi, pos) = self.order_find(key(&self.slots, s));
        let Some(b) = self.order.get_mut(bi) else {
            return;
        };
        if b.get(pos) != Some(&s) {
            return;
        }
        b.remove(pos);
        let len = b.len();
        if len == 0 {
            self.order.remove(bi);
        } else if len < ORDER_BLOCK / 8 && bi + 1 < self.order.len() {
            // Merge a small block into the next one (splitting again if that grows too big).
            let small = self.order.remove(bi);
            if let Some(next) = self.order.get_mut(bi) {
                next.splice(0..0, small);
                if next.len() >= 2 * ORDER_BLOCK {
                    let tail = next.split_off(ORDER_BLOCK);
                    self.order.insert(bi + 1, tail);
                }
            }
        }
    }

    fn bits_set(&mut self, e: (UserState, Backend, UserType), s: Slot, on: bool) {
        let f = if on { Bits::set } else { Bits::clear };
        f(&mut self.state[state_ix(e.0)], s);
        f(&mut self.backend[backend_ix(e.1)], s);
        f(&mut self.user_type[user_type_ix(e.2)], s);
    }

    fn email_add(&mut self, email: &str, s: Slot) {
        let h = self.email_hasher.hash_one(email);
        match self.email.get_mut(&h) {
            None => {
                self.email.insert(h, Posting::One(s));
            }
            Some(Posting::One(o)) => {
                let o = *o;
                self.email
                    .insert(h, Posting::Many(Box::new(BTreeSet::from([o, s]))));
            }
            Some(Posting::Many(set)) => {
                set.insert(s);
            }
        }
    }

    fn email_remove(&mut self, email: &str, s: Slot) {
        let h = self.email_hasher.hash_one(email);
        match self.email.get_mut(&h) {
            Some(Posting::One(o)) if *o == s => {
                self.email.remove(&h);
            }
            Some(Posting::Many(set)) => {
                set.remove(&s);
                if set.len() == 1
                    && let Some(&o) = set.first()
                {
                    self.email.insert(h, Posting::One(o));
                }
            }
            _ => {}
        }
    }

    /// Writes the keyword text of slot `s` (its entry must exist) and marks the old one dead.
    fn hay_put(&mut self, s: Slot, user_id: &str, name: &str, email: &str) {
        let ci = (s >> HAY_CHUNK_BITS) as usize;
        if self.hay.len() <= ci {
            self.hay.resize_with(ci + 1, HayChunk::default);
        }
        self.hay_kill(s);
        let Some(chunk) = self.hay.get_mut(ci) else {
            return;
        };
        let start = u32::try_from(chunk.text.len()).unwrap_or(u32::MAX);
        hay_text(&mut chunk.text, user_id, name, email);
        chunk.starts.push((start, s));
        if let Some(Some(e)) = self.slots.get_mut(s as usize) {
            e.hay = start;
        }
        self.hay_compact(ci);
    }

    /// Marks the keyword text of slot `s` dead (and the slot's offset as none): its bytes
    /// become `\n`, which no keyword word contains, so scans never match dead text.
    fn hay_kill(&mut self, s: Slot) {
        let ci = (s >> HAY_CHUNK_BITS) as usize;
        let Some(Some(e)) = self.slots.get_mut(s as usize) else {
            return;
        };
        let start = std::mem::replace(&mut e.hay, u32::MAX);
        if let Some(chunk) = self.hay.get_mut(ci)
            && let Some((_, a, b)) = chunk.locate(start)
        {
            chunk.dead += b - a;
            if let Some(bytes) = chunk.text.get_mut(a..b) {
                bytes.fill(b'\n');
            }
        }
    }

    /// Rewrites a chunk without its dead texts once they are the larger part.
    fn hay_compact(&mut self, ci: usize) {
        let Some(chunk) = self.hay.get_mut(ci) else {
            return;
        };
        if chunk.dead < 4096 || chunk.dead * 2 < chunk.text.len() {
            return;
        }
        let old = std::mem::take(chunk);
        let mut text = Vec::with_capacity(old.text.len() - old.dead);
        let mut starts = Vec::with_capacity(old.starts.len());
        for (k, &(start, s)) in old.starts.iter().enumerate() {
            let Some(Some(e)) = self.slots.get_mut(s as usize) else {
                continue;
            };
            if e.hay != start {
                continue;
            }
            let end = old
                .starts
                .get(k + 1)
                .map_or(old.text.len(), |&(s, _)| s as usize);
            let new_start = u32::try_from(text.len()).unwrap_or(u32::MAX);
            text.extend_from_slice(old.text.get(start as usize..end).unwrap_or_default());
            starts.push((new_start, s));
            e.hay = new_start;
        }
        if let Some(chunk) = self.hay.get_mut(ci) {
            *chunk = HayChunk {
                text,
                starts,
                dead: 0,
            };
        }
    }

    /// Every user now, for scanning outside the domain actor.
    pub fn snapshot(&self) -> UserSnapshot {
        UserSnapshot {
            chunks: self.column.clone(),
        }
    }

    fn column_set(&mut self, s: Slot, u: Option<Arc<User>>) {
        let ci = (s >> COLUMN_CHUNK_BITS) as usize;
        if self.column.len() <= ci {
            self.column.resize_with(ci + 1, Default::default);
        }
        if let Some(chunk) = self.column.get_mut(ci) {
            let chunk = Arc::make_mut(chunk);
            let i = (s as usize) & ((1 << COLUMN_CHUNK_BITS) - 1);
            if chunk.len() <= i {
                chunk.resize(i + 1, None);
            }
            if let Some(cell) = chunk.get_mut(i) {
                *cell = u;
            }
        }
    }

    /// Drops the snapshot column's reference to a user about to be changed in place, so that
    /// `Arc::make_mut` copies it only when a live snapshot holds it; [`UserIndex::replaced`]
    /// puts the changed record back.
    pub(crate) fn detach(&mut self, user_id: &str) {
        if let Some(s) = self.slot(user_id) {
            self.column_set(s, None);
        }
    }

    /// The user's record was replaced by `new` (same id), changing nothing indexed but maybe
    /// its state, which was `old_state`.
    pub(crate) fn replaced(&mut self, old_state: UserState, new: &Arc<User>) {
        let Some(s) = self.slot(&new.user_id) else {
            return;
        };
        if old_state != new.state {
            self.state[state_ix(old_state)].clear(s);
            self.state[state_ix(new.state)].set(s);
            if let Some(Some(e)) = self.slots.get_mut(s as usize) {
                e.state = new.state;
            }
        }
        self.column_set(s, Some(new.clone()));
    }

    /// Indexes `new`, replacing `old` (the user's previous version, if it existed).
    pub(crate) fn upsert(&mut self, old: Option<&User>, new: &Arc<User>) {
        let slot = old.and_then(|o| self.slot(&o.user_id));
        let (Some(old), Some(s)) = (old, slot) else {
            self.insert(new);
            return;
        };
        let enums = |u: &User| (u.state, u.backend, u.user_type);
        if enums(old) != enums(new) {
            self.bits_set(enums(old), s, false);
            self.bits_set(enums(new), s, true);
            if let Some(Some(e)) = self.slots.get_mut(s as usize) {
                (e.state, e.backend, e.user_type) = enums(new);
            }
        }
        if old.name != new.name {
            self.order_remove(s);
            if let Some(Some(e)) = self.slots.get_mut(s as usize) {
                e.name = new.name.as_str().into();
            }
            self.order_insert(s);
        }
        if old.email != new.email {
            self.email_remove(&old.email, s);
            self.email_add(&new.email, s);
        }
        if old.name != new.name || old.email != new.email {
            self.hay_put(s, &new.user_id, &new.name, &new.email);
        }
        self.column_set(s, Some(new.clone()));
    }

    fn insert(&mut self, u: &Arc<User>) {
        let user_id: Arc<str> = u.user_id.as_str().into();
        let entry = Entry {
            user_id: user_id.clone(),
            name: u.name.as_str().into(),
            state: u.state,
            backend: u.backend,
            user_type: u.user_type,
            hay: u32::MAX,
        };
        let s = match self.free.pop() {
            Some(s) => {
                if let Some(slot) = self.slots.get_mut(s as usize) {
                    *slot = Some(entry);
                }
                s
            }
            None => {
                self.slots.push(Some(entry));
                Slot::try_from(self.slots.len() - 1).unwrap_or(Slot::MAX)
            }
        };
        self.slot_of.insert(user_id, s);
        self.order_insert(s);
        self.bits_set((u.state, u.backend, u.user_type), s, true);
        self.email_add(&u.email, s);
        self.hay_put(s, &u.user_id, &u.name, &u.email);
        self.column_set(s, Some(u.clone()));
    }

    /// Forgets a user (`u` is its current version).
    pub(crate) fn remove(&mut self, u: &User) {
        let Some(s) = self.slot_of.remove(u.user_id.as_str()) else {
            return;
        };
        self.order_remove(s);
        self.bits_set((u.state, u.backend, u.user_type), s, false);
        self.email_remove(&u.email, s);
        self.hay_kill(s);
        self.column_set(s, None);
        if let Some(slot) = self.slots.get_mut(s as usize) {
            *slot = None;
        }
        self.free.push(s);
    }

    /// Adds to `out` the slots (within `within`, if given) whose keyword text contains any of
    /// the lower-cased `words` (none of which may contain `\n`).
    pub fn keyword_scan(&self, words: &[Finder<'_>], within: Option<&Bits>, out: &mut Bits) {
        let size = 1usize << HAY_CHUNK_BITS;
        for (ci, chunk) in self.hay.iter().enumerate() {
            if within.is_some_and(|w| !w.any_in(ci * size, (ci + 1) * size)) {
                continue;
            }
            let text = chunk.text.as_slice();
            let starts = chunk.starts.as_slice();
            for f in words {
                let (mut pos, mut k) = (0, 0);
                while let Some(i) = text.get(pos..).and_then(|t| f.find(t)) {
                    let at = pos + i;
                    // The text containing `at`: the last start <= at, searched forward from the
                    // previous one (gallop, then bisect), as matches come in order.
                    let mut step = 1;
                    while starts.get(k + step).is_some_and(|&(s, _)| s as usize <= at) {
                        k += step;
                        step *= 2;
                    }
                    let ahead = starts
                        .get(k + 1..(k + step).min(starts.len()))
                        .unwrap_or_default();
                    k += ahead.partition_point(|&(s, _)| s as usize <= at);
                    // Dead texts are all `\n`, so the match is in a live one.
                    let Some(&(_, s)) = starts.get(k) else { break };
                    if within.is_none_or(|w| w.get(s)) {
                        out.set(s);
                    }
                    pos = starts.get(k + 1).map_or(text.len(), |&(s, _)| s as usize);
                }
            }
        }
    }

    /// Whether the keyword text of slot `s` contains any of the lower-cased `words`.
    pub fn keyword_hit(&self, s: Slot, words: &[Finder<'_>]) -> bool {
        let Some(e) = self.entry(s) else {
            return false;
        };
        let Some(chunk) = self.hay.get((s >> HAY_CHUNK_BITS) as usize) else {
            return false;
        };
        let Some((_, a, b)) = chunk.locate(e.hay) else {
            return false;
        };
        let text = chunk.text.get(a..b).unwrap_or_default();
        words.iter().any(|f| f.find(text).is_some())
    }

    /// Compares two slots in the default order.
    pub fn cmp_order(&self, a: Slot, b: Slot) -> Ordering {
        key(&self.slots, a).cmp(&key(&self.slots, b))
    }

    /// Approximate heap bytes held by the indexes (allocator overhead not included).
    pub fn heap_bytes(&self) -> usize {
        let arc_hdr = 2 * std::mem::size_of::<usize>();
        let strings: usize = self
            .slots
            .iter()
            .flatten()
            .map(|e| arc_hdr + e.user_id.len() + e.name.len())
            .sum();
        let map_entry = |k: usize, v: usize| k + v + 1;
        let order: usize = self.order.iter().map(|b| b.capacity() * 4).sum();
        let posting = std::mem::size_of::<Posting>();
        let many: usize = self
            .email
            .values()
            .map(|p| match p {
                Posting::One(_) => 0,
                Posting::Many(set) => set.len() * 8,
            })
            .sum();
        let hay: usize = self
            .hay
            .iter()
            .map(|c| c.text.capacity() + c.starts.capacity() * 8)
            .sum();
        let bits: usize = self
            .state
            .iter()
            .chain(&self.backend)
            .chain(&self.user_type)
            .map(Bits::heap_bytes)
            .sum();
        self.slots.capacity() * std::mem::size_of::<Option<Entry>>()
            + strings
            + self.slot_of.capacity() * map_entry(std::mem::size_of::<(Arc<str>, Slot)>(), 0)
            + order
            + bits
            + self.email.capacity() * map_entry(8, posting)
            + many
            + hay
            + self.free.capacity() * 4
            + self
                .column
                .iter()
                .map(|c| c.capacity() * 8 + 2 * arc_hdr)
                .sum::<usize>()
    }

    /// Checks that the index is exactly what indexing `users` from scratch gives.
    pub fn check(&self, users: &UserMap) -> Result<(), String> {
        if self.slot_of.len() != users.len() {
            return Err(format!(
                "{} indexed users, {} users",
                self.slot_of.len(),
                users.len()
            ));
        }
        let live = self.slots.iter().flatten().count();
        if live != users.len() || live + self.free.len() != self.slots.len() {
            return Err(format!(
                "{live} live slots, {} free, {} slots, {} users",
                self.free.len(),
                self.slots.len(),
                users.len()
            ));
        }
        let mut postings = 0;
        for u in users.values() {
            let s = self
                .slot(&u.user_id)
                .ok_or_else(|| format!("{} has no slot", u.user_id))?;
            let e = self
                .entry(s)
                .ok_or_else(|| format!("{} has a free slot", u.user_id))?;
            if *e.user_id != *u.user_id
                || *e.name != *u.name
                || (e.state, e.backend, e.user_type) != (u.state, u.backend, u.user_type)
            {
                return Err(format!("{} has a stale entry {e:?}", u.user_id));
            }
            let shared = users.get_arc(&u.user_id);
            let col = self
                .column
                .get((s >> COLUMN_CHUNK_BITS) as usize)
                .and_then(|c| c.get((s as usize) & ((1 << COLUMN_CHUNK_BITS) - 1)))
                .and_then(Option::as_ref);
            if !matches!((shared, col), (Some(a), Some(b)) if Arc::ptr_eq(a, b)) {
                return Err(format!(
                    "{} is not shared with the snapshot column",
                    u.user_id
                ));
            }
            if !self.email_candidates(&u.email).contains(&s) {
                return Err(format!("{} missing from the e-mail index", u.user_id));
            }
            postings += 1;
            let mut want = Vec::new();
            hay_text(&mut want, &u.user_id, &u.name, &u.email);
            let chunk = self.hay.get((s >> HAY_CHUNK_BITS) as usize);
            let got = chunk
                .and_then(|c| c.locate(e.hay).and_then(|(_, a, b)| c.text.get(a..b)))
                .unwrap_or_default();
            if got != want.as_slice() {
                return Err(format!("{} has stale keyword text", u.user_id));
            }
        }
        let indexed: usize = self
            .email
            .values()
            .map(|p| match p {
                Posting::One(_) => 1,
                Posting::Many(set) => set.len(),
            })
            .sum();
        let in_column = self.snapshot().users().count();
        if in_column != users.len() {
            return Err(format!("{in_column} users in the snapshot column"));
        }
        if indexed != postings {
            return Err(format!("{indexed} e-mail postings, {postings} users"));
        }
        let order: Vec<Slot> = self.order_from(0).collect();
        let mut want: Vec<(&str, &str)> = users
            .values()
            .map(|u| (u.name.as_str(), u.user_id.as_str()))
            .collect();
        want.sort_unstable();
        let got: Vec<(&str, &str)> = order.iter().map(|&s| key(&self.slots, s)).collect();
        if got != want || self.order.iter().any(Vec::is_empty) {
            return Err("the name order differs".to_owned());
        }
        let bits = |ix: &dyn Fn(&Entry) -> usize, sets: &[Bits]| -> Result<(), String> {
            for (v, set) in sets.iter().enumerate() {
                let want: Vec<Slot> = (0..self.slots.len())
                    .filter_map(|s| Slot::try_from(s).ok())
                    .filter(|&s| self.entry(s).is_some_and(|e| ix(e) == v))
                    .collect();
                if set.iter().collect::<Vec<_>>() != want {
                    return Err(format!("bitmap {v} differs"));
                }
            }
            Ok(())
        };
        bits(&|e| state_ix(e.state), &self.state)?;
        bits(&|e| backend_ix(e.backend), &self.backend)?;
        bits(&|e| user_type_ix(e.user_type), &self.user_type)?;
        for (ci, c) in self.hay.iter().enumerate() {
            let live: usize = c
                .starts
                .iter()
                .enumerate()
                .filter(|(_, (start, s))| self.entry(*s).is_some_and(|e| e.hay == *start))
                .map(|(k, (start, _))| {
                    c.starts
                        .get(k + 1)
                        .map_or(c.text.len(), |&(s, _)| s as usize)
                        - *start as usize
                })
                .sum();
            if live + c.dead != c.text.len() {
                return Err(format!("keyword chunk {ci}: dead bytes miscounted"));
            }
            for (k, (start, s)) in c.starts.iter().enumerate() {
                let end = c
                    .starts
                    .get(k + 1)
                    .map_or(c.text.len(), |&(s, _)| s as usize);
                let dead = self.entry(*s).is_none_or(|e| e.hay != *start);
                let text = c.text.get(*start as usize..end).unwrap_or_default();
                if dead && text.iter().any(|b| *b != b'\n') {
                    return Err(format!(
                        "keyword chunk {ci}: dead text at {start} not blanked"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
