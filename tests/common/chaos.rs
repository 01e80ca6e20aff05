//! Killing a component of the real stack (`kill -9`) while merchants create and confirm payments,
//! and starting it again with `scripts/stack up`: the pieces the broker and database kill tests share.
#![allow(dead_code)]

use super::flow::{assert_trail, Flow, KEY};
use paystream::bridge::idempotency::payment_id;
use paystream::domain::ids::MerchantId;
use paystream::events::payment_event::PaymentEvent;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A stack component: its pid file under `.stack/run` and the ports it listens on.
pub struct Component {
    pub name: &'static str,
    pub ports: &'static [&'static str],
}

pub const BROKER: Component = Component {
    name: "kafka",
    ports: &["127.0.0.1:9092", "127.0.0.1:9093"],
};

pub const DATABASE: Component = Component {
    name: "cassandra",
    ports: &["127.0.0.1:9042", "127.0.0.1:7000"],
};

/// `kill -9`, then waits until the process is gone (or a zombie) and its listeners are closed.
pub fn kill(c: &Component) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pid = std::fs::read_to_string(root.join(format!(".stack/run/{}.pid", c.name)))
        .unwrap_or_else(|e| panic!("{} pid file: {e}", c.name));
    let status = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 {pid}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let dead = stat
            .split_whitespace()
            .nth(2)
            .is_none_or(|state| state == "Z");
        let listening = c.ports.iter().any(|a| {
            std::net::TcpStream::connect_timeout(&a.parse().unwrap(), Duration::from_millis(200))
                .is_ok()
        });
        if dead && !listening {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} {pid} still alive after kill -9",
            c.name
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// After `after`, kills `c` and starts it again; the task's value is how long it was down.
pub fn kill_and_restart(
    c: &'static Component,
    after: Duration,
) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        kill(c);
        let killed = Instant::now();
        tokio::task::spawn_blocking(start_stack).await.unwrap();
        killed.elapsed()
    })
}

/// `scripts/stack up`: starts what is not running and waits until it answers.
pub fn start_stack() {
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
pub async fn request(f: &Flow, key: &str, i: usize) -> (u16, String) {
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

/// What the first round of requests got, by request index.
pub type Answers = BTreeMap<usize, (u16, String)>;

/// `workers` clients send one create-and-confirm per key, `pause_ms` apart each, while `chaos`
/// runs beside them; returns every first answer and what `chaos` returned.
pub async fn load_during<T: Send + 'static>(
    f: &Arc<Flow>,
    keys: &[String],
    workers: usize,
    pause_ms: u64,
    chaos: tokio::task::JoinHandle<T>,
) -> (Answers, T) {
    let next = Arc::new(Mutex::new(0usize));
    let first: Arc<Mutex<Answers>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (f, next, first, keys) = (f.clone(), next.clone(), first.clone(), keys.to_vec());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = {
                    let mut n = next.lock().await;
                    let i = *n;
                    *n += 1;
                    i
                };
                if i >= keys.len() {
                    return;
                }
                let answer = request(&f, &keys[i], i).await;
                first.lock().await.insert(i, answer);
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let chaos = chaos.await.unwrap();
    let first = first.lock().await.clone();
    (first, chaos)
}

/// Retries every request whose first answer was not 202 with its key, as a client following
/// Retry-After would, until it is accepted.
pub async fn retry_refused(f: &Flow, keys: &[String], first: &Answers) {
    for (i, _) in first.iter().filter(|(_, (s, _))| *s != 202) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (s, c) = request(f, &keys[*i], *i).await;
            if s == 202 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "key {} never accepted: {s} {c}",
                keys[*i]
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// Exactly one payment per key, each succeeded, each trail 1..n with no duplicate.
pub async fn assert_one_succeeded_payment_per_key(f: &Flow, keys: &[String]) {
    let merchant = MerchantId::parse("m_demo").unwrap();
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
}
