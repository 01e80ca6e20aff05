//! A merchant's balance, pure: what a ledger movement, a payout's reserve, release, settle, credit or
//! withdrawal, or the queue's clock does to it.
//!
//! Per currency: `available` (what payouts may take) and `reserved` (what accepted payouts hold).
//! A reserve takes from `available` only if it all fits, so a payout never takes `available` below
//! zero; a payout that does not fit waits in a FIFO queue until funds arrive or its queue time ends.
//! Ledger movements (captures, fees, refunds) change `available` as the ledger's
//! `merchant:<m>:payable` account changes; a refund may take it below zero (the money was owed back),
//! a payout never does.

use crate::domain::ids::PayoutId;
use crate::events::balance::{BalanceCommand, BalanceCommandKind, FundingOutcome};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funds {
    pub available: i64,
    pub reserved: i64,
}

/// A payout waiting for funds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub payout_id: PayoutId,
    pub amount: i64,
    pub currency: String,
    pub until_ms: i64,
}

/// One merchant's balances and queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub funds: BTreeMap<String, Funds>,
    pub queue: VecDeque<Queued>,
    /// Number of the last change: the version of the balance row.
    pub version: i64,
}

/// A decision about a payout, for the payout processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub payout_id: PayoutId,
    pub outcome: FundingOutcome,
    pub amount: i64,
    pub currency: String,
    pub available_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BookError(pub String);

impl Book {
    /// What always holds: nothing reserved below zero, the queue within its bound and its amounts
    /// positive. Checked where a book is changed and where it is read back.
    pub fn check(&self, queue_max: usize) -> Result<(), BookError> {
        if let Some((c, f)) = self.funds.iter().find(|(_, f)| f.reserved < 0) {
            return Err(BookError(format!(
                "{c}: reserved {} below zero",
                f.reserved
            )));
        }
        if self.queue.len() > queue_max {
            return Err(BookError(format!(
                "{} queued, above {queue_max}",
                self.queue.len()
            )));
        }
        match self.queue.iter().find(|q| q.amount <= 0) {
            Some(q) => Err(BookError(format!(
                "queued payout {} of {}",
                q.payout_id, q.amount
            ))),
            None => Ok(()),
        }
    }

    fn funds(&mut self, currency: &str) -> &mut Funds {
        self.funds.entry(currency.to_owned()).or_default()
    }

    fn add(value: i64, delta: i64) -> Result<i64, BookError> {
        value
            .checked_add(delta)
            .ok_or_else(|| BookError("balance overflows".into()))
    }

    /// A ledger movement of the merchant's payable account: `delta` positive for a credit.
    pub fn movement(
        &mut self,
        currency: &str,
        delta: i64,
        now_ms: i64,
    ) -> Result<Vec<Decision>, BookError> {
        let f = self.funds(currency);
        f.available = Self::add(f.available, delta)?;
        self.version += 1;
        self.drain(currency, now_ms)
    }

    /// One command of the payout processor.
    pub fn command(
        &mut self,
        c: &BalanceCommand,
        queue_max: usize,
        now_ms: i64,
    ) -> Result<Vec<Decision>, BookError> {
        if c.amount_minor <= 0 {
            return Err(BookError(format!(
                "{:?} of {} for {}",
                c.kind, c.amount_minor, c.payout_id
            )));
        }
        self.version += 1;
        let cur = c.currency.as_str();
        match c.kind {
            BalanceCommandKind::Reserve => Ok(vec![self.reserve(c, queue_max, now_ms)?]),
            BalanceCommandKind::Release => {
                let f = self.funds(cur);
                f.reserved = Self::add(f.reserved, -c.amount_minor)?;
                f.available = Self::add(f.available, c.amount_minor)?;
                self.drain(cur, now_ms)
            }
            BalanceCommandKind::Settle => {
                let f = self.funds(cur);
                f.reserved = Self::add(f.reserved, -c.amount_minor)?;
                Ok(vec![])
            }
            BalanceCommandKind::Credit => {
                let f = self.funds(cur);
                f.available = Self::add(f.available, c.amount_minor)?;
                self.drain(cur, now_ms)
            }
            BalanceCommandKind::Withdraw => {
                self.queue.retain(|q| q.payout_id != c.payout_id);
                self.drain(cur, now_ms)
            }
        }
    }

    fn reserve(
        &mut self,
        c: &BalanceCommand,
        queue_max: usize,
        now_ms: i64,
    ) -> Result<Decision, BookError> {
        let cur = c.currency.as_str();
        let payout_id = PayoutId::parse(&c.payout_id)
            .map_err(|e| BookError(format!("payout_id '{}': {e}", c.payout_id)))?;
        // Strict FIFO: while anyone waits in this currency, a newcomer waits behind them.
        let waiting = self.queue.iter().any(|q| q.currency == cur);
        let f = self.funds(cur);
        let decide = |outcome, available_after| Decision {
            payout_id: payout_id.clone(),
            outcome,
            amount: c.amount_minor,
            currency: c.currency.clone(),
            available_after,
        };
        if !waiting && f.available >= c.amount_minor {
            f.available = Self::add(f.available, -c.amount_minor)?;
            f.reserved = Self::add(f.reserved, c.amount_minor)?;
            return Ok(decide(FundingOutcome::Reserved, f.available));
        }
        let available = f.available;
        match c.queue_until.map(|t| t.0).filter(|t| *t > now_ms) {
            Some(until_ms) if self.queue.len() < queue_max => {
                self.queue.push_back(Queued {
                    payout_id: payout_id.clone(),
                    amount: c.amount_minor,
                    currency: c.currency.clone(),
                    until_ms,
                });
                Ok(decide(FundingOutcome::Queued, available))
            }
            _ => Ok(decide(FundingOutcome::Refused, available)),
        }
    }

    /// Expires what waited too long, then reserves from the head of `currency`'s line while it fits.
    pub fn drain(&mut self, currency: &str, now_ms: i64) -> Result<Vec<Decision>, BookError> {
        let mut out = self.expire(now_ms);
        while let Some(pos) = self.queue.iter().position(|q| q.currency == currency) {
            let head = &self.queue[pos];
            let f = self.funds.get(currency).cloned().unwrap_or_default();
            if f.available < head.amount {
                break;
            }
            let Some(q) = self.queue.remove(pos) else {
                break;
            };
            let f = self.funds(currency);
            f.available = Self::add(f.available, -q.amount)?;
            f.reserved = Self::add(f.reserved, q.amount)?;
            out.push(Decision {
                payout_id: q.payout_id,
                outcome: FundingOutcome::Reserved,
                amount: q.amount,
                currency: q.currency,
                available_after: f.available,
            });
        }
        Ok(out)
    }

    /// Every queued payout whose time has come leaves the queue, expired.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Decision> {
        let (gone, kept): (VecDeque<Queued>, VecDeque<Queued>) =
            self.queue.drain(..).partition(|q| q.until_ms <= now_ms);
        self.queue = kept;
        gone.into_iter()
            .map(|q| {
                let available_after = self.funds.get(&q.currency).map_or(0, |f| f.available);
                Decision {
                    payout_id: q.payout_id,
                    outcome: FundingOutcome::Expired,
                    amount: q.amount,
                    currency: q.currency,
                    available_after,
                }
            })
            .collect()
    }

    /// When the queue next needs the clock.
    pub fn next_expiry(&self) -> Option<i64> {
        self.queue.iter().map(|q| q.until_ms).min()
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
