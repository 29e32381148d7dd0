//! The cost budget of one query (SPEC 11): what parsing may compile and what a run may build,
//! visit and return. Every limit is a flag (`--query-*`, see `config.rs`); exceeding one is
//! `ERROR_DB_QUERY` naming the budget, its limit and its flag, and changes nothing.
//!
//! - **Parsing** ([`ParseLimits`]): the number of patterns (regex, `regex_in`, `contain*`,
//!   keyword words), the bytes of each, and the compiled size of all regexes together. Patterns
//!   are counted over the raw query before any regex is compiled.
//! - **Running** ([`Budget`], metered by [`Meter`]): rows a stat stage may produce, rows (and
//!   accumulated `push`/`add_to_set` values) of all stages together, bytes of everything a stat
//!   pipeline builds, bytes of the result, and wall time: a deadline read from the injectable
//!   clock, checked cooperatively every [`TICK`] documents or rows. The engine stays pure over
//!   its inputs: the clock and the instant the run started are passed in.

use super::error::QueryError;
use crate::api::value::Value;
use crate::model::clock::{Clock, Millis};
use std::cell::Cell;
use std::sync::Arc;

/// Compiled-program size limit of one regex when few share the budget.
pub(crate) const REGEX_MAX_SHARE: usize = 1 << 20;

/// The clock is read once every `TICK` units of work.
pub(crate) const TICK: u32 = 256;

/// Limits checked while a query is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLimits {
    /// Patterns per query: each `regex`/`contain`/`not_contain` value, each element of
    /// `regex_in`/`contain_in`/`not_contain_in`, each keyword word (0: no limit).
    pub max_patterns: usize,
    /// Bytes of one pattern (0: no limit).
    pub max_pattern_bytes: usize,
    /// Compiled bytes of all of a query's regexes: each regex may use `regex_bytes / n` (at most
    /// 1 MiB) for its program and as much for its lazy-DFA cache.
    pub regex_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_patterns: 64,
            max_pattern_bytes: 1024,
            regex_bytes: 8 << 20,
        }
    }
}

impl ParseLimits {
    /// No limit beyond the per-regex 1 MiB (the engine's reference tests).
    pub fn unlimited() -> Self {
        ParseLimits {
            max_patterns: 0,
            max_pattern_bytes: 0,
            regex_bytes: usize::MAX,
        }
    }
}

/// The whole budget of a query (`ServiceConfig::query`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub parse: ParseLimits,
    /// Rows one stat stage may produce (the documents a pipeline starts from, `unwind`,
    /// `group`, `project`, `distinct`) (0: no limit).
    pub max_stage_rows: usize,
    /// Rows all stages of a stat query produce together, plus the values `push`/`add_to_set`
    /// accumulate (0: no limit).
    pub max_total_rows: usize,
    /// Bytes (estimated as JSON) of the rows and values a stat pipeline builds (0: no limit).
    pub max_work_bytes: usize,
    /// Bytes (estimated as JSON) of a `list`/`stat`/`find` result (0: no limit).
    pub max_result_bytes: usize,
    /// Milliseconds a query may run once started off the actor (0: no limit).
    pub timeout_ms: i64,
    /// Users a domain actor gathers for the engine; with more candidates the engine reads a
    /// snapshot of every user instead (the actor's work stays bounded either way).
    pub plan_candidates: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            parse: ParseLimits::default(),
            max_stage_rows: 100_000,
            max_total_rows: 1_000_000,
            max_work_bytes: 64 << 20,
            max_result_bytes: 12 << 20,
            timeout_ms: 2_000,
            plan_candidates: 10_000,
        }
    }
}

impl Budget {
    /// No limit at all (the engine's reference tests and benchmarks); the planner still
    /// gathers at most the default number of candidates.
    pub fn unlimited() -> Self {
        Budget {
            parse: ParseLimits::unlimited(),
            max_stage_rows: 0,
            max_total_rows: 0,
            max_work_bytes: 0,
            max_result_bytes: 0,
            timeout_ms: 0,
            plan_candidates: Budget::default().plan_candidates,
        }
    }
}

/// `ERROR_DB_QUERY` for an exceeded budget.
pub(crate) fn exceeded(what: &str, limit: impl std::fmt::Display, flag: &str) -> QueryError {
    QueryError::db_query(format!(
        "query budget exceeded: {what} (limit = {limit}, flag = --{flag})"
    ))
}

fn over(n: usize, limit: usize) -> bool {
    limit > 0 && n > limit
}

/// A deadline on the injectable clock.
#[derive(Clone)]
pub struct Deadline {
    clock: Arc<dyn Clock>,
    at: Millis,
    timeout_ms: i64,
}

impl Deadline {
    /// `timeout_ms` after `start` (read by the caller from `clock`); `None` for no limit.
    pub fn new(clock: Arc<dyn Clock>, start: Millis, timeout_ms: i64) -> Option<Deadline> {
        (timeout_ms > 0).then(|| Deadline {
            clock,
            at: start.saturating_add(timeout_ms),
            timeout_ms,
        })
    }

    fn check(&self) -> Result<(), QueryError> {
        if self.clock.now_ms() > self.at {
            return Err(self.error());
        }
        Ok(())
    }

    fn error(&self) -> QueryError {
        exceeded(
            "run time",
            format!("{} ms", self.timeout_ms),
            "query-timeout-ms",
        )
    }
}

/// Meters one run against a [`Budget`] (single-threaded; counters in cells so a filter
/// closure and the stage consuming it can both hold it).
pub struct Meter<'b> {
    budget: &'b Budget,
    deadline: Option<Deadline>,
    ticks: Cell<u32>,
    total_rows: Cell<usize>,
    work_bytes: Cell<usize>,
    timed_out: Cell<bool>,
}

impl<'b> Meter<'b> {
    pub fn new(budget: &'b Budget, deadline: Option<Deadline>) -> Self {
        Meter {
            budget,
            deadline,
            ticks: Cell::new(0),
            total_rows: Cell::new(0),
            work_bytes: Cell::new(0),
            timed_out: Cell::new(false),
        }
    }

    /// One unit of work (a document read, a row tested): the deadline is checked every
    /// [`TICK`] of them.
    pub(crate) fn tick(&self) -> Result<(), QueryError> {
        let t = self.ticks.get().wrapping_add(1);
        self.ticks.set(t);
        match &self.deadline {
            Some(d) if t.is_multiple_of(TICK) => {
                d.check().inspect_err(|_| self.timed_out.set(true))
            }
            _ => Ok(()),
        }
    }

    /// [`Meter::tick`] for iterator adapters: `false` once the deadline has passed (then
    /// [`Meter::stopped`] reports it).
    pub(crate) fn pass(&self) -> bool {
        !self.timed_out.get() && self.tick().is_ok()
    }

    /// The error of a run that [`Meter::pass`] stopped.
    pub(crate) fn stopped(&self) -> Result<(), QueryError> {
        match &self.deadline {
            Some(d) if self.timed_out.get() => Err(d.error()),
            _ => Ok(()),
        }
    }

    /// The deadline now (before or after a step that cannot be interrupted).
    pub(crate) fn check_time(&self) -> Result<(), QueryError> {
        self.stopped()?;
        self.deadline.as_ref().map_or(Ok(()), Deadline::check)
    }

    /// A stage produced its `nth` row (1-based), of about `bytes` bytes.
    pub(crate) fn row(&self, nth: usize, bytes: usize) -> Result<(), QueryError> {
        let b = self.budget;
        if over(nth, b.max_stage_rows) {
            return Err(exceeded(
                "rows produced by one stage",
                b.max_stage_rows,
                "query-max-stage-rows",
            ));
        }
        self.value(bytes)
    }

    /// A row or an accumulated value of about `bytes` bytes was built.
    pub(crate) fn value(&self, bytes: usize) -> Result<(), QueryError> {
        let b = self.budget;
        let rows = self.total_rows.get().saturating_add(1);
        self.total_rows.set(rows);
        if over(rows, b.max_total_rows) {
            return Err(exceeded(
                "rows and values produced by all stages",
                b.max_total_rows,
                "query-max-total-rows",
            ));
        }
        let work = self.work_bytes.get().saturating_add(bytes);
        self.work_bytes.set(work);
        if over(work, b.max_work_bytes) {
            return Err(exceeded(
                "bytes built by the pipeline",
                b.max_work_bytes,
                "query-max-work-bytes",
            ));
        }
        self.tick()
    }

    /// The result has reached `total` bytes.
    pub(crate) fn result_bytes(&self, total: usize) -> Result<(), QueryError> {
        let b = self.budget;
        if over(total, b.max_result_bytes) {
            return Err(exceeded(
                "result bytes",
                b.max_result_bytes,
                "query-max-result-bytes",
            ));
        }
        Ok(())
    }

    /// Checks the estimated size of result rows.
    pub(crate) fn result_rows(&self, rows: &[Value]) -> Result<(), QueryError> {
        if self.budget.max_result_bytes == 0 {
            return Ok(());
        }
        let mut total = 0usize;
        for r in rows {
            total = total.saturating_add(approx_bytes(r));
            self.result_bytes(total)?;
        }
        Ok(())
    }
}

/// The size of `v` as compact JSON, roughly (strings without escapes, numbers as 8 bytes), by
/// an explicit stack: no recursion, whatever the depth.
pub fn approx_bytes(v: &Value) -> usize {
    let mut n = 0usize;
    let mut stack: Vec<&Value> = vec![v];
    while let Some(v) = stack.pop() {
        n = n.saturating_add(match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Int(_) | Value::Float(_) => 8,
            Value::String(s) => s.len().saturating_add(2),
            Value::List(l) => {
                stack.extend(l.iter());
                l.len().saturating_add(2)
            }
            Value::Object(m) => {
                let mut keys = 2usize;
                for (k, x) in m.iter() {
                    keys = keys.saturating_add(k.len().saturating_add(4));
                    stack.push(x);
                }
                keys
            }
        });
    }
    n
}

/// Parse-time accounting of a query's patterns: counted over the raw query first
/// ([`Patterns::prescan`], before any regex is compiled), then taken one by one as the
/// conditions compile.
#[derive(Debug)]
pub(crate) struct Patterns {
    limits: ParseLimits,
    used: usize,
    /// Program size limit (and lazy-DFA cache limit) of each regex.
    regex_share: usize,
}

/// The patterns of one raw condition: how many, how many of them are regexes, their texts.
fn cond_patterns<'v>(c: &'v Value) -> (usize, usize, Vec<&'v str>) {
    let Value::Object(m) = c else {
        return (0, 0, Vec::new());
    };
    let pick = |long: &str, short: &str| m.get(long).or_else(|| m.get(short));
    let op = match pick("operator", "o") {
        Some(Value::String(s)) => s.as_str(),
        _ => return (0, 0, Vec::new()),
    };
    let value = pick("value", "v");
    let strs = |v: Option<&'v Value>| -> Vec<&'v str> {
        match v {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::List(l)) => l.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    };
    match op {
        "regex" => (1, 1, strs(value)),
        "contain" | "not_contain" => (1, 0, strs(value)),
        "regex_in" => {
            let n = value.and_then(Value::as_list).map_or(0, <[Value]>::len);
            (n, n, strs(value))
        }
        "contain_in" | "not_contain_in" => {
            let n = value.and_then(Value::as_list).map_or(0, <[Value]>::len);
            (n, 0, strs(value))
        }
        _ => (0, 0, Vec::new()),
    }
}

impl Patterns {
    /// Counts the patterns of a `Query` or `StatisticsQuery` object (its `filter`,
    /// `filter_or`, `keyword`, and the filters of `aggregate` `match`/`unwind` stages) and
    /// refuses too many, or a too long one, before anything is compiled.
    pub(crate) fn prescan(query: &Value, limits: &ParseLimits) -> Result<Patterns, QueryError> {
        let (mut n, mut regexes) = (0usize, 0usize);
        let mut lengths_ok = true;
        let mut conds = |v: Option<&Value>| {
            for c in v.and_then(Value::as_list).unwrap_or_default() {
                let (p, r, texts) = cond_patterns(c);
                n = n.saturating_add(p);
                regexes = regexes.saturating_add(r);
                lengths_ok &= texts
                    .iter()
                    .all(|t| limits.max_pattern_bytes == 0 || t.len() <= limits.max_pattern_bytes);
            }
        };
        conds(query.get("filter"));
        conds(query.get("filter_or"));
        for stage in query
            .get("aggregate")
            .and_then(Value::as_list)
            .unwrap_or_default()
        {
            if let Some(m) = stage.get("match") {
                conds(m.get("filter"));
                conds(m.get("filter_or"));
            }
            if let Some(u) = stage.get("unwind") {
                conds(u.get("filter"));
            }
        }
        let mut pats = Patterns {
            limits: limits.clone(),
            used: 0,
            regex_share: 0,
        };
        if let Some(Value::String(k)) = query.get("keyword") {
            for w in k.split_whitespace() {
                n = n.saturating_add(1);
                pats.check_len(w)?;
            }
        }
        if over(n, limits.max_patterns) {
            return Err(pats.too_many());
        }
        if !lengths_ok {
            return Err(pats.too_long());
        }
        pats.regex_share = (limits.regex_bytes / regexes.max(1)).min(REGEX_MAX_SHARE);
        Ok(pats)
    }

    fn too_many(&self) -> QueryError {
        exceeded(
            "patterns (regex, regex_in, contain*, keyword words)",
            self.limits.max_patterns,
            "query-max-patterns",
        )
    }

    fn too_long(&self) -> QueryError {
        exceeded(
            "bytes of one pattern",
            self.limits.max_pattern_bytes,
            "query-max-pattern-bytes",
        )
    }

    fn check_len(&self, p: &str) -> Result<(), QueryError> {
        if over(p.len(), self.limits.max_pattern_bytes) {
            return Err(self.too_long());
        }
        Ok(())
    }

    /// Takes one pattern (checked again as it compiles).
    pub(crate) fn take(&mut self, p: &str) -> Result<(), QueryError> {
        self.used = self.used.saturating_add(1);
        if over(self.used, self.limits.max_patterns) {
            return Err(self.too_many());
        }
        self.check_len(p)
    }

    /// The program and lazy-DFA size limit of each regex.
    pub(crate) fn regex_share(&self) -> usize {
        self.regex_share
    }

    /// The message of a regex over its share.
    pub(crate) fn regex_too_big(&self) -> QueryError {
        exceeded(
            &format!(
                "compiled regex size ({} bytes for each of this query's regexes)",
                self.regex_share
            ),
            self.limits.regex_bytes,
            "query-regex-bytes",
        )
    }
}

/// Whether a raw query is small enough to parse on a transport thread: at most `max_bytes`
/// (estimated as JSON, stopping as soon as it is over) and no regex to compile.
pub fn parses_inline(query: &Value, max_bytes: usize) -> bool {
    let mut n = 0usize;
    let mut stack: Vec<&Value> = vec![query];
    while let Some(v) = stack.pop() {
        n = n.saturating_add(match v {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => 8,
            Value::String(s) => {
                if s.starts_with("regex") {
                    return false;
                }
                s.len().saturating_add(2)
            }
            // Each element is at least a byte: an over-long list is refused before it is
            // stacked.
            Value::List(l) if l.len() <= max_bytes => {
                stack.extend(l.iter());
                l.len().saturating_add(2)
            }
            Value::Object(m) if m.len() <= max_bytes => {
                for (k, x) in m.iter() {
                    n = n.saturating_add(k.len().saturating_add(4));
                    stack.push(x);
                }
                2
            }
            Value::List(_) | Value::Object(_) => return false,
        });
        if n > max_bytes {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::ManualClock;
    use crate::value;

    #[test]
    fn approx_bytes_is_close_to_json() {
        let v = value!({"a": [1, 2, "xyz"], "bb": {"c": null, "d": true}});
        let json = v.to_json().to_string().len();
        let est = approx_bytes(&v);
        assert!(est >= json / 2 && est <= json * 2, "{est} vs {json}");
    }

    #[test]
    fn approx_bytes_of_a_deep_value_does_not_recurse() {
        let mut v = Value::Null;
        for _ in 0..100_000 {
            v = Value::List(vec![v]);
        }
        assert!(approx_bytes(&v) > 100_000);
        // Dropping a deep value recurses in Drop; unwind it by hand.
        let mut cur = v;
        while let Value::List(mut l) = cur {
            cur = l.pop().unwrap_or(Value::Null);
        }
    }

    #[test]
    fn rows_per_stage_total_and_bytes_are_metered() {
        let b = Budget {
            max_stage_rows: 3,
            max_total_rows: 5,
            max_work_bytes: 100,
            ..Budget::default()
        };
        let m = Meter::new(&b, None);
        for i in 1..=3 {
            m.row(i, 1).unwrap();
        }
        let e = m.row(4, 1).unwrap_err();
        assert!(
            e.message.contains("--query-max-stage-rows"),
            "{}",
            e.message
        );
        let m = Meter::new(&b, None);
        for i in 1..=5 {
            m.row(1, i).unwrap();
        }
        let e = m.value(1).unwrap_err();
        assert!(
            e.message.contains("--query-max-total-rows"),
            "{}",
            e.message
        );
        let m = Meter::new(&b, None);
        let e = m.value(101).unwrap_err();
        assert!(
            e.message.contains("--query-max-work-bytes"),
            "{}",
            e.message
        );
    }

    #[test]
    fn the_deadline_is_read_from_the_clock_every_tick() {
        let clock = ManualClock::new(1_000);
        let b = Budget::default();
        let d = Deadline::new(clock.clone(), 1_000, 50);
        let m = Meter::new(&b, d);
        for _ in 0..TICK * 4 {
            m.tick().unwrap();
        }
        clock.advance_ms(51);
        let e = (0..TICK).try_for_each(|_| m.tick()).unwrap_err();
        assert_eq!(e.code, crate::query::QueryErrorCode::DbQuery);
        assert!(e.message.contains("--query-timeout-ms"), "{}", e.message);
        assert!(Deadline::new(clock, 0, 0).is_none());
    }
}
