//! `paystream verify`: the end-to-end audit a chaos run ends with. Once the pipeline has drained, it
//! reads every committed payment command and event from the beginning and checks, for every payment
//! a merchant created:
//! - it has events, with sequences exactly 1..n in topic order and no event id twice;
//! - its last state is final (succeeded, failed, canceled, expired), or pending with a reason;
//!
//! and that the ledger balances and every merchant's balance equals its ledger accounts. Exit status 1
//! on any failure.

use super::drain::wait_drained;
use super::process::topology_from;
use super::CommandError;
use crate::config::Config;
use crate::events::payment_command::PaymentCommandKind;
use crate::events::payment_event::IntentStatus;
use crate::events::{Catalog, Codec, Event, PaymentCommand, PaymentEvent};
use crate::runtime::kafka;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

const CALL_TIMEOUT_MS: u64 = 10_000;
/// Failures listed by name in the report; the rest are counted.
const EXAMPLES_MAX: usize = 10;

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// How long to wait for the processors to drain their inputs first.
    #[arg(long, default_value_t = 600)]
    pub drain_timeout_s: u64,
    /// How long reading each topic to its end may take.
    #[arg(long, default_value_t = 600)]
    pub read_timeout_s: u64,
}

/// What one payment's events showed.
#[derive(Debug, Default)]
struct Trail {
    sequences: Vec<i64>,
    last: Option<(IntentStatus, Option<String>)>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub created: usize,
    pub events: usize,
    pub final_by_status: BTreeMap<String, usize>,
    pub pending_by_reason: BTreeMap<String, usize>,
    pub without_events: Vec<String>,
    pub broken_sequence: Vec<String>,
    pub duplicate_events: Vec<String>,
    pub unsettled: Vec<String>,
    pub ledger: String,
    pub ledger_balanced: bool,
    /// Every merchant's balance against the ledger, rendered; and whether they all agree.
    pub balances: String,
    pub balances_match: bool,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.created > 0
            && self.without_events.is_empty()
            && self.broken_sequence.is_empty()
            && self.duplicate_events.is_empty()
            && self.unsettled.is_empty()
            && self.ledger_balanced
            && self.balances_match
    }

    pub fn render(&self) -> String {
        let list = |v: &Vec<String>| {
            let shown: Vec<&str> = v.iter().take(EXAMPLES_MAX).map(String::as_str).collect();
            format!("{} {:?}", v.len(), shown)
        };
        format!(
            "paystream verify\n\
             \x20 payments created   {}\n\
             \x20 events             {}\n\
             \x20 final              {:?}\n\
             \x20 pending (reason)   {:?}\n\
             \x20 without events     {}\n\
             \x20 sequence not 1..n  {}\n\
             \x20 duplicate events   {}\n\
             \x20 not settled        {}\n\
             \x20 ledger             {}\n\
             \x20 balances           {}\n\
             \x20 result             {}",
            self.created,
            self.events,
            self.final_by_status,
            self.pending_by_reason,
            list(&self.without_events),
            list(&self.broken_sequence),
            list(&self.duplicate_events),
            list(&self.unsettled),
            self.ledger,
            self.balances,
            if self.is_ok() {
                "OK: every payment settled or pending with a reason, events 1..n, ledger balanced, every balance equals its ledger"
            } else {
                "FAILED"
            }
        )
    }
}

pub async fn run(config: &Config, args: &VerifyArgs) -> Result<Report, CommandError> {
    let processors = [
        "payments",
        "fraud",
        "connector",
        "ledger",
        "views",
        "beneficiaries",
        "payouts",
        "balances",
    ];
    wait_drained(
        config,
        &processors,
        Duration::from_secs(args.drain_timeout_s),
    )
    .await?;
    let topology = topology_from(&config.topology.dir, &config.deployment)?;
    let payments = topology
        .processor("payments")
        .ok_or_else(|| CommandError::Failed("no payments processor in the topology".into()))?;
    let commands_topic = payments
        .inputs
        .iter()
        .find(|t| {
            topology
                .topic(t)
                .is_some_and(|s| s.value_schema == PaymentCommand::FULL_NAME)
        })
        .cloned()
        .ok_or_else(|| CommandError::Failed("payments reads no command topic".into()))?;
    let events_topic = payments
        .outputs
        .get("events")
        .cloned()
        .ok_or_else(|| CommandError::Failed("payments has no events output".into()))?;
    let catalog = Catalog::bundled().map_err(CommandError::Schemas)?;
    let codec = std::sync::Arc::new(Codec::single_object(catalog));
    let limit = Duration::from_secs(args.read_timeout_s);
    let (kafka_config, codec2) = (config.kafka.clone(), codec.clone());
    let created = tokio::task::spawn_blocking(move || {
        created_payments(&kafka_config, &commands_topic, &codec2, limit)
    })
    .await
    .map_err(|e| CommandError::Failed(e.to_string()))??;
    let kafka_config = config.kafka.clone();
    let (trails, events, duplicates) =
        tokio::task::spawn_blocking(move || trails(&kafka_config, &events_topic, &codec, limit))
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))??;
    let mut report = judge(&created, &trails);
    report.events = events;
    report.duplicate_events = duplicates;
    let audited = super::ledger::audit(config).await?;
    let ledger = &audited.ledger;
    report.balances_match = audited.balances.is_ok();
    report.balances = audited.balances.render().replace('\n', "\n    ");
    report.ledger_balanced = ledger.is_balanced();
    report.ledger = format!(
        "{} entries, {} postings, {}",
        ledger.entries,
        ledger.postings,
        if ledger.is_balanced() {
            "balanced"
        } else {
            "NOT BALANCED"
        }
    );
    Ok(report)
}

/// Checks every created payment's trail.
fn judge(created: &BTreeSet<String>, trails: &BTreeMap<String, Trail>) -> Report {
    let mut r = Report {
        created: created.len(),
        ..Report::default()
    };
    for id in created {
        let Some(t) = trails.get(id) else {
            r.without_events.push(id.clone());
            continue;
        };
        let want: Vec<i64> = (1..).take(t.sequences.len()).collect();
        if t.sequences != want {
            r.broken_sequence.push(format!("{id}: {:?}", t.sequences));
        }
        match &t.last {
            Some((status, _)) if crate::processors::payments::state_machine::is_final(*status) => {
                *r.final_by_status
                    .entry(crate::events::symbol(status))
                    .or_default() += 1;
            }
            Some((_, Some(reason))) if !reason.is_empty() => {
                *r.pending_by_reason.entry(reason.clone()).or_default() += 1;
            }
            last => r.unsettled.push(format!("{id}: {last:?}")),
        }
    }
    r
}

/// A read_committed consumer positioned at the beginning of every partition of `topic`.
fn reader(
    kafka_config: &crate::runtime::config::KafkaConfig,
    topic: &str,
) -> Result<(BaseConsumer<kafka::ReadsToEnd>, usize), CommandError> {
    let mut c = kafka::read_committed_consumer(kafka_config, "paystream-verify");
    c.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<kafka::ReadsToEnd> = c.create_with_context(kafka::ReadsToEnd)?;
    let timeout = Duration::from_millis(CALL_TIMEOUT_MS);
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let p = i32::try_from(p).map_err(|e| CommandError::Failed(e.to_string()))?;
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    Ok((consumer, partitions))
}

/// Calls `each` with every committed record of `topic`, in partition order, until every partition
/// reported its end.
fn read_all(
    kafka_config: &crate::runtime::config::KafkaConfig,
    topic: &str,
    limit: Duration,
    mut each: impl FnMut(&[u8]) -> Result<(), CommandError>,
) -> Result<(), CommandError> {
    let (consumer, partitions) = reader(kafka_config, topic)?;
    let mut open: HashSet<i32> = (0..i32::try_from(partitions).unwrap_or(0)).collect();
    let started = Instant::now();
    while !open.is_empty() {
        if started.elapsed() > limit {
            return Err(CommandError::Failed(format!(
                "{topic}: {} partition(s) not read to their end in {} s",
                open.len(),
                limit.as_secs()
            )));
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                if let Some(p) = m.payload() {
                    each(p)?;
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(())
}

fn created_payments(
    kafka_config: &crate::runtime::config::KafkaConfig,
    topic: &str,
    codec: &Codec,
    limit: Duration,
) -> Result<BTreeSet<String>, CommandError> {
    let mut created = BTreeSet::new();
    read_all(kafka_config, topic, limit, |bytes| {
        let c: PaymentCommand = codec.decode_sync(bytes)?;
        if c.kind == PaymentCommandKind::Create {
            created.insert(c.payment_id);
        }
        Ok(())
    })?;
    Ok(created)
}

type Trails = (BTreeMap<String, Trail>, usize, Vec<String>);

fn trails(
    kafka_config: &crate::runtime::config::KafkaConfig,
    topic: &str,
    codec: &Codec,
    limit: Duration,
) -> Result<Trails, CommandError> {
    let mut trails: BTreeMap<String, Trail> = BTreeMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut duplicates = Vec::new();
    let mut events = 0usize;
    read_all(kafka_config, topic, limit, |bytes| {
        let e: PaymentEvent = codec.decode_sync(bytes)?;
        events += 1;
        if !seen.insert(e.event_id.clone()) {
            duplicates.push(e.event_id.clone());
        }
        let t = trails.entry(e.payment_id).or_default();
        t.sequences.push(e.sequence);
        t.last = Some((e.status, e.reason_code));
        Ok(())
    })?;
    Ok((trails, events, duplicates))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(seqs: &[i64], status: IntentStatus, reason: Option<&str>) -> Trail {
        Trail {
            sequences: seqs.to_vec(),
            last: Some((status, reason.map(str::to_owned))),
        }
    }

    #[test]
    fn every_created_payment_must_be_settled_or_pending_with_a_reason_with_events_one_to_n() {
        let created: BTreeSet<String> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let trails = BTreeMap::from([
            (
                "a".to_owned(),
                trail(&[1, 2, 3], IntentStatus::Succeeded, None),
            ),
            (
                "b".to_owned(),
                trail(&[1, 2], IntentStatus::Processing, Some("FRAUD_REVIEW")),
            ),
            (
                "c".to_owned(),
                trail(&[1, 3], IntentStatus::Failed, Some("X")),
            ),
            (
                "d".to_owned(),
                trail(&[1, 2], IntentStatus::Processing, None),
            ),
            ("e".to_owned(), trail(&[2, 1], IntentStatus::Expired, None)),
        ]);
        let r = judge(&created, &trails);
        assert_eq!(r.created, 6);
        assert_eq!(r.without_events, vec!["f".to_owned()]);
        assert_eq!(r.broken_sequence.len(), 2, "{:?}", r.broken_sequence);
        assert_eq!(r.unsettled.len(), 1);
        assert!(r.unsettled[0].starts_with("d:"));
        assert_eq!(r.pending_by_reason["FRAUD_REVIEW"], 1);
        assert_eq!(r.final_by_status["SUCCEEDED"], 1);
        assert!(!r.is_ok());
        let clean = BTreeSet::from(["a".to_owned()]);
        let mut ok = judge(&clean, &trails);
        ok.ledger_balanced = true;
        ok.balances_match = true;
        assert!(ok.is_ok(), "{}", ok.render());
        ok.balances_match = false;
        assert!(
            !ok.is_ok(),
            "a balance that differs from the ledger fails verify"
        );
    }
}
