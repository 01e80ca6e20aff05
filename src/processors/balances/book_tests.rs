//! Table tests of a merchant's balance.
//!
//! Test code: the parent module declares this file under #[cfg(test)].

use super::*;
use crate::events::TimestampMillis;

fn cmd(
    kind: BalanceCommandKind,
    payout: &str,
    amount: i64,
    queue_until: Option<i64>,
) -> BalanceCommand {
    BalanceCommand {
        command_id: format!("{payout}:{kind:?}"),
        merchant_id: "m_1".into(),
        payout_id: payout.into(),
        kind,
        amount_minor: amount,
        currency: "INR".into(),
        queue_until: queue_until.map(TimestampMillis),
        issued_at: TimestampMillis(0),
    }
}

fn outcomes(d: &[Decision]) -> Vec<(String, FundingOutcome)> {
    d.iter()
        .map(|d| (d.payout_id.as_str().to_owned(), d.outcome))
        .collect()
}

#[test]
fn reserves_never_take_the_balance_below_zero_and_the_queue_is_fifo() {
    use BalanceCommandKind as K;
    use FundingOutcome as O;
    let mut b = Book::default();
    b.movement("INR", 1_000, 0).unwrap();
    type Steps<'a> = Vec<(BalanceCommand, Vec<(&'a str, O)>, i64)>;
    let steps: Steps<'_> = vec![
        (
            cmd(K::Reserve, "p1", 600, None),
            vec![("p1", O::Reserved)],
            400,
        ),
        (
            cmd(K::Reserve, "p2", 600, None),
            vec![("p2", O::Refused)],
            400,
        ),
        (
            cmd(K::Reserve, "p3", 500, Some(100)),
            vec![("p3", O::Queued)],
            400,
        ),
        // Fits, but waits behind p3: strict FIFO.
        (
            cmd(K::Reserve, "p4", 100, Some(100)),
            vec![("p4", O::Queued)],
            400,
        ),
        // p1 fails at the bank: its reserve comes back and the line moves.
        (
            cmd(K::Release, "p1", 600, None),
            vec![("p3", O::Reserved), ("p4", O::Reserved)],
            400,
        ),
        (cmd(K::Settle, "p3", 500, None), vec![], 400),
        (cmd(K::Credit, "p3", 500, None), vec![], 900),
    ];
    for (c, want, available) in steps {
        let got = b.command(&c, 10, 10).unwrap();
        let want: Vec<(String, O)> = want.into_iter().map(|(p, o)| (p.to_owned(), o)).collect();
        assert_eq!(outcomes(&got), want, "{:?} {}", c.kind, c.payout_id);
        assert_eq!(
            b.funds["INR"].available, available,
            "{:?} {}",
            c.kind, c.payout_id
        );
        b.check(10).unwrap();
    }
    assert_eq!(b.funds["INR"].reserved, 100, "p4 still reserved");
}

#[test]
fn queued_payouts_expire_are_withdrawn_or_wait_for_credits() {
    use BalanceCommandKind as K;
    use FundingOutcome as O;
    let mut b = Book::default();
    b.command(&cmd(K::Reserve, "a", 300, Some(1_000)), 2, 0)
        .unwrap();
    b.command(&cmd(K::Reserve, "b", 300, Some(5_000)), 2, 0)
        .unwrap();
    b.command(&cmd(K::Reserve, "c", 300, Some(5_000)), 2, 0)
        .unwrap();
    assert_eq!(b.queue.len(), 2, "the queue is bounded: c was refused");
    assert_eq!(b.next_expiry(), Some(1_000));
    assert_eq!(outcomes(&b.expire(1_000)), vec![("a".into(), O::Expired)]);
    b.command(&cmd(K::Withdraw, "b", 300, None), 2, 1_000)
        .unwrap();
    assert!(b.queue.is_empty());
    b.command(&cmd(K::Reserve, "d", 300, Some(5_000)), 2, 1_000)
        .unwrap();
    let credited = b.movement("INR", 250, 1_500).unwrap();
    assert!(credited.is_empty(), "250 does not fit 300");
    let credited = b.movement("INR", 50, 1_600).unwrap();
    assert_eq!(outcomes(&credited), vec![("d".into(), O::Reserved)]);
    assert_eq!(
        (b.funds["INR"].available, b.funds["INR"].reserved),
        (0, 300)
    );
}

#[test]
fn a_release_of_what_was_not_reserved_breaks_the_book() {
    let mut b = Book::default();
    b.command(&cmd(BalanceCommandKind::Release, "x", 10, None), 4, 0)
        .unwrap();
    assert!(b.check(4).unwrap_err().to_string().contains("below zero"));
    assert!(b
        .command(&cmd(BalanceCommandKind::Reserve, "y", 0, None), 4, 0)
        .is_err());
}

proptest::proptest! {
    /// Whatever the order of credits, debits and commands: a reserve never leaves `available`
    /// negative, and reserved plus available moves only by the credits and debits given.
    #[test]
    fn no_sequence_of_commands_overdraws(
        steps in proptest::collection::vec((0usize..7, 1i64..1_000, 0usize..6), 1..80),
    ) {
        let mut b = Book::default();
        let mut reserved: std::collections::BTreeMap<String, i64> = Default::default();
        let mut external = 0i64;
        for (kind, amount, id) in steps {
            let payout = format!("p{id}");
            if kind >= 5 {
                let delta = if kind == 5 { amount } else { -amount / 2 };
                external += delta;
                for d in b.movement("INR", delta, 0).unwrap() {
                    if d.outcome == FundingOutcome::Reserved {
                        proptest::prop_assert!(d.available_after >= 0, "{:?}", d);
                        reserved.insert(d.payout_id.as_str().to_owned(), d.amount);
                    }
                }
                continue;
            }
            // Only what the payout processor would send: release or settle a reserve it holds.
            let c = match kind {
                0 | 1 => cmd(BalanceCommandKind::Reserve, &payout, amount, Some(10)),
                2 | 3 => match reserved.remove(&payout) {
                    Some(r) if kind == 2 => cmd(BalanceCommandKind::Release, &payout, r, None),
                    Some(r) => { external -= r; cmd(BalanceCommandKind::Settle, &payout, r, None) }
                    None => continue,
                },
                _ => cmd(BalanceCommandKind::Withdraw, &payout, amount, None),
            };
            let queued = b.queue.iter().any(|q| q.payout_id == payout);
            if c.kind == BalanceCommandKind::Reserve && (reserved.contains_key(&payout) || queued) {
                continue;
            }
            let before = b.funds.get("INR").map_or(0, |f| f.available);
            for d in b.command(&c, 8, 0).unwrap() {
                if d.outcome == FundingOutcome::Reserved {
                    proptest::prop_assert!(d.available_after >= 0 || before < 0, "{:?}", d);
                    reserved.insert(d.payout_id.as_str().to_owned(), d.amount);
                }
            }
            b.check(8).unwrap();
        }
        let f = b.funds.get("INR").cloned().unwrap_or_default();
        proptest::prop_assert_eq!(f.available + f.reserved, external);
        proptest::prop_assert_eq!(f.reserved, reserved.values().sum::<i64>());
    }
}
