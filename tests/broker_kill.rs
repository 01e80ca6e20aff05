//! The broker killed (`kill -9`) while merchants create and confirm payments over REST, then started
//! again: every request the bridge could not finish is retried with its Idempotency-Key, and each key
//! ends as exactly one payment, in the state its request asked for, with a trail of 1..n events.
//!
//! Alone in its test binary: it stops the shared broker, so nothing else may run beside it (cargo runs
//! test binaries one after another).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow::*;
use paystream::bridge::idempotency::payment_id;
use paystream::events::payment_event::PaymentEvent;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const PAYMENTS: usize = 160;
const WORKERS: usize = 4;
const PAUSE_MS: u64 = 150;

fn kill_broker() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pid = std::fs::read_to_string(root.join(".stack/run/kafka.pid")).expect("kafka pid file");
    let status = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 {pid}");
    // Gone, or a zombie waiting to be reaped, and its listeners closed (its threads may still be
    // exiting a moment after the main one): no longer the broker.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let dead = stat
            .split_whitespace()
            .nth(2)
            .is_none_or(|state| state == "Z");
        let listening = ["127.0.0.1:9092", "127.0.0.1:9093"].iter().any(|a| {
            std::net::TcpStream::connect_timeout(&a.parse().unwrap(), Duration::from_millis(200))
                .is_ok()
        });
        if dead && !listening {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "broker {pid} still alive after kill -9"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_broker() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(root.join("scripts/stack"))
        .arg("up")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/stack up: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One create-and-confirm under `key`: the status and the error code, if any.
async fn request(f: &Flow, key: &str, i: usize) -> (u16, String) {
    let body = json!({"amount": 1_000 + i64::try_from(i).unwrap(), "currency": "INR", "confirm": true,
        "payment_method": {"type": "upi", "vpa": format!("success.{i}@upi")}});
    let sent = f
        .http
        .post(format!("{}/v1/payment_intents", f.base))
        .bearer_auth(KEY)
        .header("Idempotency-Key", key)
        .timeout(Duration::from_secs(20))
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
        }
        Err(e) => (0, format!("transport: {e}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_killed_during_requests_each_key_is_exactly_one_payment() {
    let f = Arc::new(
        start_configured(0, None, |c| {
            c.bridge.produce_timeout_ms = 2_000;
            c.runtime.batch_failures_max = 1_000;
        })
        .await,
    );
    let run = common::unique("bk");
    let keys: Vec<String> = (0..PAYMENTS).map(|i| format!("{run}-{i}")).collect();
    let next = Arc::new(Mutex::new(0usize));
    let first: Arc<Mutex<BTreeMap<usize, (u16, String)>>> = Arc::default();

    // The broker dies a second in and comes back as soon as the stack script can start it.
    let chaos = tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        kill_broker();
        let killed = Instant::now();
        tokio::task::spawn_blocking(start_broker).await.unwrap();
        killed.elapsed()
    });
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (f, next, first, keys) = (f.clone(), next.clone(), first.clone(), keys.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut n = next.lock().await;
                    let i = *n;
                    *n += 1;
                    i
                };
                if i >= PAYMENTS {
                    return;
                }
                let answer = request(&f, &keys[i], i).await;
                first.lock().await.insert(i, answer);
                tokio::time::sleep(Duration::from_millis(PAUSE_MS)).await;
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let down_for = chaos.await.unwrap();
    let first = first.lock().await.clone();
    let refused: Vec<usize> = first
        .iter()
        .filter(|(_, (s, _))| *s != 202)
        .map(|(i, _)| *i)
        .collect();
    let unknown = first
        .values()
        .filter(|(s, c)| *s == 503 && c == "outcome_unknown")
        .count();
    println!("broker down {down_for:?}; {} of {PAYMENTS} first requests refused ({unknown} outcome_unknown)", refused.len());
    assert!(
        unknown > 0,
        "the kill landed while requests were publishing: {first:?}"
    );
    assert!(
        refused.len() < PAYMENTS,
        "requests before the kill succeeded"
    );

    // Retry every refused request with its key, as a client following Retry-After would.
    for i in refused {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (s, c) = request(&f, &keys[i], i).await;
            if s == 202 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "key {} never accepted: {s} {c}",
                keys[i]
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    // Exactly one payment per key, each succeeded, each trail 1..n with no duplicate.
    let merchant = paystream::domain::ids::MerchantId::parse("m_demo").unwrap();
    let expected: BTreeSet<String> = keys
        .iter()
        .map(|k| payment_id(&merchant, Some(k)).unwrap().to_string())
        .collect();
    for id in &expected {
        f.wait_status(id, "succeeded").await;
    }
    let events: Vec<PaymentEvent> = f.read("payments.events", expected.len() * 4).await;
    let trails = assert_trail(&events);
    let seen: BTreeSet<String> = trails.keys().cloned().collect();
    assert_eq!(seen, expected, "one payment per key, and no other");
    for (id, es) in &trails {
        let creates = es.iter().filter(|e| e.sequence == 1).count();
        assert_eq!(creates, 1, "{id} was created once");
        assert_eq!(
            es.last().map(|e| paystream::events::symbol(&e.status)),
            Some("SUCCEEDED".to_owned()),
            "{id}"
        );
    }
    let f = Arc::try_unwrap(f).ok().expect("workers are done");
    f.stop().await;
}
