//! The binary as an operator meets it: clear errors for bad config, topology and schemas, and the main
//! job serving its ops endpoints and stopping cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn paystream(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paystream"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PAYSTREAM_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn bad_config_file_names_the_file_the_field_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[store]\nflavor = \"cassandra\"\nreplicaton_factor = 3\n",
    )
    .unwrap();
    let out = paystream(
        &["--config", file.to_str().unwrap(), "topology", "check"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(file.to_str().unwrap())
            && err.contains("store.replicaton_factor")
            && err.contains("Fix:"),
        "{err}"
    );
}

#[test]
fn bad_environment_value_names_the_field_and_the_fix() {
    let out = paystream(
        &["topology", "check"],
        &[("PAYSTREAM__DEPLOYMENT__NAME", "Bad-Name")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("deployment.name") && err.contains("Fix:"),
        "{err}"
    );
    // The keyspace has no setting of its own: the deployment names it.
    let out = paystream(
        &["topology", "check"],
        &[("PAYSTREAM__STORE__KEYSPACE", "elsewhere")],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("keyspace") && err.contains("Fix:"), "{err}");
}

#[test]
fn bad_topology_names_the_file_the_entry_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo("topology"), dir.path());
    let topics = dir.path().join("topics.toml");
    let text = std::fs::read_to_string(&topics).unwrap().replacen(
        "dead_letter = \"payments.commands.dlq\"",
        "dead_letter = \"payments.commands.dlx\"",
        1,
    );
    std::fs::write(&topics, text).unwrap();
    let out = paystream(
        &["topology", "check"],
        &[("PAYSTREAM__TOPOLOGY__DIR", dir.path().to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("topics.toml: topic 'payments.commands': dead_letter 'payments.commands.dlx' is not a declared topic. Fix:"), "{err}");
}

#[test]
fn bad_schema_names_the_file_the_field_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo("schemas"), dir.path());
    let f = dir.path().join("provider_request.avsc");
    let text = std::fs::read_to_string(&f).unwrap().replace(
        r#""name": "amount_minor", "type": "long""#,
        r#""name": "amount_minor", "type": "double""#,
    );
    std::fs::write(&f, text).unwrap();
    let out = paystream(
        &["schema", "check", "--dir", dir.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("schemas/provider_request.avsc: field ProviderRequest.amount_minor is money but not a long. Fix:"), "{err}");
}

#[test]
fn breaking_schema_change_is_refused_even_when_frozen() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo("schemas"), dir.path());
    let f = dir.path().join("payout_request.avsc");
    let text = std::fs::read_to_string(&f).unwrap().replace(
        r#"{"name": "requested_at""#,
        r#"{"name": "cost_center", "type": "string", "doc": "Required, no default: breaks old data."},
    {"name": "requested_at""#,
    );
    std::fs::write(&f, &text).unwrap();
    let out = paystream(
        &["schema", "check", "--dir", dir.path().to_str().unwrap()],
        &[],
    );
    assert!(
        stderr(&out)
            .contains("changed since its latest released version released/payout_request/v2.avsc"),
        "{}",
        stderr(&out)
    );
    std::fs::write(dir.path().join("released/payout_request/v3.avsc"), &text).unwrap();
    let out = paystream(
        &["schema", "check", "--dir", dir.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read data written with released/payout_request/v1.avsc"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn repository_schemas_and_topology_check_clean_and_graph_draws() {
    let out = paystream(&["schema", "check"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = paystream(&["topology", "check"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = paystream(&["topology", "graph"], &[]);
    let graph = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && graph.starts_with("flowchart LR")
            && graph.contains("p_ledger -- entries --> t_ledger_entries"),
        "{graph}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends SIGTERM and waits for the exit, failing after `within`.
async fn sigterm_and_wait(
    child: &mut std::process::Child,
    within: Duration,
) -> std::process::ExitStatus {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            started.elapsed() < within,
            "did not stop within {within:?} of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_serves_ops_endpoints_and_stops_on_sigterm() {
    let config = common::config();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let stderr_path = std::env::temp_dir().join(format!("paystream-smoke-{port}.log"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_paystream"))
        .args(["smoke", "--demo-events", "30", "--keep-running"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PAYSTREAM__SERVICE__OPS_LISTEN", &listen)
        .env("PAYSTREAM__DEPLOYMENT__NAME", &config.deployment.name)
        .env("PAYSTREAM__SERVICE__LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let summary = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.contains("result ");
            lines.push(line);
            if done {
                break;
            }
        }
        lines.join("\n")
    });
    let summary = tokio::time::timeout(Duration::from_secs(120), summary)
        .await
        .expect("summary within 120 s")
        .unwrap();
    assert!(
        summary.contains("consumed          30/30") && summary.contains("OK: nothing lost"),
        "summary: {summary}\nstderr: {}",
        std::fs::read_to_string(&stderr_path).unwrap_or_default()
    );

    let http = reqwest::Client::new();
    let base = format!("http://{listen}");
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["components"]["store"], true, "{body}");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"paystream_demo_rows_total{outcome="verified"} 30"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("paystream_demo_end_to_end_seconds_bucket"),
        "{metrics}"
    );

    let status = sigterm_and_wait(&mut child, Duration::from_secs(15)).await;
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "ops server still answering after exit"
    );
    common::drop_keyspace(&config).await;
}

/// `paystream run` itself, as README's main command: the whole pipeline with demo traffic, every
/// payment settled and the ledger balanced, the API and ops endpoints served until SIGTERM, then a
/// clean exit that reports OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_settles_its_traffic_serves_until_sigterm_and_reports_ok() {
    let config = common::config();
    let (ops, bridge, sandbox) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_paystream"))
        .args([
            "run",
            "--payments",
            "40",
            "--rate",
            "40",
            "--mix",
            "no-timeouts",
            "--keep-running",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PAYSTREAM__SERVICE__OPS_LISTEN", format!("127.0.0.1:{ops}"))
        .env("PAYSTREAM__BRIDGE__LISTEN", format!("127.0.0.1:{bridge}"))
        .env("PAYSTREAM__SANDBOX__LISTEN", format!("127.0.0.1:{sandbox}"))
        .env("PAYSTREAM__DEPLOYMENT__NAME", &config.deployment.name)
        .env("PAYSTREAM__SERVICE__LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !out.iter().any(|l: &String| l.contains("still serving")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => out.push(line),
            Err(_) => panic!("no 'still serving' within 180 s:\n{}", out.join("\n")),
        }
    }
    let summary = out.join("\n");
    for expected in [
        "40 settled (0 refused by the API)",
        "never applied     0",
        "result: balanced",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} missing:\n{summary}"
        );
    }

    let http = reqwest::Client::new();
    let ready: serde_json::Value = http
        .get(format!("http://127.0.0.1:{ops}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    let metrics = http
        .get(format!("http://127.0.0.1:{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("paystream_loadgen_payments_total"),
        "{metrics}"
    );
    let api = http
        .get(format!(
            "http://127.0.0.1:{bridge}/v1/payment_intents/pay_none"
        ))
        .bearer_auth(paystream::bridge::config::DEMO_MERCHANT_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404, "the API still answers");

    let status = sigterm_and_wait(&mut child, Duration::from_secs(30)).await;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        out.push(line);
    }
    assert!(
        status.success(),
        "exit after SIGTERM: {status:?}\n{}",
        out.join("\n")
    );
    assert!(
        out.iter().any(|l| l.contains("paystream run: OK")),
        "{}",
        out.join("\n")
    );
    common::drop_keyspace(&config).await;
}

#[test]
fn readme_graph_is_the_current_topology() {
    let out = paystream(&["topology", "graph"], &[]);
    let graph = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let block = readme
        .split("```mermaid\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("mermaid block in README");
    assert_eq!(
        block, graph,
        "README's graph is stale: paste `paystream topology graph` into it"
    );
}
