//! One deployment, one namespace. A deployment's name names everything it owns on shared
//! infrastructure: the keyspace, its topics, its consumer groups and (through them) its
//! transactional ids and local state files. Two deployments with different names share nothing on
//! one Kafka cluster and one Cassandra cluster, whatever merchant ids they hold.
//!
//! The default name, `paystream`, keeps the names of a deployment that predates the setting: the
//! keyspace `paystream`, unprefixed topics (`payments.commands`), groups `paystream-<processor>`.

use super::problem::Checks;
use serde::{Deserialize, Serialize};

/// The deployment whose topics carry no prefix.
pub const DEFAULT_NAME: &str = "paystream";
/// Room for the longest topic name after the prefix (Kafka allows 249) and below the keyspace
/// limit (48).
pub const NAME_LEN_MAX: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeploymentConfig {
    /// Lower-case letters, digits and `_`, starting with a letter: the keyspace, the topic prefix
    /// (`<name>.`, none for `paystream`) and the consumer groups (`<name>-<processor>`).
    pub name: String,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        Self {
            name: DEFAULT_NAME.to_owned(),
        }
    }
}

impl DeploymentConfig {
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
        }
    }

    pub fn validate(&self, c: &mut Checks<'_>) {
        let n = &self.name;
        c.check(
            is_valid_name(n),
            "name",
            format!("'{n}' cannot name a keyspace, topics and consumer groups"),
            "use 1 to 40 lower-case letters, digits and _, starting with a letter (e.g. \"paystream\" or \"bench_1\")",
        );
    }

    /// The CQL keyspace.
    pub fn keyspace(&self) -> String {
        self.name.clone()
    }

    /// What every topic name starts with: `<name>.`, or nothing for the default deployment.
    pub fn topic_prefix(&self) -> String {
        if self.name == DEFAULT_NAME {
            String::new()
        } else {
            format!("{}.", self.name)
        }
    }

    /// The deployment's name of the topic `topics.toml` calls `logical`.
    pub fn topic(&self, logical: &str) -> String {
        format!("{}{logical}", self.topic_prefix())
    }

    /// The consumer group of a processor whose `processors.toml` group is `base`; the processor's
    /// transactional ids (`<group>-<instance>`) and local state files follow from it.
    pub fn group(&self, base: &str) -> String {
        format!("{}-{base}", self.name)
    }
}

fn is_valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= NAME_LEN_MAX
        && n.starts_with(|ch: char| ch.is_ascii_lowercase())
        && n.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_keeps_todays_names_and_others_are_prefixed() {
        let d = DeploymentConfig::default();
        assert_eq!(d.keyspace(), "paystream");
        assert_eq!(d.topic("payments.commands"), "payments.commands");
        assert_eq!(d.group("payments"), "paystream-payments");
        let b = DeploymentConfig::named("bench_1");
        assert_eq!(b.keyspace(), "bench_1");
        assert_eq!(b.topic("payments.commands"), "bench_1.payments.commands");
        assert_eq!(b.group("payments"), "bench_1-payments");
    }

    #[test]
    fn names_that_cannot_be_a_keyspace_are_refused() {
        for bad in ["", "Bench", "1a", "a-b", "a.b", &"a".repeat(41)] {
            let mut problems = Vec::new();
            DeploymentConfig::named(bad).validate(&mut Checks::new("deployment", &mut problems));
            assert_eq!(problems.len(), 1, "{bad:?}");
            assert_eq!(problems[0].field, "deployment.name");
        }
        let mut problems = Vec::new();
        DeploymentConfig::named("a_1").validate(&mut Checks::new("deployment", &mut problems));
        assert!(problems.is_empty());
    }
}
