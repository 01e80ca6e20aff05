//! The dataflow as data: topics, processors and the CQL keyspace, read from `topology/`.
//!
//! [`Topology::load`] parses the files, [`Topology::check`] validates every reference against the
//! schema catalog, [`graph::mermaid`] draws it, and [`apply`] creates it on Kafka (the keyspace half is
//! `store::migrate`).

mod check;
pub mod config;
mod migrations;

use migrations::load_migrations;
pub use migrations::split_cql;
pub mod graph;

use crate::domain::deployment::DeploymentConfig;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEAD_LETTER_SCHEMA: &str = "io.paystream.runtime.DeadLetter";
pub const KEYED_STATE_SCHEMA: &str = "io.paystream.runtime.KeyedState";
const TOPIC_NAME_LEN_MAX: usize = 249;
const PARTITIONS_MAX: i32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CleanupPolicy {
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "compact")]
    Compact,
    #[serde(rename = "compact,delete")]
    CompactDelete,
}

impl CleanupPolicy {
    pub fn as_kafka(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    pub doc: String,
    pub partitions: i32,
    /// A top-level field of the value schema whose value is the record key.
    pub key: String,
    /// The id the key holds when the field is named otherwise: a provider answer's `payment_id` holds
    /// the payout or beneficiary id on the topics of those processors. Co-partitioning is checked on
    /// it.
    #[serde(default)]
    pub key_as: Option<String>,
    pub value_schema: String,
    pub cleanup_policy: CleanupPolicy,
    /// -1 keeps records forever.
    pub retention_ms: i64,
    pub dead_letter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorSpec {
    pub name: String,
    pub doc: String,
    pub consumer_group: String,
    pub inputs: Vec<String>,
    /// Output topics by role (`events = "payments.events"`): the processor binds each role by name,
    /// and the runtime refuses to start when the roles differ from those it writes.
    pub outputs: BTreeMap<String, String>,
    /// The compacted topic that holds a stateful processor's keyed state (and timers), written in the
    /// same transaction as its outputs and offsets. Co-partitioned with every input.
    #[serde(default)]
    pub changelog: Option<String>,
}

/// Something outside the processors that writes to topics (the HTTP bridge, upstream systems).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub name: String,
    pub doc: String,
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyspaceSpec {
    pub uses_lwt: bool,
    pub durable_writes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    pub name: String,
    pub file: String,
    pub statements: Vec<String>,
    /// Hex SHA-256 of the file; an applied migration must never change.
    pub checksum: String,
}

/// A deployment's topology: the files' names with the deployment's namespace applied (topics
/// `<prefix><name>`, consumer groups `<deployment>-<consumer_group>`), so everything that reads a
/// name from it gets the deployment's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub dir: PathBuf,
    pub deployment: DeploymentConfig,
    pub topics: Vec<TopicSpec>,
    pub processors: Vec<ProcessorSpec>,
    pub sources: Vec<SourceSpec>,
    pub keyspace: KeyspaceSpec,
    pub migrations: Vec<Migration>,
}

/// A topology problem: the file, the entry, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError {
    pub file: String,
    pub entry: String,
    pub problem: String,
    pub fix: String,
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}. Fix: {}",
            self.file, self.entry, self.problem, self.fix
        )
    }
}

impl std::error::Error for TopologyError {}

fn err(
    file: &str,
    entry: impl Into<String>,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> TopologyError {
    TopologyError {
        file: file.to_owned(),
        entry: entry.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicsFile {
    topic: Vec<TopicSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcessorsFile {
    processor: Vec<ProcessorSpec>,
    #[serde(default)]
    source: Vec<SourceSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyspaceFile {
    keyspace: KeyspaceSpec,
}

fn read_toml<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<T, TopologyError> {
    let path = dir.join(name);
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        err(
            &file,
            "file",
            format!("cannot be read: {e}"),
            "check topology.dir in the config",
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        let entry = match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}")
            }
            None => "file".to_owned(),
        };
        err(
            &file,
            entry,
            e.message().to_owned(),
            "correct the entry; every field is described at the top of the file",
        )
    })
}

impl Topology {
    /// Reads `topics.toml`, `processors.toml`, `keyspace.toml` and `migrations/*.cql` from `dir`,
    /// in `deployment`'s namespace.
    pub fn load(dir: &Path, deployment: &DeploymentConfig) -> Result<Topology, Vec<TopologyError>> {
        Self::load_files(dir).map(|t| t.in_deployment(deployment))
    }

    fn load_files(dir: &Path) -> Result<Topology, Vec<TopologyError>> {
        let topics = read_toml::<TopicsFile>(dir, "topics.toml");
        let processors = read_toml::<ProcessorsFile>(dir, "processors.toml");
        let keyspace = read_toml::<KeyspaceFile>(dir, "keyspace.toml");
        let migrations = load_migrations(&dir.join("migrations"));
        match (topics, processors, keyspace, migrations) {
            (Ok(t), Ok(p), Ok(k), Ok(m)) => Ok(Topology {
                dir: dir.to_owned(),
                deployment: DeploymentConfig::default(),
                topics: t.topic,
                processors: p.processor,
                sources: p.source,
                keyspace: k.keyspace,
                migrations: m,
            }),
            (t, p, k, m) => {
                let mut errors = Vec::new();
                errors.extend(t.err());
                errors.extend(p.err());
                errors.extend(k.err());
                if let Err(mut e) = m {
                    errors.append(&mut e);
                }
                Err(errors)
            }
        }
    }

    /// The files' names moved into `d`'s namespace.
    fn in_deployment(mut self, d: &DeploymentConfig) -> Topology {
        let name = |n: &mut String| *n = d.topic(n);
        for t in &mut self.topics {
            name(&mut t.name);
            t.dead_letter.iter_mut().for_each(name);
        }
        for p in &mut self.processors {
            p.consumer_group = d.group(&p.consumer_group);
            p.inputs.iter_mut().for_each(name);
            p.outputs.values_mut().for_each(name);
            p.changelog.iter_mut().for_each(name);
        }
        for s in &mut self.sources {
            s.outputs.iter_mut().for_each(name);
        }
        self.deployment = d.clone();
        self
    }

    /// The deployment's name of the topic `topics.toml` calls `logical`.
    pub fn topic_name(&self, logical: &str) -> String {
        self.deployment.topic(logical)
    }

    pub fn topic(&self, name: &str) -> Option<&TopicSpec> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub fn processor(&self, name: &str) -> Option<&ProcessorSpec> {
        self.processors.iter().find(|p| p.name == name)
    }

    /// The topics a processor may write: its outputs plus its inputs' dead-letter topics.
    pub fn writable_topics(&self, processor: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Some(p) = self.processor(processor) {
            out.extend(p.outputs.values().cloned());
            out.extend(p.changelog.clone());
            for input in &p.inputs {
                if let Some(dlq) = self.topic(input).and_then(|t| t.dead_letter.clone()) {
                    out.insert(dlq);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Catalog;

    fn repo_topology() -> Topology {
        Topology::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("topology"),
            &DeploymentConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{e:#?}"))
    }

    #[test]
    fn repository_topology_is_valid() {
        let t = repo_topology();
        t.check(&Catalog::bundled().unwrap()).unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(t.processors.iter().any(|p| p.name == "ledger"));
        assert_eq!(t.migrations[0].version, 1);
    }

    #[test]
    fn writable_topics_include_input_dead_letters() {
        let t = repo_topology();
        let w = t.writable_topics("connector");
        assert!(
            w.contains("providers.responses") && w.contains("providers.requests.dlq"),
            "{w:?}"
        );
        assert!(!w.contains("ledger.entries"));
    }

    #[test]
    fn broken_references_name_file_entry_and_fix() {
        let catalog = Catalog::bundled().unwrap();
        let mut t = repo_topology();
        t.topics[0].value_schema = "io.paystream.Nope".into();
        t.topics[1].key = "no_such_field".into();
        t.topics[2].dead_letter = Some("missing.dlq".into());
        t.processors[0]
            .outputs
            .insert("ghost".into(), "ghost.topic".into());
        t.processors[1].consumer_group = t.processors[0].consumer_group.clone();
        let errors = t.check(&catalog).unwrap_err();
        let want = [
            (
                "topics.toml",
                "topic 'payments.commands'",
                "value_schema 'io.paystream.Nope'",
            ),
            (
                "topics.toml",
                "topic 'payments.events'",
                "key 'no_such_field'",
            ),
            (
                "topics.toml",
                "topic 'payments.changelog'",
                "dead_letter 'missing.dlq'",
            ),
            (
                "processors.toml",
                "processor 'payments'",
                "output 'ghost.topic'",
            ),
            ("processors.toml", "processor 'fraud'", "consumer_group"),
        ];
        for (file, entry, problem) in want {
            assert!(
                errors.iter().any(|e| e.file.ends_with(file)
                    && e.entry == entry
                    && e.problem.contains(problem)
                    && !e.fix.is_empty()),
                "{file} {entry} {problem}: {errors:#?}"
            );
        }
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
    }

    #[test]
    fn a_changelog_must_be_co_partitioned_compacted_state() {
        let catalog = Catalog::bundled().unwrap();
        let mut t = repo_topology();
        let changelog = t
            .topics
            .iter_mut()
            .find(|t| t.name == "payments.changelog")
            .unwrap();
        changelog.partitions = 3;
        changelog.cleanup_policy = CleanupPolicy::Delete;
        let input = t
            .topics
            .iter_mut()
            .find(|t| t.name == "providers.webhooks")
            .unwrap();
        input.key = "webhook_id".into();
        let fraud = t.processors.iter_mut().find(|p| p.name == "fraud").unwrap();
        fraud.changelog = Some("payments.changelog".into());
        let errors = t.check(&catalog).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        for want in [
            "processor 'payments': input 'payments.commands' has 6 partitions but changelog 'payments.changelog' has 3",
            "processor 'payments': changelog 'payments.changelog' is not compacted",
            "processor 'payments': its inputs are keyed by different fields",
            "processor 'fraud': changelog 'payments.changelog' is also the changelog of 'payments'",
        ] {
            assert!(text.iter().any(|e| e.contains(want)), "{want}: {text:#?}");
        }
    }

    #[test]
    fn malformed_file_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("topology");
        for f in ["processors.toml", "keyspace.toml"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        std::fs::create_dir(dir.path().join("migrations")).unwrap();
        std::fs::write(
            dir.path().join("migrations/0001_a.cql"),
            "CREATE TABLE t (a int PRIMARY KEY);",
        )
        .unwrap();
        std::fs::write(dir.path().join("migrations/0003_b.cql"), "DROP TABLE t;").unwrap();
        std::fs::write(
            dir.path().join("topics.toml"),
            "[[topic]]\nname = \"a\"\npartitons = 3\n",
        )
        .unwrap();
        let errors = Topology::load(dir.path(), &Default::default()).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.contains("topics.toml: line 3: unknown field `partitons`")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|e| e.contains("0001_a.cql: statement 1: CREATE without IF NOT EXISTS")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|e| e.contains("0003_b.cql: file name: version 3 breaks the sequence")),
            "{text:#?}"
        );
        assert!(
            text.iter()
                .any(|e| e.contains("0003_b.cql: statement 1: destroys data")),
            "{text:#?}"
        );
    }

    #[test]
    fn cql_splitting_drops_comments() {
        let s = split_cql("-- a comment; with semicolon\nCREATE TABLE IF NOT EXISTS a (x int PRIMARY KEY);\n\n  -- x\nALTER TABLE a ADD y int; ");
        assert_eq!(
            s,
            vec![
                "CREATE TABLE IF NOT EXISTS a (x int PRIMARY KEY)",
                "ALTER TABLE a ADD y int"
            ]
        );
    }
}
