//! The topology's rules: every topic well formed and its references resolved, every processor with
//! its own group, inputs that can dead-letter, and topics that exist. All problems at once.

use super::{
    err, CleanupPolicy, ProcessorSpec, TopicSpec, Topology, TopologyError, DEAD_LETTER_SCHEMA,
    KEYED_STATE_SCHEMA, PARTITIONS_MAX, TOPIC_NAME_LEN_MAX,
};
use crate::events::Catalog;
use std::collections::{BTreeMap, BTreeSet};

/// Problems of one entry of one file.
struct Report<'a> {
    file: &'a str,
    entry: String,
    errors: &'a mut Vec<TopologyError>,
}

impl Report<'_> {
    fn problem(&mut self, problem: impl Into<String>, fix: impl Into<String>) {
        self.errors
            .push(err(self.file, self.entry.clone(), problem, fix));
    }
}

impl Topology {
    /// Every rule; returns all problems at once.
    pub fn check(&self, catalog: &Catalog) -> Result<(), Vec<TopologyError>> {
        let mut errors = Vec::new();
        let topics_file = self.dir.join("topics.toml").display().to_string();
        let processors_file = self.dir.join("processors.toml").display().to_string();
        let mut seen = BTreeSet::new();
        for t in &self.topics {
            let mut r = Report {
                file: &topics_file,
                entry: format!("topic '{}'", t.name),
                errors: &mut errors,
            };
            if !seen.insert(t.name.as_str()) {
                r.problem("is declared twice", "remove the duplicate [[topic]]");
            }
            topic_shape(t, &mut r);
            self.topic_references(t, catalog, &mut r);
        }
        let mut names = BTreeSet::new();
        let mut groups = BTreeMap::new();
        for p in &self.processors {
            let mut r = Report {
                file: &processors_file,
                entry: format!("processor '{}'", p.name),
                errors: &mut errors,
            };
            if !names.insert(p.name.as_str()) {
                r.problem("is declared twice", "remove the duplicate [[processor]]");
            }
            if let Some(other) = groups.insert(p.consumer_group.as_str(), p.name.as_str()) {
                r.problem(
                    format!(
                        "consumer_group '{}' is also used by processor '{other}'",
                        p.consumer_group
                    ),
                    "give each processor its own consumer group",
                );
            }
            self.processor_topics(p, &mut r);
            self.changelog(p, &mut r);
        }
        for s in &self.sources {
            let mut r = Report {
                file: &processors_file,
                entry: format!("source '{}'", s.name),
                errors: &mut errors,
            };
            for t in &s.outputs {
                if self.topic(t).is_none() {
                    r.problem(
                        format!("output '{t}' is not a declared topic"),
                        "declare it in topics.toml or fix the name",
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The value schema and key exist; the dead-letter topic exists, carries dead letters and
    /// ends the chain.
    fn topic_references(&self, t: &TopicSpec, catalog: &Catalog, r: &mut Report<'_>) {
        match catalog.field_names(&t.value_schema) {
            None => r.problem(
                format!(
                    "value_schema '{}' is not a schema in schemas/",
                    t.value_schema
                ),
                "use the full name (namespace.name) of a record in schemas/*.avsc",
            ),
            Some(fields) if !fields.contains(&t.key) => r.problem(
                format!("key '{}' is not a field of {}", t.key, t.value_schema),
                "name the value field whose content is the record key",
            ),
            Some(_) => {}
        }
        let Some(dlq) = &t.dead_letter else {
            return;
        };
        match self.topic(dlq) {
            None => r.problem(
                format!("dead_letter '{dlq}' is not a declared topic"),
                "declare the dead-letter topic in topics.toml",
            ),
            Some(d) if d.value_schema != DEAD_LETTER_SCHEMA => r.problem(
                format!(
                    "dead_letter '{dlq}' carries {} instead of {DEAD_LETTER_SCHEMA}",
                    d.value_schema
                ),
                "point dead_letter at a topic whose value_schema is the DeadLetter record",
            ),
            Some(d) if d.dead_letter.is_some() => r.problem(
                format!("dead_letter '{dlq}' has a dead_letter of its own"),
                "dead-letter topics end the chain: remove their dead_letter",
            ),
            Some(_) => {}
        }
    }

    /// A declared changelog follows [`changelog_rules`].
    fn changelog(&self, p: &ProcessorSpec, r: &mut Report<'_>) {
        let Some(name) = &p.changelog else {
            return;
        };
        match self.topic(name) {
            None => r.problem(
                format!("changelog '{name}' is not a declared topic"),
                "declare it in topics.toml",
            ),
            Some(t) => changelog_rules(self, p, t, r),
        }
    }

    /// Inputs and outputs present and declared; every input can dead-letter.
    fn processor_topics(&self, p: &ProcessorSpec, r: &mut Report<'_>) {
        if p.inputs.is_empty() {
            r.problem("has no inputs", "list the topics it consumes in inputs");
        }
        for input in &p.inputs {
            if self.topic(input).is_some_and(|t| t.dead_letter.is_none()) {
                r.problem(
                    format!("input '{input}' has no dead_letter topic"),
                    format!("give topic '{input}' a dead_letter in topics.toml: poison records must go somewhere"),
                );
            }
        }
        let outputs: Vec<String> = p.outputs.values().cloned().collect();
        for (kind, topics) in [("input", &p.inputs), ("output", &outputs)] {
            for t in topics {
                if self.topic(t).is_none() {
                    r.problem(
                        format!("{kind} '{t}' is not a declared topic"),
                        "declare it in topics.toml or fix the name",
                    );
                }
            }
        }
    }
}

/// A changelog is a compacted topic of keyed state, owned by one processor and co-partitioned with
/// its inputs: the same partition count and the same key, so partition `n` of every input and of the
/// changelog hold the same keys, and the instance that owns `n` owns their state.
fn changelog_rules(
    topology: &Topology,
    p: &ProcessorSpec,
    changelog: &TopicSpec,
    r: &mut Report<'_>,
) {
    let name = &changelog.name;
    if changelog.cleanup_policy != CleanupPolicy::Compact || changelog.retention_ms != -1 {
        r.problem(
            format!("changelog '{name}' is not compacted with retention_ms = -1"),
            "set cleanup_policy = \"compact\" and retention_ms = -1: a key's latest state must never expire",
        );
    }
    if changelog.value_schema != KEYED_STATE_SCHEMA {
        r.problem(
            format!("changelog '{name}' carries {}", changelog.value_schema),
            format!("set its value_schema to {KEYED_STATE_SCHEMA}"),
        );
    }
    if p.inputs.contains(name) || p.outputs.values().any(|o| o == name) {
        r.problem(
            format!("changelog '{name}' is also an input or output"),
            "give the changelog a topic of its own",
        );
    }
    if let Some(other) = topology
        .processors
        .iter()
        .find(|o| o.name != p.name && o.changelog.as_deref() == Some(name.as_str()))
    {
        r.problem(
            format!(
                "changelog '{name}' is also the changelog of '{}'",
                other.name
            ),
            "give each stateful processor its own changelog",
        );
    }
    let mut keys = BTreeSet::new();
    for input in p.inputs.iter().filter_map(|i| topology.topic(i)) {
        keys.insert(input.key_as.as_deref().unwrap_or(&input.key));
        if input.partitions != changelog.partitions {
            r.problem(
                format!(
                    "input '{}' has {} partitions but changelog '{name}' has {}",
                    input.name, input.partitions, changelog.partitions
                ),
                "give every input of a stateful processor and its changelog the same partition count",
            );
        }
    }
    if keys.len() > 1 {
        r.problem(
            format!("its inputs are keyed by different fields {keys:?}"),
            "key every input of a stateful processor by the same id",
        );
    }
}

/// A legal name, partition count and retention, and a doc.
fn topic_shape(t: &TopicSpec, r: &mut Report<'_>) {
    let name_ok = !t.name.is_empty()
        && t.name.len() <= TOPIC_NAME_LEN_MAX
        && t.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        r.problem(
            "name is not a legal Kafka topic name",
            "use letters, digits, '.', '_' and '-', at most 249",
        );
    }
    if !(1..=PARTITIONS_MAX).contains(&t.partitions) {
        r.problem(
            format!(
                "partitions = {} is outside 1..={PARTITIONS_MAX}",
                t.partitions
            ),
            "set a positive partition count",
        );
    }
    if t.retention_ms != -1 && t.retention_ms <= 0 {
        r.problem(
            format!(
                "retention_ms = {} is neither -1 nor positive",
                t.retention_ms
            ),
            "use -1 to keep forever, or a duration in ms",
        );
    }
    if t.doc.trim().is_empty() {
        r.problem("has no doc", "say what the topic carries in doc = \"…\"");
    }
}
