//! How the local copy stores one key: its timers, then its state, in a small binary layout of its
//! own (the copy is a cache, rebuilt from the changelog, so the layout may change with the version
//! byte).
//!
//! `[version u8][timer count u16]` then per timer `[due_at_ms i64][kind len u16][kind][payload len
//! u32][payload]`, then the state's bytes to the end. Big-endian. The timers come first so the
//! timer index can be maintained without reading the state.

use crate::processors::timers::{Timer, TIMERS_PER_KEY_MAX};
use crate::processors::KeyState;

const VERSION: u8 = 1;

/// Why a stored value cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored value is corrupt: {0}")]
pub struct Corrupt(&'static str);

pub fn encode(state: &[u8], timers: &[Timer]) -> Vec<u8> {
    let timer_bytes: usize = timers
        .iter()
        .map(|t| 14 + t.kind.len() + t.payload.len())
        .sum();
    let mut out = Vec::with_capacity(3 + timer_bytes + state.len());
    out.push(VERSION);
    // Counts and lengths are bounded by `timers::check` far below these widths; saturate anyway.
    out.extend_from_slice(
        &u16::try_from(timers.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    for t in timers {
        out.extend_from_slice(&t.due_at_ms.to_be_bytes());
        out.extend_from_slice(
            &u16::try_from(t.kind.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(t.kind.as_bytes());
        out.extend_from_slice(
            &u32::try_from(t.payload.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&t.payload);
    }
    out.extend_from_slice(state);
    out
}

pub fn decode(bytes: &[u8]) -> Result<KeyState, Corrupt> {
    let mut r = Reader { bytes, at: 0 };
    let timers = r.timers()?;
    Ok(KeyState {
        state: bytes.get(r.at..).unwrap_or_default().to_vec(),
        timers,
    })
}

/// Only the timers' due times and kinds (for the index): no payload or state is copied.
pub fn due_times(bytes: &[u8]) -> Result<Vec<i64>, Corrupt> {
    Ok(Reader { bytes, at: 0 }
        .timers()?
        .into_iter()
        .map(|t| t.due_at_ms)
        .collect())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Corrupt> {
        let end = self.at.checked_add(n).ok_or(Corrupt("length overflows"))?;
        let s = self.bytes.get(self.at..end).ok_or(Corrupt("truncated"))?;
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        self.take(N)?.try_into().map_err(|_| Corrupt("truncated"))
    }

    fn timers(&mut self) -> Result<Vec<Timer>, Corrupt> {
        let [version] = self.array::<1>()?;
        if version != VERSION {
            return Err(Corrupt("unknown version"));
        }
        let n = usize::from(u16::from_be_bytes(self.array()?));
        if n > TIMERS_PER_KEY_MAX {
            return Err(Corrupt("more timers than a key may hold"));
        }
        let mut timers = Vec::with_capacity(n);
        for _ in 0..n {
            let due_at_ms = i64::from_be_bytes(self.array()?);
            let kind_len = usize::from(u16::from_be_bytes(self.array()?));
            let kind = std::str::from_utf8(self.take(kind_len)?)
                .map_err(|_| Corrupt("timer kind is not UTF-8"))?
                .to_owned();
            let payload_len = usize::try_from(u32::from_be_bytes(self.array()?))
                .map_err(|_| Corrupt("payload length"))?;
            let payload = self.take(payload_len)?.to_vec();
            timers.push(Timer {
                kind,
                due_at_ms,
                payload,
            });
        }
        Ok(timers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_cut_short() {
        let cases = [
            (b"{}".to_vec(), vec![]),
            (vec![], vec![Timer::new("a", -5, vec![])]),
            (
                b"{\"n\":1}".to_vec(),
                vec![
                    Timer::new("status_check", 1_700_000_000_000, b"x".to_vec()),
                    Timer::new("expire", i64::MAX, vec![7; 300]),
                ],
            ),
        ];
        for (state, timers) in cases {
            let bytes = encode(&state, &timers);
            let back = decode(&bytes).unwrap();
            assert_eq!(
                (back.state, back.timers.clone()),
                (state.clone(), timers.clone())
            );
            let dues: Vec<i64> = timers.iter().map(|t| t.due_at_ms).collect();
            assert_eq!(due_times(&bytes).unwrap(), dues);
            if !timers.is_empty() {
                // Cut inside the timers: refused, never misread.
                assert!(decode(&bytes[..bytes.len() - state.len() - 1]).is_err());
            }
        }
        assert!(decode(&[]).is_err());
        assert!(decode(&[9, 0, 0]).is_err(), "unknown version");
        assert!(decode(&[1, 0, 200]).is_err(), "too many timers");
    }
}
