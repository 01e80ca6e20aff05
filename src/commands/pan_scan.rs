//! `paystream pan-scan`: looks for card numbers (PANs) everywhere paystream keeps data — every record
//! of every topic (aborted ones included), every row of every table of every keyspace, and the log
//! files given — and fails if it finds one. A compliance check for operators, and the test suite's
//! last step: a card number must never get past the edge.
//!
//! Findings name the place (topic, partition, offset and field; keyspace, table and column; file and
//! line) and show the number masked (first six, last four), never whole.

use super::CommandError;
use crate::config::Config;
use crate::domain::pan::masked;
use crate::events::texts::holds_card_number;
use crate::events::Catalog;
use crate::store::Store;
use futures::TryStreamExt;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use scylla::value::{CqlValue, Row};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct PanScanArgs {
    /// Topics (`*` matches any text) whose own records may hold card numbers because a test or an
    /// upstream producer wrote them there; what paystream derived from them is still scanned.
    #[arg(long = "allow-topic")]
    pub allow_topics: Vec<String>,
    /// Log files to scan too.
    #[arg(long = "log")]
    pub logs: Vec<PathBuf>,
    /// How long reading the topics may take.
    #[arg(long, default_value_t = 300)]
    pub topics_timeout_s: u64,
}

#[derive(Debug, Default)]
pub struct ScanReport {
    pub records: u64,
    pub rows: u64,
    pub log_lines: u64,
    pub allowed: u64,
    pub findings: Vec<String>,
}

impl ScanReport {
    pub fn render(&self) -> String {
        let mut out = format!(
            "pan-scan: {} records, {} rows, {} log lines read; {} finding(s)",
            self.records,
            self.rows,
            self.log_lines,
            self.findings.len()
        );
        if self.allowed > 0 {
            out.push_str(&format!(
                "; {} record(s) on allowed topics skipped",
                self.allowed
            ));
        }
        for f in self.findings.iter().take(FINDINGS_SHOWN_MAX) {
            out.push_str(&format!("\n  {f}"));
        }
        out
    }
}

/// Findings printed; the count says how many there are in all.
const FINDINGS_SHOWN_MAX: usize = 50;

pub async fn run(config: &Config, args: &PanScanArgs) -> Result<ScanReport, CommandError> {
    let catalog = Catalog::bundled().map_err(CommandError::Schemas)?;
    let mut report = ScanReport::default();
    scan_topics(config, args, &catalog, &mut report)?;
    scan_tables(config, &catalog, &mut report).await?;
    for file in &args.logs {
        scan_log(file, &mut report)?;
    }
    Ok(report)
}

/// `pattern` with `*` as "any text".
fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

fn scan_topics(
    config: &Config,
    args: &PanScanArgs,
    catalog: &Catalog,
    report: &mut ScanReport,
) -> Result<(), CommandError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka.bootstrap_servers)
        .set("group.id", "paystream-pan-scan")
        .set("enable.auto.commit", "false")
        // Aborted records too: a card number in an aborted transaction is still on disk.
        .set("isolation.level", "read_uncommitted")
        .create()?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(None, timeout)?;
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        if t.name().starts_with("__") {
            continue;
        }
        for p in t.partitions() {
            let (low, high) = consumer.fetch_watermarks(t.name(), p.id(), timeout)?;
            if high > low {
                ends.insert((t.name().to_owned(), p.id()), high);
                tpl.add_partition_offset(t.name(), p.id(), Offset::Beginning)?;
            }
        }
    }
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + Duration::from_secs(args.topics_timeout_s);
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(CommandError::Failed(format!(
                "pan-scan: {} partition(s) not read to their end in {} s: raise --topics-timeout-s",
                ends.len(),
                args.topics_timeout_s
            )));
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let at = (m.topic().to_owned(), m.partition());
                if ends.get(&at).is_some_and(|end| m.offset() + 1 >= *end) {
                    ends.remove(&at);
                }
                scan_message(&m, args, catalog, report);
            }
            Some(Err(e)) => return Err(e.into()),
            // Transaction markers take offsets no message shows: ask where each partition stands.
            None => drop_finished(&consumer, &mut ends)?,
        }
    }
    Ok(())
}

fn drop_finished(
    consumer: &BaseConsumer,
    ends: &mut BTreeMap<(String, i32), i64>,
) -> Result<(), CommandError> {
    let positions = consumer.position()?;
    for e in positions.elements() {
        if let Offset::Offset(pos) = e.offset() {
            let at = (e.topic().to_owned(), e.partition());
            if ends.get(&at).is_some_and(|end| pos >= *end) {
                ends.remove(&at);
            }
        }
    }
    Ok(())
}

fn scan_message<M: Message>(m: &M, args: &PanScanArgs, catalog: &Catalog, report: &mut ScanReport) {
    report.records += 1;
    if args.allow_topics.iter().any(|p| matches(p, m.topic())) {
        report.allowed += 1;
        return;
    }
    let place = format!("topic {} [{}] @{}", m.topic(), m.partition(), m.offset());
    if let Some(key) = m.key() {
        if let Some(pan) = find(&String::from_utf8_lossy(key)) {
            report.findings.push(format!("{place} key: {pan}"));
        }
    }
    if let Some(value) = m.payload() {
        if let Some(field) = holds_card_number(catalog, value) {
            report
                .findings
                .push(format!("{place} value, field {field}"));
        }
    }
    if let Some(headers) = m.headers() {
        for h in headers.iter() {
            let text = h.value.map(String::from_utf8_lossy).unwrap_or_default();
            if find(&text).is_some() {
                report.findings.push(format!("{place} header {}", h.key));
            }
        }
    }
}

async fn scan_tables(
    config: &Config,
    catalog: &Catalog,
    report: &mut ScanReport,
) -> Result<(), CommandError> {
    let session = Store::connect(&config.store).await?;
    let q = crate::store::StoreError::query;
    let tables: Vec<(String, String)> = session
        .query_unpaged(
            "SELECT keyspace_name, table_name FROM system_schema.tables",
            (),
        )
        .await
        .map_err(|e| q("list tables")(&e))?
        .into_rows_result()
        .map_err(|e| q("list tables")(&e))?
        .rows::<(String, String)>()
        .map_err(|e| q("list tables")(&e))?
        .filter_map(Result::ok)
        .filter(|(ks, _)| !ks.starts_with("system"))
        .collect();
    for (ks, table) in tables {
        let mut rows = session
            .query_iter(format!("SELECT * FROM {ks}.{table}"), ())
            .await
            .map_err(|e| q("scan table")(&e))?
            .rows_stream::<Row>()
            .map_err(|e| q("scan table")(&e))?;
        while let Some(row) = rows.try_next().await.map_err(|e| q("scan table")(&e))? {
            report.rows += 1;
            for (i, col) in row.columns.iter().enumerate() {
                if let Some(what) = col.as_ref().and_then(|v| in_cql(catalog, v)) {
                    report
                        .findings
                        .push(format!("table {ks}.{table}, column #{i}: {what}"));
                }
            }
        }
    }
    Ok(())
}

fn in_cql(catalog: &Catalog, v: &CqlValue) -> Option<String> {
    match v {
        CqlValue::Text(s) | CqlValue::Ascii(s) => find(s),
        CqlValue::Blob(b) => holds_card_number(catalog, b).map(|f| format!("blob field {f}")),
        CqlValue::List(items) | CqlValue::Set(items) => {
            items.iter().find_map(|i| in_cql(catalog, i))
        }
        CqlValue::Map(pairs) => pairs
            .iter()
            .find_map(|(k, v)| in_cql(catalog, k).or_else(|| in_cql(catalog, v))),
        _ => None,
    }
}

fn scan_log(file: &PathBuf, report: &mut ScanReport) -> Result<(), CommandError> {
    let f = std::fs::File::open(file).map_err(|e| {
        CommandError::Failed(format!("pan-scan: cannot read {}: {e}", file.display()))
    })?;
    for (n, line) in std::io::BufReader::new(f).split(b'\n').enumerate() {
        let line = line?;
        report.log_lines += 1;
        if let Some(pan) = find(&String::from_utf8_lossy(&line)) {
            report
                .findings
                .push(format!("log {}:{}: {pan}", file.display(), n + 1));
        }
    }
    Ok(())
}

/// The first card number in `text`, masked.
fn find(text: &str) -> Option<String> {
    masked(text).map(|m| format!("{m} (masked)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns() {
        assert!(matches(
            "pan-*.payments.commands",
            "pan-1a2b.payments.commands"
        ));
        assert!(!matches(
            "pan-*.payments.commands",
            "pan-1a2b.payments.events"
        ));
        assert!(!matches(
            "pan-*.payments.commands",
            "flow-1.payments.commands"
        ));
        assert!(matches("exact", "exact"));
        assert!(!matches("exact", "exactly"));
        assert!(matches("*", "anything"));
        assert!(matches("a*b*c", "a--b--c"));
    }

    #[test]
    fn a_finding_never_shows_the_whole_number() {
        let shown = find("order 77: card 4242424242424242 exp").unwrap();
        assert!(!shown.contains("4242424242424242"), "{shown}");
        assert_eq!(shown, "424242…4242 (masked)");
        assert_eq!(find("no card here 12345"), None);
    }
}
