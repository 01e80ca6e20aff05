//! Money-out helpers of the end-to-end tests: beneficiaries, payouts and the merchant's balance over
//! the REST API of a [`Flow`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::flow::{self, card, Flow, KEY};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub async fn poll(f: &Flow, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let v = f.get_path(path).await;
        if done(&v) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{path} never reached {what}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub async fn post(f: &Flow, path: &str, body: Value) -> Value {
    let (status, body) = f
        .post(path, Some(KEY), Some(&super::unique("idem")), &body)
        .await;
    assert_eq!(status, 202, "{path}: {body}");
    body
}

/// A beneficiary, created and (if `verify`) verified; returns its id once the verification ended.
pub async fn beneficiary(f: &Flow, name: &str, account: Value, verify: bool) -> String {
    let mut body = json!({"name": name});
    body.as_object_mut()
        .unwrap()
        .extend(account.as_object().unwrap().clone());
    let id = post(f, "/v1/beneficiaries", body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/beneficiaries/{id}");
    poll(f, &path, "created", |v| v["id"] == id.as_str()).await;
    if verify {
        post(f, &format!("{path}/verify"), json!({})).await;
        poll(f, &path, "verified", |v| {
            v["verification"]["status"].is_string() && v["verifying"] == false
        })
        .await;
    }
    id
}

pub fn bank(number: &str) -> Value {
    json!({"bank_account": {"account_number": number, "ifsc": "HDFC0001234"}})
}

pub async fn payout(f: &Flow, ben: &str, amount: i64, mode: &str) -> String {
    let body = json!({"beneficiary_id": ben, "amount": amount, "currency": "INR", "mode": mode, "purpose": "vendor", "narration": "Invoice 42"});
    post(f, "/v1/payouts", body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub const FINAL: [&str; 5] = ["processed", "failed", "reversed", "rejected", "canceled"];

pub async fn settled(f: &Flow, id: &str) -> Value {
    poll(f, &format!("/v1/payouts/{id}"), "a final state", |v| {
        FINAL.contains(&v["status"].as_str().unwrap_or(""))
    })
    .await
}

/// Funds the demo merchant with `n` captured card payments of `amount`; returns the available
/// balance once the balances processor has every capture and fee.
pub async fn fund(f: &Flow, n: usize, amount: i64) -> i64 {
    for _ in 0..n {
        let id = f.create(card("tok_visa"), amount, false).await;
        f.wait_status(&id, "succeeded").await;
    }
    let payable = || async {
        let report = flow::assert_ledger_balanced(&f.config).await;
        -report
            .balances
            .get(&("merchant:m_demo:payable".to_owned(), "INR".to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let started = Instant::now();
    loop {
        let want = payable().await;
        let v = f.get_path("/v1/balance").await;
        let available = v["data"][0]["available"].as_i64().unwrap_or(-1);
        if want > 0 && available == want {
            return available;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "balance {v} never reached the ledger's payable {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ledger balances, nothing is reserved, the balance equals the ledger's payable account and is
/// not negative.
pub async fn assert_books(f: &Flow) -> i64 {
    let report = flow::assert_ledger_balanced(&f.config).await;
    let reserved: i64 = report
        .balances
        .iter()
        .filter(|((a, _), _)| a.ends_with(":reserved"))
        .map(|(_, b)| *b)
        .sum();
    assert_eq!(reserved, 0, "{}", report.render());
    let payable = -report
        .balances
        .get(&("merchant:m_demo:payable".to_owned(), "INR".to_owned()))
        .copied()
        .unwrap_or(0);
    let v = poll(f, "/v1/balance", "the ledger's payable", |v| {
        v["data"][0]["available"].as_i64() == Some(payable)
    })
    .await;
    assert!(payable >= 0, "{v}");
    assert_eq!(v["data"][0]["reserved"], 0, "{v}");
    payable
}
