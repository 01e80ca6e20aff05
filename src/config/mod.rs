//! The one typed configuration of every paystream command. Each component owns its section's type
//! and checks (`runtime::config`, `store::config`, `processors::<name>::config`, …); this module only
//! composes them, loads them and reports every problem at once.
//!
//! Sources, later ones winning: built-in defaults (which match `scripts/stack`), a TOML file (`--config`
//! or `PAYSTREAM_CONFIG`), then environment variables `PAYSTREAM__<SECTION>__<FIELD>`, e.g.
//! `PAYSTREAM__KAFKA__BOOTSTRAP_SERVERS=broker:9092`. Unknown fields are errors, and `validate` checks
//! every bound before anything starts. The value is passed explicitly; there are no globals.

use crate::bridge::config::BridgeConfig;
use crate::connectors::config::ConnectorsConfig;
use crate::domain::deployment::DeploymentConfig;
use crate::domain::problem::Checks;
use crate::events::config::SchemaRegistryConfig;
use crate::processors::balances::config::BalancesConfig;
use crate::processors::beneficiaries::config::BeneficiariesConfig;
use crate::processors::fraud::config::FraudConfig;
use crate::processors::payments::config::PaymentsConfig;
use crate::processors::payouts::config::PayoutsConfig;
use crate::runtime::config::{KafkaConfig, RuntimeConfig, ServiceConfig};
use crate::sandbox::config::SandboxConfig;
use crate::store::config::StoreConfig;
use crate::topology::config::TopologyConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const ENV_PREFIX: &str = "PAYSTREAM__";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Names the keyspace, the topics, the consumer groups and the transactional ids.
    pub deployment: DeploymentConfig,
    pub kafka: KafkaConfig,
    /// Absent: events use Avro single-object encoding against the bundled schemas.
    pub schema_registry: Option<SchemaRegistryConfig>,
    pub store: StoreConfig,
    pub service: ServiceConfig,
    pub topology: TopologyConfig,
    pub runtime: RuntimeConfig,
    pub payments: PaymentsConfig,
    pub fraud: FraudConfig,
    pub payouts: PayoutsConfig,
    pub beneficiaries: BeneficiariesConfig,
    pub balances: BalancesConfig,
    pub connectors: ConnectorsConfig,
    pub bridge: BridgeConfig,
    pub sandbox: SandboxConfig,
}

pub use crate::domain::problem::Problem;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: cannot be read: {reason}. Fix: pass an existing TOML file with --config, or none to use the defaults")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{0}. Fix: correct or remove that key (every field is listed in config/paystream.example.toml)")]
    Parse(String),
    #[error("{source_name}: {}", render_problems(.problems))]
    Invalid {
        source_name: String,
        problems: Vec<Problem>,
    },
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("field `{}`: {}. Fix: {}", p.field, p.message, p.fix))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Config {
    /// Loads defaults, then `path` if given, then the `PAYSTREAM__` environment overlay, and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let source_name = match path {
            Some(p) => {
                if let Err(e) = std::fs::metadata(p) {
                    return Err(ConfigError::Unreadable {
                        path: p.to_owned(),
                        reason: e.to_string(),
                    });
                }
                figment = figment.merge(Toml::file_exact(p));
                format!("config file {} (with {ENV_PREFIX}* overrides)", p.display())
            }
            None => format!("defaults with {ENV_PREFIX}* overrides"),
        };
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Parse(describe_figment(&e)))?;
        config.store.keyspace = config.deployment.keyspace();
        config.validate().map_err(|problems| ConfigError::Invalid {
            source_name,
            problems,
        })?;
        Ok(config)
    }

    /// Moves this configuration to the deployment `name`: its keyspace, topics and groups.
    pub fn set_deployment(&mut self, name: &str) {
        self.deployment = DeploymentConfig::named(name);
        self.store.keyspace = self.deployment.keyspace();
    }

    /// Every bound the configuration must respect, all reported at once. Each section checks its
    /// own fields; the checks across sections are here.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let p = &mut problems;
        self.deployment.validate(&mut Checks::new("deployment", p));
        self.kafka.validate(&mut Checks::new("kafka", p));
        if let Some(r) = &self.schema_registry {
            r.validate(&mut Checks::new("schema_registry", p));
        }
        self.store.validate(&mut Checks::new("store", p));
        let keyspace = self.deployment.keyspace();
        Checks::new("store", p).check(
            self.store.keyspace == keyspace,
            "keyspace",
            format!(
                "'{}' is not deployment.name's keyspace '{keyspace}'",
                self.store.keyspace
            ),
            "name the deployment instead (deployment.name, or Config::set_deployment): it names the keyspace",
        );
        self.service.validate(&mut Checks::new("service", p));
        let transaction_timeout_ms = self.kafka.transaction_timeout_ms;
        self.runtime
            .validate(transaction_timeout_ms, &mut Checks::new("runtime", p));
        let connectors = &self.connectors;
        self.payments.validate(
            |name| connectors.get(name).is_some(),
            &mut Checks::new("payments", p),
        );
        self.fraud.validate(&mut Checks::new("fraud", p));
        self.payouts.validate(
            |name| connectors.get(name).is_some(),
            &mut Checks::new("payouts", p),
        );
        self.beneficiaries.validate(
            |name| connectors.get(name).is_some(),
            &mut Checks::new("beneficiaries", p),
        );
        self.balances.validate(&mut Checks::new("balances", p));
        self.connectors.validate(&mut Checks::new("connectors", p));
        self.bridge.validate(&mut Checks::new("bridge", p));
        self.sandbox.validate(&mut Checks::new("sandbox", p));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Figment's errors name the key and its source (file or env var); keep that, drop the noise.
fn describe_figment(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        .map(|err| {
            let path = err.path.join(".");
            let source = err
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(path)) => format!("config file {}", path.display()),
                    Some(figment::Source::Custom(c)) => c.clone(),
                    Some(other) => other.to_string(),
                    None => m.name.to_string(),
                })
                .unwrap_or_else(|| "configuration".into());
            // The keyspace had a setting of its own before deployment.name named it.
            let moved = if path == "store.keyspace" {
                " (the keyspace is named by the deployment now: set `deployment.name` instead)"
            } else {
                ""
            };
            if path.is_empty() {
                format!("{source}: {}", err.kind)
            } else {
                format!("{source}: field `{path}`: {}{moved}", err.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error; tests only.
mod tests {
    use super::*;
    use std::io::Write;

    fn write_toml(body: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(body.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_are_valid_and_match_the_local_stack() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(c.store.contact_points, vec!["127.0.0.1:9042".to_string()]);
    }

    #[test]
    fn example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/paystream.example.toml");
        figment::Jail::expect_with(|_| {
            let c = Config::load(Some(&path)).map_err(|e| e.to_string())?;
            // The example documents the defaults: it must say exactly what the code does.
            assert_eq!(c, Config::default());
            Ok(())
        });
    }

    #[test]
    fn unknown_field_names_file_and_field() {
        let f = write_toml("[kafka]\nbootstrap_server = \"x:1\"\n");
        figment::Jail::expect_with(|_| {
            let err = Config::load(Some(f.path())).unwrap_err().to_string();
            assert!(err.contains("bootstrap_server"), "{err}");
            assert!(err.contains(&f.path().display().to_string()), "{err}");
            assert!(err.contains("Fix:"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn env_overlay_wins_and_is_validated() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PAYSTREAM__DEPLOYMENT__NAME", "ks_test");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.store.keyspace, "ks_test");
            assert_eq!(
                c.deployment.topic("payments.commands"),
                "ks_test.payments.commands"
            );
            jail.set_env("PAYSTREAM__KAFKA__TOPIC_REPLICATION_FACTOR", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("kafka.topic_replication_factor"), "{err}");
            assert!(err.contains("Fix:"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn every_bad_value_is_reported_with_its_field() {
        let mut c = Config::default();
        c.kafka.bootstrap_servers = "nohost".into();
        c.set_deployment("Bad-Name");
        c.schema_registry = Some(SchemaRegistryConfig {
            url: "ftp://x".into(),
            timeout_ms: 5,
        });
        let fields: Vec<String> = c
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            [
                "deployment.name",
                "kafka.bootstrap_servers",
                "schema_registry.url",
                "schema_registry.timeout_ms",
            ]
        );
    }

    #[test]
    fn the_keyspace_is_named_by_the_deployment_only() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PAYSTREAM__STORE__KEYSPACE", "elsewhere");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(
                err.contains("`deployment.name` instead") && err.contains("Fix:"),
                "{err}"
            );
            Ok(())
        });
        let mut c = Config::default();
        c.store.keyspace = "elsewhere".into();
        let fields: Vec<String> = c
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(fields, ["store.keyspace"]);
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = Config::load(Some(Path::new("/nonexistent/paystream.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/paystream.toml") && err.contains("Fix:"),
            "{err}"
        );
    }
}
