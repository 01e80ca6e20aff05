//! Durable timers: part of a key's state (Flink's and Kafka Streams' design).
//!
//! A stateful processor sets and cancels timers on the key it processes, as effects of a step. The
//! key's timers travel with its state in the changelog record, so they commit or abort with the
//! outputs, and survive crashes and rebalances. When a timer is due, the runtime gives it to the
//! processor's `on_timer`, whose effects commit in the transaction that clears it: it fires once.
//!
//! A key holds at most one timer per kind (setting a kind again moves it) and at most
//! [`TIMERS_PER_KEY_MAX`] in all.

use super::ProcessError;

/// Timers one key may hold at once.
pub const TIMERS_PER_KEY_MAX: usize = 8;
/// The longest kind name, in bytes.
pub const TIMER_KIND_BYTES_MAX: usize = 64;
/// The largest payload a timer may carry, in bytes.
pub const TIMER_PAYLOAD_BYTES_MAX: usize = 16 * 1024;

/// One timer of a key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timer {
    /// What it is for, as the processor names it (one per kind and key).
    pub kind: String,
    /// When it is due, in epoch milliseconds.
    pub due_at_ms: i64,
    /// What the processor stored with it.
    pub payload: Vec<u8>,
}

impl Timer {
    pub fn new(kind: &str, due_at_ms: i64, payload: Vec<u8>) -> Self {
        Self {
            kind: kind.to_owned(),
            due_at_ms,
            payload,
        }
    }
}

/// A change a step makes to its key's timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerOp {
    /// Sets the timer of its kind (replacing one of the same kind).
    Set(Timer),
    /// Cancels the timer of this kind, if any.
    Cancel(String),
}

/// Applies `ops` in order to `timers` (kept in due order); errors if a bound is broken (a bug in
/// the processor, so fatal).
pub fn apply(timers: &mut Vec<Timer>, ops: Vec<TimerOp>, key: &str) -> Result<(), ProcessError> {
    for op in ops {
        match op {
            TimerOp::Set(t) => {
                check(&t, key)?;
                timers.retain(|old| old.kind != t.kind);
                timers.push(t);
            }
            TimerOp::Cancel(kind) => timers.retain(|old| old.kind != kind),
        }
    }
    if timers.len() > TIMERS_PER_KEY_MAX {
        return Err(ProcessError::Fatal(format!(
            "key '{key}' would hold {} timers; at most {TIMERS_PER_KEY_MAX} are allowed",
            timers.len()
        )));
    }
    timers.sort_by(|a, b| (a.due_at_ms, &a.kind).cmp(&(b.due_at_ms, &b.kind)));
    Ok(())
}

/// Checks one timer's bounds.
pub fn check(t: &Timer, key: &str) -> Result<(), ProcessError> {
    if t.kind.is_empty() || t.kind.len() > TIMER_KIND_BYTES_MAX {
        return Err(ProcessError::Fatal(format!(
            "timer kind '{}' of key '{key}' must have 1 to {TIMER_KIND_BYTES_MAX} bytes",
            t.kind
        )));
    }
    if t.payload.len() > TIMER_PAYLOAD_BYTES_MAX {
        return Err(ProcessError::Fatal(format!(
            "timer '{}' of key '{key}' carries {} bytes; at most {TIMER_PAYLOAD_BYTES_MAX}",
            t.kind,
            t.payload.len()
        )));
    }
    Ok(())
}

/// Checks a key's stored timers, read back: within the bounds, one per kind.
pub fn check_all(timers: &[Timer], key: &str) -> Result<(), ProcessError> {
    if timers.len() > TIMERS_PER_KEY_MAX {
        return Err(ProcessError::Fatal(format!(
            "key '{key}' holds {} timers; at most {TIMERS_PER_KEY_MAX}",
            timers.len()
        )));
    }
    for (i, t) in timers.iter().enumerate() {
        check(t, key)?;
        if timers[..i].iter().any(|o| o.kind == t.kind) {
            return Err(ProcessError::Fatal(format!(
                "key '{key}' holds two timers of kind '{}'",
                t.kind
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: &str, due: i64) -> Timer {
        Timer::new(kind, due, vec![])
    }

    #[test]
    fn set_replaces_its_kind_cancel_removes_it_and_order_is_by_due_time() {
        let cases: Vec<(Vec<Timer>, Vec<TimerOp>, Vec<Timer>)> = vec![
            (vec![], vec![TimerOp::Set(t("a", 5))], vec![t("a", 5)]),
            (
                vec![t("a", 5)],
                vec![TimerOp::Set(t("a", 9))],
                vec![t("a", 9)],
            ),
            (
                vec![t("a", 5)],
                vec![TimerOp::Set(t("b", 1))],
                vec![t("b", 1), t("a", 5)],
            ),
            (
                vec![t("a", 5), t("b", 1)],
                vec![TimerOp::Cancel("b".into())],
                vec![t("a", 5)],
            ),
            (
                vec![t("a", 5)],
                vec![TimerOp::Cancel("zz".into())],
                vec![t("a", 5)],
            ),
            (
                vec![],
                vec![TimerOp::Set(t("a", 5)), TimerOp::Cancel("a".into())],
                vec![],
            ),
        ];
        for (before, ops, after) in cases {
            let mut timers = before.clone();
            apply(&mut timers, ops.clone(), "k").unwrap();
            assert_eq!(timers, after, "{before:?} + {ops:?}");
            check_all(&timers, "k").unwrap();
        }
    }

    #[test]
    fn bounds_are_fatal() {
        let mut timers: Vec<Timer> = (0..TIMERS_PER_KEY_MAX)
            .map(|i| t(&format!("k{i}"), 1))
            .collect();
        assert!(apply(&mut timers.clone(), vec![TimerOp::Set(t("k0", 2))], "k").is_ok());
        let err = apply(&mut timers, vec![TimerOp::Set(t("new", 2))], "k").unwrap_err();
        assert!(matches!(err, ProcessError::Fatal(m) if m.contains("at most")));
        let long = "x".repeat(TIMER_KIND_BYTES_MAX + 1);
        assert!(apply(&mut vec![], vec![TimerOp::Set(t(&long, 1))], "k").is_err());
        assert!(apply(&mut vec![], vec![TimerOp::Set(t("", 1))], "k").is_err());
        let heavy = Timer::new("a", 1, vec![0; TIMER_PAYLOAD_BYTES_MAX + 1]);
        assert!(apply(&mut vec![], vec![TimerOp::Set(heavy)], "k").is_err());
        assert!(check_all(&[t("a", 1), t("a", 2)], "k").is_err());
    }
}
