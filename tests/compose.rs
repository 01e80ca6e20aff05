//! docker-compose.yml cannot run here (no Docker engine), so its structure is checked instead: it
//! parses, every reference resolves, the paystream services' environment is a valid paystream config,
//! their commands exist, and Prometheus scrapes every long-running paystream service.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::result_large_err
)] // test code: a failed expectation is the report

use paystream::config::Config;
use paystream::store::config::StoreFlavor;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &str) -> Yaml {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect(path);
    YamlLoader::load_from_str(&text)
        .expect("valid YAML")
        .remove(0)
}

fn s(y: &Yaml) -> String {
    match y {
        Yaml::String(v) => v.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// A service's environment with YAML merge keys (`<<: *anchor`) applied.
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Yaml::Hash(h) = &service["environment"] {
        if let Some(Yaml::Hash(base)) = h.get(&Yaml::String("<<".into())) {
            for (k, v) in base {
                out.insert(s(k), s(v));
            }
        }
        for (k, v) in h {
            if s(k) != "<<" {
                out.insert(s(k), s(v));
            }
        }
    }
    out
}

fn services(compose: &Yaml) -> BTreeMap<String, Yaml> {
    compose["services"]
        .as_hash()
        .expect("services")
        .iter()
        .map(|(k, v)| (s(k), v.clone()))
        .collect()
}

fn is_paystream(service: &Yaml) -> bool {
    service["image"]
        .as_str()
        .is_some_and(|i| i.starts_with("paystream"))
        || !service["build"].is_badvalue()
}

fn command(service: &Yaml) -> Vec<String> {
    service["command"]
        .as_vec()
        .map(|v| v.iter().map(s).collect())
        .unwrap_or_default()
}

#[test]
fn every_reference_resolves() {
    let compose = load("docker-compose.yml");
    let svcs = services(&compose);
    for required in [
        "kafka",
        "scylla",
        "schema-registry",
        "prometheus",
        "grafana",
    ] {
        assert!(svcs.contains_key(required), "service {required} missing");
    }
    assert!(svcs.values().any(is_paystream), "no paystream service");
    for (name, svc) in &svcs {
        let deps: Vec<String> = match &svc["depends_on"] {
            Yaml::Array(a) => a.iter().map(s).collect(),
            Yaml::Hash(h) => h.keys().map(s).collect(),
            Yaml::BadValue => vec![],
            other => panic!("{name}: depends_on {other:?}"),
        };
        for d in deps {
            assert!(
                svcs.contains_key(&d),
                "{name} depends on unknown service {d}"
            );
        }
        if let Some(vols) = svc["volumes"].as_vec() {
            for v in vols {
                let host = s(v).split(':').next().unwrap().to_owned();
                assert!(
                    Path::new(env!("CARGO_MANIFEST_DIR")).join(&host).exists(),
                    "{name}: volume source {host} missing"
                );
            }
        }
    }
    // The ports users know from scripts/stack.
    assert!(svcs["kafka"]["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .any(|p| s(p) == "9092:9092"));
    assert!(svcs["scylla"]["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .any(|p| s(p) == "9042:9042"));
}

#[test]
fn paystream_services_have_valid_config_and_real_commands() {
    let compose = load("docker-compose.yml");
    let svcs = services(&compose);
    let kafka_listeners = environment(&svcs["kafka"])["KAFKA_ADVERTISED_LISTENERS"].clone();
    for (name, svc) in svcs.iter().filter(|(_, v)| is_paystream(v)) {
        let env = environment(svc);
        let mut config = None;
        figment::Jail::expect_with(|jail| {
            for (k, v) in &env {
                jail.set_env(k, v);
            }
            config = Some(Config::load(None).map_err(|e| format!("{name}: {e}"))?);
            Ok(())
        });
        let config = config.unwrap();
        assert_eq!(config.store.flavor, StoreFlavor::Scylla, "{name}");
        assert_eq!(
            config.store.contact_points,
            vec!["scylla:9042".to_string()],
            "{name}"
        );
        assert!(
            kafka_listeners.contains(&config.kafka.bootstrap_servers),
            "{name}: {} is not a kafka listener",
            config.kafka.bootstrap_servers
        );
        let mut args = command(svc);
        args.push("--help".into());
        let out = Command::new(env!("CARGO_BIN_EXE_paystream"))
            .args(&args)
            .output()
            .expect("binary runs");
        assert!(
            out.status.success(),
            "{name}: `paystream {}` is not a valid command: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn prometheus_scrapes_every_long_running_paystream_service() {
    let compose = load("docker-compose.yml");
    let svcs = services(&compose);
    let prom = load("deploy/prometheus/prometheus.yml");
    let mut targets = Vec::new();
    for job in prom["scrape_configs"].as_vec().expect("scrape_configs") {
        for sc in job["static_configs"].as_vec().expect("static_configs") {
            for t in sc["targets"].as_vec().expect("targets") {
                targets.push(s(t));
            }
        }
    }
    for t in &targets {
        let (host, port) = t.split_once(':').expect("host:port");
        let svc = svcs
            .get(host)
            .unwrap_or_else(|| panic!("scrape target {t} is not a compose service"));
        let listen = environment(svc)["PAYSTREAM__SERVICE__OPS_LISTEN"].clone();
        assert!(
            listen.ends_with(&format!(":{port}")),
            "{host} serves ops on {listen}, scraped on {port}"
        );
    }
    let long_running: Vec<&String> = svcs
        .iter()
        .filter(|(_, v)| {
            is_paystream(v) && command(v).first().map(String::as_str) != Some("topology")
        })
        .map(|(k, _)| k)
        .collect();
    assert!(!long_running.is_empty());
    for name in long_running {
        assert!(
            targets.iter().any(|t| t.starts_with(&format!("{name}:"))),
            "{name} is not scraped"
        );
    }
    let ds = load("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(s(&ds["datasources"][0]["url"]), "http://prometheus:9090");
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/dashboards/paystream.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(dash["panels"].as_array().is_some_and(|p| !p.is_empty()));
}
