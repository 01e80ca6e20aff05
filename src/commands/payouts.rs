//! `paystream payouts import FILE.csv`: a bulk payout file through the REST API.
//!
//! The file has a header row and the columns `beneficiary_id, amount, currency, mode, purpose,
//! reference, narration` (amount in minor units; reference and narration may be empty). Every row
//! becomes an item of `POST /v1/payout_batches`, in batches of at most the API's limit. Each batch's
//! Idempotency-Key is derived from the file's content and the batch's place in it, so importing the
//! same file again pays nothing twice. A row the API refuses is reported with its line and reason and
//! never sinks the others.

use super::api_client::ApiClient;
use super::CommandError;
use crate::bridge::config::DEMO_MERCHANT_KEY;
use crate::store::payouts::BATCH_ITEMS_MAX;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The bridge's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    pub bridge_url: String,
    /// The merchant API key (a key with the `write` role).
    #[arg(long, env = "PAYSTREAM_API_KEY", default_value = DEMO_MERCHANT_KEY)]
    pub api_key: String,
}

/// What happened to each row.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub batches: Vec<String>,
    /// (line, payout id)
    pub accepted: Vec<(usize, String)>,
    /// (line, reason)
    pub refused: Vec<(usize, String)>,
}

impl ImportReport {
    pub fn render(&self) -> String {
        let mut out = format!(
            "paystream payouts import: {} row(s) accepted as payouts in {} batch(es), {} refused",
            self.accepted.len(),
            self.batches.len(),
            self.refused.len()
        );
        for b in &self.batches {
            out.push_str(&format!("\n  batch {b}: GET /v1/payout_batches/{b}"));
        }
        for (line, why) in &self.refused {
            out.push_str(&format!("\n  line {line}: refused: {why}"));
        }
        out
    }
}

const COLUMNS: [&str; 7] = [
    "beneficiary_id",
    "amount",
    "currency",
    "mode",
    "purpose",
    "reference",
    "narration",
];

/// The rows of a payout file as API items, with their line numbers; a row that cannot be an item
/// is refused here.
/// Rows as API items with their lines, and rows refused with their lines.
pub type Rows = (Vec<(usize, Value)>, Vec<(usize, String)>);

pub fn items_of(text: &str) -> Result<Rows, CommandError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CommandError::Failed(format!("payout file: {e}")))?
        .clone();
    let header: Vec<&str> = headers.iter().collect();
    if header != COLUMNS {
        return Err(CommandError::Failed(format!(
            "payout file: the header is {header:?}; it must be {}",
            COLUMNS.join(",")
        )));
    }
    let (mut items, mut refused) = (Vec::new(), Vec::new());
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                refused.push((line, e.to_string()));
                continue;
            }
        };
        let field = |n: usize| row.get(n).unwrap_or("").to_owned();
        let Ok(amount) = field(1).parse::<i64>() else {
            refused.push((
                line,
                format!(
                    "amount '{}' is not an integer amount in minor units",
                    field(1)
                ),
            ));
            continue;
        };
        let optional = |n: usize| Some(field(n)).filter(|v| !v.is_empty());
        items.push((
            line,
            json!({
                "beneficiary_id": field(0), "amount": amount, "currency": field(2),
                "mode": field(3), "purpose": field(4),
                "reference": optional(5), "narration": optional(6),
            }),
        ));
    }
    Ok((items, refused))
}

pub async fn import(args: &ImportArgs) -> Result<ImportReport, CommandError> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| CommandError::Failed(format!("{}: {e}", args.file.display())))?;
    let client =
        ApiClient::new(&args.bridge_url, &args.api_key, 60_000).map_err(CommandError::Failed)?;
    import_text(&client, &text).await
}

pub async fn import_text(client: &ApiClient, text: &str) -> Result<ImportReport, CommandError> {
    let (items, refused) = items_of(text)?;
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    let mut report = ImportReport {
        refused,
        ..ImportReport::default()
    };
    for (n, chunk) in items.chunks(BATCH_ITEMS_MAX).enumerate() {
        let body = json!({"items": chunk.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()});
        let key = format!("import_{}_{n}", digest.get(..32).unwrap_or(&digest));
        let (status, answer) = client
            .post("/v1/payout_batches", &key, &body)
            .await
            .map_err(CommandError::Failed)?;
        if status != 202 {
            return Err(CommandError::Failed(format!(
                "batch {n} of the file: HTTP {status}: {answer}"
            )));
        }
        let line_of = |index: &Value| {
            index
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| chunk.get(i))
                .map_or(0, |(l, _)| *l)
        };
        for a in answer["accepted"].as_array().into_iter().flatten() {
            report.accepted.push((
                line_of(&a["index"]),
                a["payout_id"].as_str().unwrap_or("").to_owned(),
            ));
        }
        for r in answer["refused"].as_array().into_iter().flatten() {
            let why = format!(
                "{} ({})",
                r["error"]["message"].as_str().unwrap_or(""),
                r["error"]["field"].as_str().unwrap_or("")
            );
            report.refused.push((line_of(&r["index"]), why));
        }
        report
            .batches
            .push(answer["id"].as_str().unwrap_or("").to_owned());
    }
    report.refused.sort();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_items_and_bad_rows_are_refused_with_their_line() {
        let text = "beneficiary_id,amount,currency,mode,purpose,reference,narration\n\
                    ben_1,1000,INR,IMPS,salary,pay-1,Salary Nov\n\
                    ben_2,ten,INR,NEFT,vendor,,\n\
                    ben_3,2500,INR,UPI,vendor,,\n";
        let (items, refused) = items_of(text).unwrap();
        assert_eq!(
            items.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![2, 4]
        );
        assert_eq!(items[0].1["narration"], "Salary Nov");
        assert!(items[1].1["reference"].is_null());
        assert_eq!(refused[0].0, 3);
        assert!(
            items_of("id,amount\nben_1,1\n").is_err(),
            "a wrong header is refused whole"
        );
    }
}
