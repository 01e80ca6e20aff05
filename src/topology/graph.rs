//! The dataflow as a Mermaid flowchart: sources and processors as boxes, topics as cylinders, poison
//! paths to dead-letter topics dashed.

use super::Topology;
use std::fmt::Write as _;

fn node_id(prefix: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{prefix}_{clean}")
}

pub fn mermaid(t: &Topology) -> String {
    let mut out = String::from("flowchart LR\n");
    for s in &t.sources {
        let _ = writeln!(out, "    {}([\"{}\"])", node_id("s", &s.name), s.name);
    }
    for p in &t.processors {
        let _ = writeln!(out, "    {}[[\"{}\"]]", node_id("p", &p.name), p.name);
    }
    for topic in &t.topics {
        let _ = writeln!(
            out,
            "    {}[(\"{}\")]",
            node_id("t", &topic.name),
            topic.name
        );
    }
    for s in &t.sources {
        for o in &s.outputs {
            let _ = writeln!(out, "    {} --> {}", node_id("s", &s.name), node_id("t", o));
        }
    }
    for p in &t.processors {
        for i in &p.inputs {
            let _ = writeln!(out, "    {} --> {}", node_id("t", i), node_id("p", &p.name));
        }
        for (role, o) in &p.outputs {
            let _ = writeln!(
                out,
                "    {} -- {role} --> {}",
                node_id("p", &p.name),
                node_id("t", o)
            );
        }
        if let Some(c) = &p.changelog {
            let _ = writeln!(
                out,
                "    {} == state ==> {}",
                node_id("p", &p.name),
                node_id("t", c)
            );
        }
        for i in &p.inputs {
            if let Some(dlq) = t.topic(i).and_then(|x| x.dead_letter.as_ref()) {
                let _ = writeln!(
                    out,
                    "    {} -. poison .-> {}",
                    node_id("p", &p.name),
                    node_id("t", dlq)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_processor_edge_is_drawn() {
        let t = Topology::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("topology"),
            &Default::default(),
        )
        .unwrap();
        let m = mermaid(&t);
        assert!(m.starts_with("flowchart LR\n"));
        assert!(m.contains("t_payments_commands --> p_payments"));
        assert!(m.contains("p_ledger -- entries --> t_ledger_entries"));
        assert!(m.contains("p_connector -. poison .-> t_providers_requests_dlq"));
        assert!(m.contains("s_bridge --> t_providers_webhooks"));
        assert!(m.contains("p_payments == state ==> t_payments_changelog"));
        let edges = m
            .lines()
            .filter(|l| l.contains("-->") || l.contains(".->") || l.contains("==>"))
            .count();
        let expected: usize = t
            .processors
            .iter()
            .map(|p| p.inputs.len() + p.outputs.len() + usize::from(p.changelog.is_some()))
            .sum::<usize>()
            + t.sources.iter().map(|s| s.outputs.len()).sum::<usize>()
            + t.processors
                .iter()
                .flat_map(|p| &p.inputs)
                .filter(|i| t.topic(i).and_then(|x| x.dead_letter.as_ref()).is_some())
                .count();
        assert_eq!(edges, expected);
    }
}
