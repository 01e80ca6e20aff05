//! The money-out phase of `paystream run`: after the payments load, refunds of captured payments
//! (and one payment per refund scenario), beneficiaries verified in every verification scenario,
//! single payouts in every transfer scenario, and a bulk payout file; each followed over the REST
//! API to a final state, then summarized with counts per state, latency and throughput.

use super::api_client::ApiClient;
use super::payouts::import_text;
use super::smoke::percentile;
use super::CommandError;
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct MoneyOutArgs {
    /// Refunds of captured payments (each refunds part of one payment).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub refunds: u32,
    /// Single payouts, spread over the demo beneficiaries.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub payouts: u32,
    /// Refunds and payouts followed at once.
    #[arg(long, default_value_t = 64)]
    pub money_out_concurrency: usize,
}

const FOLLOW_LIMIT_S: u64 = 60;
const POLL_MS: u64 = 100;

/// Where one refund, verification or payout ended, and how long it took.
#[derive(Debug, Clone)]
struct Ended {
    status: String,
    reason: Option<String>,
    latency_ms: u64,
}

#[derive(Debug, Default)]
pub struct MoneyOutSummary {
    lines: Vec<String>,
    /// Refunds or payouts that never reached a final state.
    pub unsettled: usize,
}

impl MoneyOutSummary {
    pub fn render(&self) -> String {
        self.lines.join("\n")
    }
}

/// Polls `path` until its `status` is one of `finals`.
async fn follow(c: &ApiClient, path: &str, finals: &[&str], started: Instant) -> Ended {
    let limit = Duration::from_secs(FOLLOW_LIMIT_S);
    loop {
        let v = c.get(path).await.unwrap_or(Value::Null);
        let status = v["status"].as_str().unwrap_or("").to_owned();
        let done = finals.contains(&status.as_str());
        if done || started.elapsed() > limit {
            return Ended {
                status: if done {
                    status
                } else {
                    format!("unsettled({status})")
                },
                reason: v["reason_code"].as_str().map(str::to_owned),
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

fn line(what: &str, ended: &[Ended], elapsed: Duration) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in ended {
        let key = match &e.reason {
            Some(r) if e.status != "succeeded" && e.status != "processed" => {
                format!("{}/{r}", e.status)
            }
            _ => e.status.clone(),
        };
        *counts.entry(key).or_default() += 1;
    }
    let mut lat: Vec<u64> = ended.iter().map(|e| e.latency_ms).collect();
    lat.sort_unstable();
    let elapsed_ms = u64::try_from(elapsed.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let count = u64::try_from(ended.len()).unwrap_or(u64::MAX);
    let tenths_per_s = count.saturating_mul(10_000) / elapsed_ms;
    format!(
        "paystream run: {what}: {} in {elapsed_ms} ms ({}.{}/s): {}; request to final p50 {} ms, p99 {} ms",
        ended.len(),
        tenths_per_s / 10,
        tenths_per_s % 10,
        counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        percentile(&lat, 50),
        percentile(&lat, 99)
    )
}

async fn posted(
    c: &ApiClient,
    path: &str,
    idem: &str,
    body: &Value,
) -> Result<String, CommandError> {
    match c.post(path, idem, body).await {
        Ok((202, v)) => Ok(v["id"].as_str().unwrap_or("").to_owned()),
        Ok((status, v)) => Err(CommandError::Failed(format!("{path}: HTTP {status}: {v}"))),
        Err(e) => Err(CommandError::Failed(format!("{path}: {e}"))),
    }
}

/// Runs the phase against the bridge at `c`, refunding some of `succeeded` (payment ids).
pub async fn run(
    c: &ApiClient,
    run_id: &str,
    succeeded: &[String],
    args: &MoneyOutArgs,
) -> Result<MoneyOutSummary, CommandError> {
    let mut summary = MoneyOutSummary::default();
    let refunds = refunds(c, run_id, succeeded, args).await?;
    summary.lines.push(refunds.0);
    summary.unsettled += refunds.1;
    let (verified, line) = beneficiaries(c, run_id).await?;
    summary.lines.push(line);
    let payouts = payouts(c, run_id, &verified, args).await?;
    summary.lines.push(payouts.0);
    summary.unsettled += payouts.1;
    let balance = c.get("/v1/balance").await.unwrap_or(Value::Null);
    summary.lines.push(format!(
        "paystream run: balance after money out: {}",
        balance["data"]
    ));
    Ok(summary)
}

const REFUND_FINAL: [&str; 4] = ["succeeded", "failed", "rejected", "canceled"];
const PAYOUT_FINAL: [&str; 5] = ["processed", "failed", "reversed", "rejected", "canceled"];

async fn refunds(
    c: &ApiClient,
    run_id: &str,
    succeeded: &[String],
    args: &MoneyOutArgs,
) -> Result<(String, usize), CommandError> {
    // One payment per refund scenario, besides the load's own payments.
    let mut targets: Vec<String> = succeeded
        .iter()
        .take(usize::try_from(args.refunds).unwrap_or(0))
        .cloned()
        .collect();
    for token in [
        "tok_refund_pending",
        "tok_refund_fail",
        "tok_refund_timeout",
    ] {
        let body = json!({"amount": 20_000, "currency": "INR", "confirm": true,
            "payment_method": {"type": "card", "card_token": token, "card_issuer_country": "IN"}});
        let id = posted(
            c,
            "/v1/payment_intents",
            &format!("{run_id}_{token}"),
            &body,
        )
        .await?;
        follow(
            c,
            &format!("/v1/payment_intents/{id}"),
            &["succeeded", "failed"],
            Instant::now(),
        )
        .await;
        targets.push(id);
    }
    let started = Instant::now();
    let ended: Vec<Ended> = futures::stream::iter(targets.into_iter().enumerate())
        .map(|(i, p)| async move {
            let t0 = Instant::now();
            let body =
                json!({"payment_intent": p, "amount": 10_000, "reason": "requested_by_customer"});
            match posted(c, "/v1/refunds", &format!("{run_id}_refund_{i}"), &body).await {
                Ok(id) => follow(c, &format!("/v1/refunds/{id}"), &REFUND_FINAL, t0).await,
                Err(e) => Ended {
                    status: "refused".into(),
                    reason: Some(e.to_string()),
                    latency_ms: 0,
                },
            }
        })
        .buffer_unordered(args.money_out_concurrency.max(1))
        .collect()
        .await;
    let unsettled = ended
        .iter()
        .filter(|e| e.status.starts_with("unsettled"))
        .count();
    Ok((line("refunds", &ended, started.elapsed()), unsettled))
}

/// The demo beneficiaries: (name, account, what the sandbox does with them).
fn demo_beneficiaries() -> Vec<(&'static str, Value)> {
    let bank = |n: &str| json!({"bank_account": {"account_number": n, "ifsc": "HDFC0001234"}});
    vec![
        ("Asha Rao", bank("501000123401")),
        ("Asha Rao", json!({"vpa": "asha.rao@okbank"})),
        ("Closed Later", bank("501000222201")),
        ("Bank Down", bank("501000444401")),
        ("Slow Bank", bank("501000555501")),
        ("Reversed", bank("501000666601")),
        ("Bad Account", bank("501000999901")),
        ("Mismatch Name", bank("501000123402")),
        ("Nobody", json!({"vpa": "notfound@okbank"})),
    ]
}

/// Creates and verifies the demo beneficiaries; returns (id, is a VPA) of every one, and the line.
async fn beneficiaries(
    c: &ApiClient,
    run_id: &str,
) -> Result<(Vec<(String, bool)>, String), CommandError> {
    let started = Instant::now();
    let mut ids = Vec::new();
    let mut ended = Vec::new();
    for (i, (name, account)) in demo_beneficiaries().into_iter().enumerate() {
        let mut body = json!({"name": name});
        if let (Some(b), Some(a)) = (body.as_object_mut(), account.as_object()) {
            b.extend(a.clone());
        }
        let id = posted(c, "/v1/beneficiaries", &format!("{run_id}_ben_{i}"), &body).await?;
        let t0 = Instant::now();
        let path = format!("/v1/beneficiaries/{id}");
        // A new beneficiary is readable once applied; verify it then.
        while c.get(&path).await.map_or(true, |v| v["id"] != id.as_str())
            && t0.elapsed() < Duration::from_secs(FOLLOW_LIMIT_S)
        {
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        }
        posted(
            c,
            &format!("{path}/verify"),
            &format!("{run_id}_ver_{i}"),
            &json!({}),
        )
        .await?;
        let v = loop {
            let v = c.get(&path).await.unwrap_or(Value::Null);
            if (v["verification"]["status"].is_string() && v["verifying"] == false)
                || t0.elapsed() > Duration::from_secs(FOLLOW_LIMIT_S)
            {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
        };
        ended.push(Ended {
            status: v["verification"]["status"]
                .as_str()
                .unwrap_or("unsettled")
                .to_owned(),
            reason: v["verification"]["reason_code"].as_str().map(str::to_owned),
            latency_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        ids.push((id, account.get("vpa").is_some()));
    }
    Ok((
        ids,
        line("beneficiary verifications", &ended, started.elapsed()),
    ))
}

async fn payouts(
    c: &ApiClient,
    run_id: &str,
    beneficiaries: &[(String, bool)],
    args: &MoneyOutArgs,
) -> Result<(String, usize), CommandError> {
    let started = Instant::now();
    let n = usize::try_from(args.payouts).unwrap_or(0);
    let singles = (0..n).map(|i| {
        let (ben, vpa) = beneficiaries[i % beneficiaries.len().max(1)].clone();
        let body = json!({"beneficiary_id": ben, "amount": 2_000, "currency": "INR",
            "mode": if vpa { "UPI" } else { "IMPS" }, "purpose": "vendor", "narration": format!("Demo {i}")});
        (format!("{run_id}_payout_{i}"), body)
    });
    // Sent at once, bounded: the phase measures the pipeline, not one request after another.
    let sent: Vec<Result<(String, Instant), CommandError>> = futures::stream::iter(singles)
        .map(|(idem, body)| async move {
            let t0 = Instant::now();
            posted(c, "/v1/payouts", &idem, &body)
                .await
                .map(|id| (id, t0))
        })
        .buffer_unordered(args.money_out_concurrency.max(1))
        .collect()
        .await;
    let mut ids = sent.into_iter().collect::<Result<Vec<_>, _>>()?;
    // A bulk file: a salary run with one bad row.
    let mut csv = String::from("beneficiary_id,amount,currency,mode,purpose,reference,narration\n");
    for i in 0..10 {
        let (ben, vpa) = &beneficiaries[i % 2];
        let amount = if i == 7 {
            "twelve".to_owned()
        } else {
            (1_500 + i * 10).to_string()
        };
        csv.push_str(&format!(
            "{ben},{amount},INR,{},salary,{run_id}-{i},Salary\n",
            if *vpa { "UPI" } else { "NEFT" }
        ));
    }
    let report = import_text(c, &csv).await?;
    let imported = Instant::now();
    ids.extend(report.accepted.iter().map(|(_, id)| (id.clone(), imported)));
    let ended: Vec<Ended> =
        futures::stream::iter(ids)
            .map(|(id, t0)| async move {
                follow(c, &format!("/v1/payouts/{id}"), &PAYOUT_FINAL, t0).await
            })
            .buffer_unordered(args.money_out_concurrency.max(1))
            .collect()
            .await;
    let unsettled = ended
        .iter()
        .filter(|e| e.status.starts_with("unsettled"))
        .count();
    let mut text = line(
        "payouts (single and a bulk file)",
        &ended,
        started.elapsed(),
    );
    text.push_str(&format!("\n{}", report.render()));
    Ok((text, unsettled))
}
