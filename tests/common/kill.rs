//! Killing a processor of a [`Flow`] with SIGKILL inside an open transaction, proven from its log,
//! and restarting it: the crash tests' tools.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::flow::Flow;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// `paystream process <name>` as a child process of the test, on the flow's topology and keyspace,
/// holding each transaction open for [`STALL_MS`] before its commit (and saying so in its log).
/// `envs`: the test's own settings, as `PAYSTREAM__...` variables (the child reads no test config).
pub fn spawn_process(
    f: &Flow,
    name: &str,
    log: &Path,
    envs: &[(&str, &str)],
) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_paystream"))
        .args(["process", name, "--instance", "0"])
        .env_remove("PAYSTREAM_CONFIG")
        .env("PAYSTREAM__TOPOLOGY__DIR", &f.config.topology.dir)
        .env("PAYSTREAM__DEPLOYMENT__NAME", &f.config.deployment.name)
        .env("PAYSTREAM__SERVICE__OPS_LISTEN", "127.0.0.1:0")
        .env("PAYSTREAM__SERVICE__LOG_FORMAT", "json")
        .env("PAYSTREAM__RUNTIME__BATCH_LINGER_MS", "20")
        .env("PAYSTREAM__RUNTIME__GROUP_MEMBERSHIP", "static")
        .env(
            "PAYSTREAM__RUNTIME__FAULTS__STALL_BEFORE_COMMIT_MS",
            STALL_MS.to_string(),
        )
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// How long the child holds each transaction open before its commit (`runtime.faults`).
pub const STALL_MS: i64 = 800;

/// The oldest an open transaction may be when the test sees it and still be killed: the rest of
/// [`STALL_MS`] is the margin for the kill itself on a loaded machine (CI runs four tests of a
/// binary at once on two cores; a look once took 300 ms). An older one is let commit, and the
/// next one is taken.
const FRESH_MS: i64 = STALL_MS / 2;

/// The child's injected-stall log lines from line `from` on: (opened at, committed at) times in ms.
pub fn stalls(log: &Path, from: usize) -> (Vec<i64>, Vec<i64>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (mut opened, mut committed) = (Vec::new(), Vec::new());
    for line in text.lines().skip(from) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let at = v["at_ms"].as_i64().unwrap_or(0);
        match v["message"].as_str() {
            Some("injected stall: transaction open before commit") => opened.push(at),
            Some("injected stall: transaction committed") => committed.push(at),
            _ => {}
        }
    }
    (opened, committed)
}

/// Waits until the child holds a transaction open (its store writes done, records and offsets sent,
/// not committed) that opened less than [`FRESH_MS`] ago, kills it with SIGKILL, and proves the kill
/// struck inside that window: the open line is the last, uncommitted, and the kill came before the
/// stall could have ended.
pub async fn kill_inside_transaction(child: &mut std::process::Child, log: &Path, from: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut stale = 0;
    loop {
        let (opened, committed) = stalls(log, from);
        let open_at = opened.last().copied().unwrap_or(0);
        let fresh = paystream::domain::clock::now_millis() - open_at < FRESH_MS;
        if opened.len() > committed.len() && fresh {
            super::eos::signal(child, "-KILL");
            let killed_at = paystream::domain::clock::now_millis();
            let _ = child.wait();
            let (after_open, after_commit) = stalls(log, from);
            assert_eq!(
                (after_open.len(), after_commit.len()),
                (opened.len(), committed.len()),
                "nothing logged between the look and the kill"
            );
            assert!(
                killed_at - open_at < STALL_MS,
                "the kill ({killed_at}) struck {} ms after the transaction opened ({open_at}): it may have committed",
                killed_at - open_at
            );
            return;
        }
        if opened.len() > committed.len() {
            stale += 1;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no transaction opened and was seen within {FRESH_MS} ms of opening in 30 s ({stale} looks came too late)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the process started at log line `from` has committed a transaction.
pub async fn wait_progress(log: &Path, from: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stalls(log, from).1.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the restarted processor committed nothing within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn log_lines(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count()
}
