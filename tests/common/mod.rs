//! Shared helpers for integration tests. They run against the real local stack (`scripts/stack up`):
//! Kafka on 127.0.0.1:9092 and Cassandra on 127.0.0.1:9042, or whatever `PAYSTREAM__*` says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report
#![allow(dead_code)]

use paystream::config::Config;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use std::net::TcpStream;
use std::time::Duration;

/// The config the stack answers to, in a deployment of the test's own (its keyspace, topics and
/// groups), so tests never share tables, topics or state.
pub fn config() -> Config {
    let mut c = Config::load(None).expect("test config");
    c.set_deployment(&unique("it"));
    require_stack(&c);
    c
}

/// Fails loudly (never skips) when the stack is down: these tests exist to run against it.
pub fn require_stack(c: &Config) {
    for addr in [
        c.kafka
            .bootstrap_servers
            .split(',')
            .next()
            .unwrap_or_default(),
        c.store.contact_points[0].as_str(),
    ] {
        if TcpStream::connect_timeout(&addr.parse().expect("host:port"), Duration::from_secs(2))
            .is_err()
        {
            panic!("integration tests need the local stack, but nothing answers on {addr}: run `scripts/stack up`");
        }
    }
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub async fn create_topic(c: &Config, name: &str, partitions: i32) {
    let admin = paystream::runtime::admin::admin_client(&c.kafka).expect("admin client");
    let results = admin
        .create_topics(
            [&NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Best-effort: a keyspace per test would otherwise accumulate across runs of one stack.
pub async fn drop_keyspace(c: &Config) {
    if let Ok(session) = paystream::store::Store::connect(&c.store).await {
        let _ = session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", c.store.keyspace), ())
            .await;
    }
}

pub mod chaos;
pub mod flow;
pub mod kill;
pub mod money;

pub mod eos {
    //! A private topology per test (the repository's topics plus `probe.in`, `probe.out`,
    //! `probe.in.dlq` and only the processor under test, all in the test's own deployment), input
    //! generation, and the exactly-once checks.
    use super::*;
    use futures::StreamExt;
    use paystream::events::{Catalog, Codec, DeadLetter, PaymentCommand, PaymentEvent};
    use paystream::processors::testing::probe::SEQ_KEY;
    use paystream::runtime::eos::{Deps, RunStats};
    use paystream::runtime::health::Health;
    use paystream::store::writer::StoreWriter;
    use paystream::store::Store;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::ClientConfig;
    use std::collections::{BTreeMap, HashMap};
    use std::path::Path;
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    /// Copies each command to `topic` (declared or not: the runtime must refuse an undeclared
    /// one), counting each copy under `measure` when given.
    pub struct CopyTo {
        pub topic: String,
        pub measure: Option<&'static str>,
    }

    impl paystream::processors::Processor for CopyTo {
        type Input = PaymentCommand;
        type View = ();
        const OUTPUTS: &'static [&'static str] = &["out"];
        const INPUT_SCHEMAS: &'static [&'static str] = &[];

        fn name(&self) -> &str {
            "probe"
        }

        fn load<'a>(
            &'a self,
            _: &'a paystream::processors::Io<'a>,
            _: &'a [paystream::processors::Decoded<PaymentCommand>],
        ) -> futures::future::BoxFuture<'a, Result<(), paystream::processors::ProcessError>>
        {
            paystream::processors::no_view()
        }

        fn process(
            &self,
            input: &PaymentCommand,
            _: &mut (),
            ctx: &paystream::processors::Context<'_>,
        ) -> Result<paystream::processors::Effects, paystream::processors::ProcessError> {
            let measures = self
                .measure
                .map(|name| paystream::metrics::Measure::count(name, &[("kind", "copied".into())]))
                .into_iter()
                .collect();
            Ok(paystream::processors::Effects {
                records: vec![ctx.record(&self.topic, input)?],
                measures,
                ..Default::default()
            })
        }
    }

    pub struct Setup {
        pub dir: tempfile::TempDir,
        pub config: Config,
        /// The deployment's names of the test's topics and the processor's consumer group.
        pub input: String,
        pub output: String,
        pub dlq: String,
        pub group: String,
        /// The processor's group as `processors.toml` names it (before the deployment's name).
        group_in_file: String,
        pub codec: Arc<Codec>,
        /// The processor under test, as `paystream process` names it.
        pub processor: String,
    }

    /// Sum of the probe group's committed offsets on the input: how many inputs are committed.
    pub fn committed_inputs(setup: &Setup, partitions: i32) -> i64 {
        let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &setup.config.kafka.bootstrap_servers)
            .set("group.id", &setup.group)
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(&setup.input, p);
        }
        // The coordinator can be slow to answer while the machine is busy building and testing: a
        // bounded number of tries, each with a generous timeout.
        let mut last = None;
        for _ in 0..4 {
            match consumer.committed_offsets(tpl.clone(), Duration::from_secs(20)) {
                Ok(committed) => {
                    return committed
                        .elements()
                        .iter()
                        .map(|e| e.offset().to_raw().unwrap_or(0).max(0))
                        .sum();
                }
                Err(e) => last = Some(e),
            }
        }
        panic!("committed offsets of {} unavailable: {last:?}", setup.group)
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }

    pub async fn setup(partitions: i32) -> Setup {
        setup_for(
            "probe",
            "io.paystream.payments.PaymentCommand",
            "io.paystream.payments.PaymentEvent",
            partitions,
        )
        .await
    }

    /// [`setup`] for `tally`, the probe with keyed state: its changelog is `<prefix>.changelog`.
    pub async fn setup_stateful(partitions: i32) -> Setup {
        setup_for(
            "tally",
            "io.paystream.payments.PaymentCommand",
            "io.paystream.payments.PaymentEvent",
            partitions,
        )
        .await
    }

    /// A private topology with `processor` reading `<prefix>.in` (`input_schema`) and writing
    /// `<prefix>.out` (`output_schema`).
    /// The role the processor under test writes its one output under.
    fn output_role(processor: &str) -> &'static str {
        use paystream::processors::Processor;
        match processor {
            "ledger" => paystream::processors::ledger::Ledger::OUTPUTS[0],
            "tally" => paystream::processors::testing::probe::Tally::OUTPUTS[0],
            _ => paystream::processors::testing::probe::Probe::OUTPUTS[0],
        }
    }

    pub async fn setup_for(
        processor_name: &str,
        input_schema: &str,
        output_schema: &str,
        partitions: i32,
    ) -> Setup {
        let mut config = super::config();
        // The deployment is the test's own: the topics need no prefix of their own.
        let prefix = "probe";
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("topology"),
            dir.path(),
        );
        let (input, output, dlq) = (
            format!("{prefix}.in"),
            format!("{prefix}.out"),
            format!("{prefix}.in.dlq"),
        );
        let topics = format!(
            r#"
[[topic]]
name = "{input}"
doc = "probe input"
partitions = {partitions}
key = "payment_id"
value_schema = "{input_schema}"
cleanup_policy = "delete"
retention_ms = 86400000
dead_letter = "{dlq}"

[[topic]]
name = "{output}"
doc = "probe output"
partitions = {partitions}
key = "payment_id"
value_schema = "{output_schema}"
cleanup_policy = "delete"
retention_ms = 86400000

[[topic]]
name = "{dlq}"
doc = "probe dead letters"
partitions = 1
key = "source_topic"
value_schema = "io.paystream.runtime.DeadLetter"
cleanup_policy = "delete"
retention_ms = 86400000
"#
        );
        let changelog = format!("{prefix}.changelog");
        let stateful = processor_name == "tally";
        let mut processor = format!(
            r#"
[[processor]]
name = "{processor_name}"
doc = "the processor under test"
consumer_group = "{prefix}-{processor_name}"
inputs = ["{input}"]
outputs = {{ {role} = "{output}" }}
"#,
            role = output_role(processor_name)
        );
        let mut topics = topics;
        // The ledger also passes payable movements on, keyed by merchant, to their own topic.
        let movements = format!("{prefix}.movements");
        let ledger = processor_name == "ledger";
        if ledger {
            processor = processor.replace(
                &format!("= \"{output}\" }}"),
                &format!("= \"{output}\", movements = \"{movements}\" }}"),
            );
            topics.push_str(&format!(
                r#"
[[topic]]
name = "{movements}"
doc = "ledger movements of merchants' payable accounts"
partitions = {partitions}
key = "merchant_id"
value_schema = "io.paystream.ledger.JournalEntry"
cleanup_policy = "delete"
retention_ms = 86400000
"#
            ));
        }
        if stateful {
            processor.push_str(&format!("changelog = \"{changelog}\"\n"));
            topics.push_str(&format!(
                r#"
[[topic]]
name = "{changelog}"
doc = "tally state"
partitions = {partitions}
key = "key"
value_schema = "io.paystream.runtime.KeyedState"
cleanup_policy = "compact"
retention_ms = -1
"#
            ));
        }
        let append = |file: &str, text: &str| {
            let path = dir.path().join(file);
            let mut s = std::fs::read_to_string(&path).unwrap();
            s.push_str(text);
            std::fs::write(path, s).unwrap();
        };
        append("topics.toml", &topics);
        // Only the processor under test: the repository's own would compete for the same names.
        std::fs::write(dir.path().join("processors.toml"), &processor).unwrap();
        config.topology.dir = dir.path().to_owned();
        let topology = paystream::commands::process::topology_from(dir.path(), &config.deployment)
            .expect("private topology is valid");
        let name = |logical: &str| config.deployment.topic(logical);
        let (input, output, dlq) = (name(&input), name(&output), name(&dlq));
        for t in [&input, &output] {
            create_topic(&config, t, partitions).await;
        }
        if stateful {
            create_topic(&config, &name(&changelog), partitions).await;
        }
        if ledger {
            create_topic(&config, &name(&movements), partitions).await;
        }
        create_topic(&config, &dlq, 1).await;
        // A processor started as `paystream process` checks the deployment's identity first.
        let identity = paystream::runtime::deployment::IDENTITY_TOPIC;
        create_topic(&config, &name(identity), 1).await;
        let session = Store::connect(&config.store).await.unwrap();
        paystream::store::migrate::apply(
            &session,
            &config.store,
            &topology.keyspace,
            &topology.migrations,
        )
        .await
        .unwrap();
        let codec = Arc::new(Codec::single_object(Catalog::bundled().unwrap()));
        let group_in_file = format!("{prefix}-{processor_name}");
        let group = config.deployment.group(&group_in_file);
        Setup {
            dir,
            config,
            input,
            output,
            dlq,
            group,
            group_in_file,
            codec,
            processor: processor_name.to_owned(),
        }
    }

    /// Moves the processor under test to a fresh consumer group (`<group>-<suffix>`), which starts from
    /// the beginning of its input: a full replay.
    pub fn switch_group(setup: &mut Setup, suffix: &str) {
        let path = setup.dir.path().join("processors.toml");
        let next = format!("{}-{suffix}", setup.group_in_file);
        let text = std::fs::read_to_string(&path).unwrap().replace(
            &format!("\"{}\"", setup.group_in_file),
            &format!("\"{next}\""),
        );
        std::fs::write(path, text).unwrap();
        setup.group = setup.config.deployment.group(&next);
        setup.group_in_file = next;
    }

    /// `n` commands over `keys` payments; each payment's commands carry seq 1, 2, 3, … in order.
    pub fn commands(n: usize, keys: usize) -> Vec<PaymentCommand> {
        (0..n)
            .map(|i| {
                let mut c = paystream::events::demo::demo_command("eos", i, 1_763_942_400_000);
                c.payment_id = format!("pay_{}", i % keys);
                c.command_id = format!("cmd_{i}");
                c.metadata
                    .insert(SEQ_KEY.into(), (i / keys + 1).to_string());
                c
            })
            .collect()
    }

    pub fn producer(config: &Config) -> FutureProducer {
        paystream::runtime::kafka::producer(&config.kafka)
            .create()
            .unwrap()
    }

    /// Produces in order (per key), waiting for every delivery.
    pub async fn produce(setup: &Setup, records: &[(String, Vec<u8>)]) {
        let p = producer(&setup.config);
        for chunk in records.chunks(5_000) {
            let sends = chunk.iter().map(|(k, v)| {
                p.send_result(FutureRecord::to(&setup.input).key(k).payload(v))
                    .map_err(|(e, _)| e)
                    .unwrap()
            });
            for d in futures::future::join_all(sends).await {
                d.unwrap().map_err(|(e, _)| e).unwrap();
            }
        }
    }

    pub fn encoded(setup: &Setup, commands: &[PaymentCommand]) -> Vec<(String, Vec<u8>)> {
        commands
            .iter()
            .map(|c| (c.payment_id.clone(), setup.codec.encode_sync(c).unwrap()))
            .collect()
    }

    /// Every record a read_committed consumer sees on `topic`, reading until `expected` arrived and the
    /// topic then stayed quiet for `quiet`, or `deadline` passed. Duplicates would be seen too.
    pub async fn read_committed(
        config: &Config,
        topic: &str,
        expected: usize,
        deadline: Duration,
        quiet: Duration,
    ) -> Vec<Vec<u8>> {
        let consumer: StreamConsumer =
            paystream::runtime::kafka::read_committed_consumer(&config.kafka, &unique("verify"))
                .create()
                .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let end = tokio::time::Instant::now() + deadline;
        let mut out = Vec::with_capacity(expected);
        loop {
            let now = tokio::time::Instant::now();
            if now >= end {
                break;
            }
            let wait = if out.len() >= expected {
                quiet.min(end - now)
            } else {
                end - now
            };
            match tokio::time::timeout(wait, consumer.recv()).await {
                Ok(Ok(m)) => out.push(m.payload().unwrap_or_default().to_vec()),
                Ok(Err(e)) => panic!("verify consumer: {e}"),
                Err(_) => {
                    if out.len() >= expected {
                        break;
                    }
                }
            }
        }
        out
    }

    /// Exactly one output per input, none missing, each payment's outputs in input order.
    pub fn assert_exactly_once(codec: &Codec, outputs: &[Vec<u8>], inputs: &[PaymentCommand]) {
        let events: Vec<PaymentEvent> = outputs
            .iter()
            .map(|b| codec.decode_sync(b).unwrap())
            .collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for e in &events {
            *counts.entry(e.event_id.as_str()).or_default() += 1;
        }
        let duplicates: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(5).collect();
        assert!(
            duplicates.is_empty(),
            "{} duplicated outputs, e.g. {duplicates:?}",
            counts.values().filter(|c| **c > 1).count()
        );
        let missing: Vec<&str> = inputs
            .iter()
            .map(|c| c.command_id.as_str())
            .filter(|id| !counts.contains_key(id))
            .take(5)
            .collect();
        assert!(
            missing.is_empty(),
            "{} inputs without output, e.g. {missing:?}",
            inputs
                .iter()
                .filter(|c| !counts.contains_key(c.command_id.as_str()))
                .count()
        );
        assert_eq!(events.len(), inputs.len());
        let mut last: HashMap<&str, i64> = HashMap::new();
        for e in &events {
            let prev = last.insert(e.payment_id.as_str(), e.sequence).unwrap_or(0);
            assert_eq!(
                e.sequence,
                prev + 1,
                "payment {} out of order: {} after {}",
                e.payment_id,
                e.sequence,
                prev
            );
        }
    }

    /// The store holds exactly one row per input: per payment, sequences 1..=n with the right event ids.
    pub async fn assert_store_rows(config: &Config, inputs: &[PaymentCommand]) {
        let store = Store::open(&config.store).await.unwrap();
        let mut want: BTreeMap<&str, Vec<(i64, String)>> = BTreeMap::new();
        for c in inputs {
            let seq: i64 = c.metadata[SEQ_KEY].parse().unwrap();
            want.entry(c.payment_id.as_str())
                .or_default()
                .push((seq, c.command_id.clone()));
        }
        let select = store
            .session()
            .prepare(format!(
                "SELECT sequence, event_id FROM {} WHERE payment_id = ?",
                store.table("payment_events")
            ))
            .await
            .unwrap();
        let checks = futures::stream::iter(want.into_iter().map(|(payment, mut rows)| {
            let store = store.clone();
            let select = select.clone();
            async move {
                rows.sort();
                let got: Vec<(i64, String)> = store
                    .session()
                    .execute_unpaged(&select, (payment,))
                    .await
                    .unwrap()
                    .into_rows_result()
                    .unwrap()
                    .rows::<(i64, String)>()
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                assert_eq!(got, rows, "store rows of {payment}");
            }
        }))
        .buffer_unordered(64)
        .collect::<Vec<()>>();
        checks.await;
    }

    pub fn dead_letters(codec: &Codec, raw: &[Vec<u8>]) -> Vec<DeadLetter> {
        raw.iter().map(|b| codec.decode_sync(b).unwrap()).collect()
    }

    /// Runs any processor in this process until `shutdown` is cancelled.
    pub async fn spawn_processor<P: paystream::processors::Processor>(
        setup: &Setup,
        processor: P,
        instance: &str,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<RunStats, paystream::runtime::eos::RuntimeError>> {
        let topology = Arc::new(
            paystream::commands::process::topology_from(
                &setup.config.topology.dir,
                &setup.config.deployment,
            )
            .unwrap(),
        );
        let mut runtime = setup.config.runtime.clone();
        runtime.instance_id = instance.to_owned();
        let deps = Deps {
            kafka: setup.config.kafka.clone(),
            runtime,
            topology,
            codec: setup.codec.clone(),
            writer: Arc::new(StoreWriter::new(
                Store::open(&setup.config.store).await.unwrap(),
            )),
            health: Health::new(),
            shutdown,
        };
        tokio::spawn(paystream::runtime::eos::run(Arc::new(processor), deps))
    }

    /// Runs the probe in this process until `shutdown` is cancelled.
    pub async fn spawn_in_process(
        setup: &Setup,
        instance: &str,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<RunStats, paystream::runtime::eos::RuntimeError>> {
        spawn_processor(
            setup,
            paystream::processors::testing::probe::Probe::new(&setup.output),
            instance,
            shutdown,
        )
        .await
    }

    /// `paystream process probe` as a child process, logging to a file in the setup's directory.
    pub fn spawn_binary(
        setup: &Setup,
        instance: &str,
        extra_env: &[(&str, &str)],
    ) -> std::process::Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(
                setup
                    .dir
                    .path()
                    .join(format!("{}-{instance}.log", setup.processor)),
            )
            .unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paystream"));
        cmd.args(["process", &setup.processor, "--instance", instance])
            .env_remove("PAYSTREAM_CONFIG")
            .env("PAYSTREAM__TOPOLOGY__DIR", setup.dir.path())
            .env("PAYSTREAM__DEPLOYMENT__NAME", &setup.config.deployment.name)
            .env("PAYSTREAM__SERVICE__OPS_LISTEN", "127.0.0.1:0")
            .env("PAYSTREAM__SERVICE__LOG_FORMAT", "json")
            .stdout(std::process::Stdio::null())
            .stderr(log);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    }

    pub fn log_of(setup: &Setup, instance: &str) -> String {
        std::fs::read_to_string(
            setup
                .dir
                .path()
                .join(format!("{}-{instance}.log", setup.processor)),
        )
        .unwrap_or_default()
    }

    pub fn signal(child: &std::process::Child, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits for a child to exit, up to `limit`.
    pub async fn wait_exit(
        child: &mut std::process::Child,
        limit: Duration,
    ) -> std::process::ExitStatus {
        let start = std::time::Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(
                start.elapsed() < limit,
                "process {} still running after {limit:?}",
                child.id()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
