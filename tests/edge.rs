//! The edges as an outside user meets them, on the real stack: every HTTP refusal in the documented
//! JSON shape, an Idempotency-Key bound to its request, card numbers refused wherever they hide (REST,
//! Kafka, webhooks), payments created over Kafka visible to their merchant, ids the store cannot key
//! dead-lettered instead of stalling, and a command encoded by another Avro implementation (fastavro).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow::*;
use paystream::bridge::idempotency::request_hash;
use paystream::events::dead_letter::DeadLetterKind;
use paystream::events::payment_command::{PaymentCommandKind, PaymentMethod, PaymentMethodType};
use paystream::events::payment_event::PaymentEvent;
use paystream::events::{Catalog, Codec, DeadLetter, Event, PaymentCommand, TimestampMillis};
use paystream::store::bridge::BridgeStore;
use paystream::store::Store;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const PAN: &str = "4242424242424242";

async fn raw_post(f: &Flow, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut r = f
        .http
        .post(format!("{}{path}", f.base))
        .bearer_auth(KEY)
        .body(body);
    if let Some(ct) = content_type {
        r = r.header("content-type", ct);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/json", "{path}: every answer is JSON");
    (status, resp.json().await.unwrap())
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("(none)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_refusal_is_the_documented_json() {
    let f = start(0).await;
    let big = vec![b' '; f.config.bridge.body_bytes_max + 1];
    let json_ct = Some("application/json");
    /// Method, path, content type, body, expected status and code.
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/payment_intents",
            json_ct,
            big.clone(),
            413,
            "body_too_large",
        ),
        (
            "POST",
            "/webhooks/acme",
            json_ct,
            big,
            413,
            "body_too_large",
        ),
        (
            "POST",
            "/v1/nowhere",
            json_ct,
            b"{}".to_vec(),
            404,
            "route_not_found",
        ),
        (
            "GET",
            "/v1/payment_intents",
            None,
            vec![],
            405,
            "method_not_allowed",
        ),
        (
            "POST",
            "/v1/payment_intents",
            Some("text/plain"),
            br#"{"amount": 100, "currency": "INR"}"#.to_vec(),
            415,
            "content_type_unsupported",
        ),
        (
            "POST",
            "/v1/payment_intents",
            None,
            br#"{"amount": 100, "currency": "INR"}"#.to_vec(),
            415,
            "content_type_unsupported",
        ),
        (
            "POST",
            "/v1/payment_intents",
            json_ct,
            b"{\"amount\": ".to_vec(),
            400,
            "body_invalid",
        ),
    ];
    for (method, path, ct, body, status, want) in cases {
        let mut r = f
            .http
            .request(method.parse().unwrap(), format!("{}{path}", f.base))
            .bearer_auth(KEY)
            .body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let v: Value = resp.json().await.unwrap();
        assert_eq!(code(&v), want, "{method} {path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
    }
    // The JSON content type with a charset is JSON.
    let (s, v) = raw_post(
        &f,
        "/v1/payment_intents",
        Some("application/json; charset=utf-8"),
        br#"{"amount": 100, "currency": "INR"}"#.to_vec(),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_names_one_request() {
    let f = start_configured(0, None, with_other_merchant).await;
    let new_intent = json!({"amount": 1_000, "currency": "INR"});
    let (_, a) = f
        .post("/v1/payment_intents", Some(KEY), Some("a"), &new_intent)
        .await;
    let (_, b) = f
        .post("/v1/payment_intents", Some(KEY), Some("b"), &new_intent)
        .await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    f.wait_status(a, "requires_payment_method").await;
    f.wait_status(b, "requires_payment_method").await;

    // Cancel A under K; the same K on B's cancel is another request: 422, B untouched.
    let cancel = |id: &str| format!("/v1/payment_intents/{id}/cancel");
    let (s, first) = f.post(&cancel(a), Some(KEY), Some("K"), &json!({})).await;
    assert_eq!(s, 202, "{first}");
    let (s, v) = f.post(&cancel(b), Some(KEY), Some("K"), &json!({})).await;
    assert_eq!((s, code(&v)), (422, "idempotency_key_reused"), "{v}");
    // Another action on the same payment under K: also another request.
    let (s, v) = f
        .post(
            &format!("/v1/payment_intents/{a}/confirm"),
            Some(KEY),
            Some("K"),
            &json!({}),
        )
        .await;
    assert_eq!((s, code(&v)), (422, "idempotency_key_reused"), "{v}");
    // The same request again: the first answer, marked as a replay.
    let resp = f
        .http
        .post(format!("{}{}", f.base, cancel(a)))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "K")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    assert_eq!(resp.json::<Value>().await.unwrap(), first);
    f.wait_status(a, "canceled").await;
    let v = f.get(b).await;
    assert_eq!(
        v["status"], "requires_payment_method",
        "B was never canceled: {v}"
    );

    // Keys are per merchant: the other merchant's "a" is a payment of its own, and A is not its.
    let (s, other) = f
        .post(
            "/v1/payment_intents",
            Some(OTHER_KEY),
            Some("a"),
            &new_intent,
        )
        .await;
    assert_eq!(s, 202, "{other}");
    assert_ne!(other["id"].as_str().unwrap(), a);
    let resp = f
        .http
        .get(format!("{}/v1/payment_intents/{a}", f.base))
        .bearer_auth(OTHER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let (s, v) = f.post(&cancel(a), Some(OTHER_KEY), None, &json!({})).await;
    assert_eq!((s, code(&v)), (404, "payment_not_found"), "{v}");

    in_flight_stale_and_unknown_claims(&f).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_under_one_key_publish_once() {
    let f = start(0).await;
    let body = json!({"amount": 2_500, "currency": "INR"});
    let sends = (0..12).map(|_| f.post("/v1/payment_intents", Some(KEY), Some("race"), &body));
    let answers = futures::future::join_all(sends).await;
    let id = demo_payment_id("race");
    let mut accepted = 0;
    for (status, v) in &answers {
        match status {
            202 => {
                accepted += 1;
                assert_eq!(v["id"], id.as_str(), "{v}");
            }
            // Lost the race: the claim (`IF NOT EXISTS`) or the first request still in flight.
            409 => assert_eq!(code(v), "idempotency_key_in_use", "{v}"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert!(accepted >= 1, "{answers:?}");
    f.wait_status(&id, "requires_payment_method").await;
    // However many answered 202 (the winner, then replays), one command was published.
    let commands: Vec<PaymentCommand> = f.read("payments.commands", 1).await;
    let mine = commands.iter().filter(|c| c.payment_id == id).count();
    assert_eq!(mine, 1, "{commands:?}");
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_before_publishing_releases_the_key_for_the_retry() {
    let f = start(0).await;
    let store = Store::open(&f.config.store).await.unwrap();
    let bridge = BridgeStore::prepare(&store, 3_600, 3_600).await.unwrap();
    let owners = store.table("intent_owners");
    let ddl = format!(
        "CREATE TABLE {owners} (payment_id text PRIMARY KEY, merchant_id text, created_at timestamp)"
    );
    // The owner cannot be recorded: the request fails before anything is published.
    store
        .session()
        .query_unpaged(format!("DROP TABLE {owners}"), ())
        .await
        .unwrap();
    let body = json!({"amount": 900, "currency": "INR"});
    let (s, v) = f
        .post("/v1/payment_intents", Some(KEY), Some("released"), &body)
        .await;
    assert_eq!((s, code(&v)), (503, "store_unavailable"), "{v}");
    assert_eq!(
        bridge.idempotency("m_demo", "released").await.unwrap(),
        None,
        "the key was released, not kept"
    );
    store.session().query_unpaged(ddl, ()).await.unwrap();
    let (s, v) = f
        .post("/v1/payment_intents", Some(KEY), Some("released"), &body)
        .await;
    assert_eq!(s, 202, "the retry runs again: {v}");
    let id = demo_payment_id("released");
    assert_eq!(v["id"], id.as_str());
    f.wait_status(&id, "requires_payment_method").await;
    f.stop().await;
}

/// The claim paths a single client cannot provoke on purpose, set up in the store directly: a claim in
/// flight answers 409; a stale one is taken over; one whose outcome was unknown runs again and names
/// the same payment.
async fn in_flight_stale_and_unknown_claims(f: &Flow) {
    let store = Store::open(&f.config.store).await.unwrap();
    let bridge = BridgeStore::prepare(&store, 3_600, 3_600).await.unwrap();
    let body = serde_json::to_vec(&json!({"amount": 700, "currency": "INR"})).unwrap();
    let hash = request_hash("POST", "/v1/payment_intents", &body);
    let now = paystream::domain::clock::now_millis();
    let send = |key: &'static str| {
        f.http
            .post(format!("{}/v1/payment_intents", f.base))
            .bearer_auth(KEY)
            .header("Idempotency-Key", key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    assert!(bridge.claim("m_demo", "flying", &hash, now).await.unwrap());
    let r = send("flying").await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(code(&r.json().await.unwrap()), "idempotency_key_in_use");

    assert!(bridge
        .claim("m_demo", "stale", &hash, now - 31_000)
        .await
        .unwrap());
    let r = send("stale").await.unwrap();
    assert_eq!(
        r.status(),
        202,
        "a claim older than the lock timeout is taken over"
    );

    assert!(bridge.claim("m_demo", "unknown", &hash, now).await.unwrap());
    bridge.mark_unknown("m_demo", "unknown").await.unwrap();
    let r = send("unknown").await.unwrap();
    assert_eq!(r.status(), 202, "an unknown outcome runs again at once");
    let v: Value = r.json().await.unwrap();
    let expected = demo_payment_id("unknown");
    assert_eq!(
        v["id"],
        expected.as_str(),
        "the retry names the payment the key derives"
    );
    f.wait_status(&expected, "requires_payment_method").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn card_numbers_are_refused_wherever_they_hide() {
    let f = start_named(PAN_INJECTING, 0, None, |_| {}).await;
    let base = json!({"amount": 1_000, "currency": "INR", "confirm": true,
        "payment_method": {"type": "card", "card_token": "tok_visa_success", "card_network": "VISA"},
        "customer": {"id": "cus_1", "ip": "198.51.100.7", "country": "IN"}});
    let with = |pointer: &str, value: Value| {
        let mut b = base.clone();
        *b.pointer_mut(pointer).unwrap() = value;
        b
    };
    let grouped = "4242 4242 4242 4242";
    let cases = vec![
        (
            with("/payment_method/card_network", json!(PAN)),
            "payment_method.card_network",
        ),
        (with("/customer/id", json!(PAN)), "customer.id"),
        (with("/customer/ip", json!(grouped)), "customer.ip"),
        (with("/customer/country", json!(PAN)), "customer.country"),
        (
            {
                let mut b = base.clone();
                b["metadata"] = json!({PAN: "x"});
                b
            },
            "metadata.(key)",
        ),
        (
            {
                let mut b = base.clone();
                b["metadata"] = json!({"note": format!("card {PAN} exp 12/30")});
                b
            },
            "metadata.note",
        ),
        (
            json!({"amount": 1_000, "currency": "INR", "confirm": true,
                   "payment_method": {"type": "upi", "vpa": format!("{PAN}@okaxis")}}),
            "payment_method.vpa",
        ),
    ];
    for (body, field) in cases {
        let (s, v) = f.post("/v1/payment_intents", Some(KEY), None, &body).await;
        assert_eq!(
            (s, code(&v), v["error"]["field"].as_str()),
            (422, "raw_card_number", Some(field)),
            "{body}"
        );
        assert!(
            !v.to_string().contains("4242"),
            "the refusal never repeats the number: {v}"
        );
    }
    let (s, v) = f
        .post("/v1/payment_intents", Some(KEY), Some(PAN), &base)
        .await;
    assert_eq!((s, code(&v)), (400, "idempotency_key_invalid"), "{v}");

    // A provider webhook whose text holds a card number is refused before anything is published.
    let secret = paystream::connectors::webhook_signature::WebhookSecret::parse(
        paystream::connectors::config::DEMO_ACME_SECRET,
    )
    .unwrap();
    let hook = json!({"id": "evt_pan", "type": "charge.succeeded", "created": 1,
        "data": {"id": "ch_1", "status": "succeeded", "reference": "pay_x_att1", "payment_id": "pay_x",
                 "description": format!("card {PAN}")}});
    let raw = serde_json::to_vec(&hook).unwrap();
    let now = paystream::domain::clock::now_millis() / 1_000;
    let r = f
        .http
        .post(format!("{}/webhooks/acme", f.base))
        .header("webhook-id", "evt_pan")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", secret.sign("evt_pan", now, &raw))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(code(&r.json().await.unwrap()), "raw_card_number");

    // Over Kafka: the command is dead-lettered as invalid, its value withheld; the next one flows.
    let mut dirty = command("pay_kafka_pan", PaymentCommandKind::Create);
    dirty.customer_id = Some(format!("customer {PAN}"));
    let clean = command("pay_kafka_clean", PaymentCommandKind::Create);
    publish(&f, &[&dirty, &clean]).await;
    let letters: Vec<DeadLetter> = f.read("payments.commands.dlq", 1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let l = &letters[0];
    assert_eq!(l.error_kind, DeadLetterKind::Invalid);
    assert!(
        l.error_message.contains("customer_id"),
        "{}",
        l.error_message
    );
    assert!(l.error_message.contains("withheld"), "{}", l.error_message);
    assert!(
        l.value.is_none(),
        "the card number is not copied into the dead letter"
    );
    assert!(!l.error_message.contains("4242"), "{}", l.error_message);
    f.wait_status("pay_kafka_clean", "requires_confirmation")
        .await;
    let events: Vec<PaymentEvent> = f.read("payments.events", 1).await;
    assert!(
        events.iter().all(|e| e.payment_id != "pay_kafka_pan"),
        "the refused command changed nothing"
    );
    f.stop().await;
}

fn command(payment_id: &str, kind: PaymentCommandKind) -> PaymentCommand {
    PaymentCommand {
        command_id: format!("cmd_{}", uuid::Uuid::new_v4().simple()),
        payment_id: payment_id.into(),
        merchant_id: "m_demo".into(),
        kind,
        amount_minor: Some(12_300),
        currency: Some("INR".into()),
        capture_method: None,
        payment_method: Some(PaymentMethod {
            card_token: Some("tok_visa_success".into()),
            ..PaymentMethod::of(PaymentMethodType::Card)
        }),
        customer_id: Some("cus_kafka".into()),
        customer_ip: None,
        customer_country: Some("IN".into()),
        idempotency_key: None,
        metadata: BTreeMap::new(),
        issued_at: TimestampMillis(paystream::domain::clock::now_millis()),
        confirm: false,
    }
}

async fn publish_raw(f: &Flow, records: &[(String, Vec<u8>)]) {
    let producer: FutureProducer = paystream::runtime::kafka::producer(&f.config.kafka)
        .create()
        .unwrap();
    let topic = f.topic("payments.commands");
    for (key, payload) in records {
        producer
            .send(
                FutureRecord::to(&topic).key(key).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
}

async fn publish(f: &Flow, cmds: &[&PaymentCommand]) {
    let codec = Codec::single_object(Catalog::bundled().unwrap());
    let records: Vec<_> = cmds
        .iter()
        .map(|c| (c.key().to_owned(), codec.encode_sync(*c).unwrap()))
        .collect();
    publish_raw(f, &records).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_created_over_kafka_is_its_merchants_over_rest() {
    let f = start_configured(0, None, with_other_merchant).await;
    let mut create = command("pay_from_kafka", PaymentCommandKind::Create);
    create.confirm = true;
    publish(&f, &[&create]).await;
    let v = f.wait_status("pay_from_kafka", "succeeded").await;
    assert_eq!(v["amount"], 12_300, "{v}");
    // The audit trail over REST: every transition in sequence, from the CREATE to success.
    let trail = f
        .get_path("/v1/payment_intents/pay_from_kafka/events")
        .await;
    let statuses: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    let sequences: Vec<i64> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses.first(), Some(&"requires_confirmation"), "{trail}");
    assert_eq!(
        statuses.get(1),
        Some(&"processing"),
        "confirm applied with the CREATE: {trail}"
    );
    assert_eq!(statuses.last(), Some(&"succeeded"), "{trail}");
    let want: Vec<i64> = (1..=i64::try_from(sequences.len()).unwrap()).collect();
    assert_eq!(sequences, want, "{trail}");
    // Not the other merchant's.
    let r = f
        .http
        .get(format!("{}/v1/payment_intents/pay_from_kafka", f.base))
        .bearer_auth(OTHER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ids_the_store_cannot_key_are_dead_lettered_not_stalled() {
    let f = start(0).await;
    let empty = command("", PaymentCommandKind::Create);
    let long = command(&"p".repeat(70_000), PaymentCommandKind::Create);
    let spaced = command("pay with space", PaymentCommandKind::Create);
    let mut no_merchant = command("pay_no_merchant", PaymentCommandKind::Create);
    no_merchant.merchant_id = String::new();
    let good = command("pay_after_poison", PaymentCommandKind::Create);
    publish(&f, &[&empty, &long, &spaced, &no_merchant, &good]).await;
    f.wait_status("pay_after_poison", "requires_confirmation")
        .await;
    let letters: Vec<DeadLetter> = f.read("payments.commands.dlq", 4).await;
    let reasons: Vec<&str> = letters.iter().map(|l| l.error_message.as_str()).collect();
    assert_eq!(letters.len(), 4, "{reasons:?}");
    // Input partitions are processed in any order: compare the reasons as a set.
    let mut fields: Vec<&str> = reasons
        .iter()
        .map(|r| r.trim_start_matches("invalid: ").split(':').next().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["merchant_id", "payment_id", "payment_id", "payment_id"],
        "{reasons:?}"
    );
    for l in &letters {
        assert_eq!(l.error_kind, DeadLetterKind::Invalid, "{}", l.error_message);
        assert!(
            l.value.is_some(),
            "a poison record without a card number is kept whole"
        );
    }
    assert!(reasons.iter().any(|r| r.contains("empty")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("70000 characters")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("contains ' '")),
        "{reasons:?}"
    );
    f.stop().await;
}

/// Encodes `payment_command.avsc` (current, or a released version) with fastavro: the specification's
/// single-object encoding, written by another implementation.
fn fastavro_encode(schema_file: &str, record: &Value) -> Vec<u8> {
    let script = r#"
import io, json, sys
try:
    import fastavro
except ImportError:
    sys.exit("fastavro is missing: pip install fastavro (.ci/run installs it)")
from fastavro.schema import parse_schema, to_parsing_canonical_form, fingerprint
schema = json.load(open(sys.argv[1]))
record = json.loads(sys.argv[2])
fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
out = io.BytesIO()
fastavro.schemaless_writer(out, parse_schema(schema), record)
sys.stdout.write((b"\xc3\x01" + fp + out.getvalue()).hex())
"#;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(schema_file);
    let out = std::process::Command::new("python3")
        .args(["-c", script, path.to_str().unwrap(), &record.to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "fastavro encoding failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    hex::decode(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_encoded_by_fastavro_is_processed() {
    let f = start(0).await;
    let record = |id: &str| {
        json!({
            "command_id": format!("cmd_{id}"), "payment_id": id, "merchant_id": "m_demo",
            "kind": "CREATE", "amount_minor": 4_200, "currency": "INR", "capture_method": null,
            "payment_method": {"method_type": "UPI", "card_token": null, "card_network": null,
                "card_last4": null, "card_issuer_country": null, "vpa": "success.fa@upi",
                "bank_code": null, "wallet": null},
            "customer_id": "cus_fa", "customer_ip": null, "customer_country": "IN",
            "idempotency_key": null, "metadata": {"source": "fastavro"},
            "issued_at": paystream::domain::clock::now_millis(), "confirm": true,
        })
    };
    let current = fastavro_encode("payment_command.avsc", &record("pay_fastavro_v2"));
    let mut v1_record = record("pay_fastavro_v1");
    v1_record.as_object_mut().unwrap().remove("confirm");
    let v1 = fastavro_encode("released/payment_command/v1.avsc", &v1_record);
    // The header is the specification's: fastavro's fingerprint is paystream's.
    let codec = Codec::single_object(Catalog::bundled().unwrap());
    let ours = codec
        .encode_sync(&command("pay_x", PaymentCommandKind::Create))
        .unwrap();
    assert_eq!(current[..10], ours[..10]);
    publish_raw(
        &f,
        &[
            ("pay_fastavro_v2".into(), current),
            ("pay_fastavro_v1".into(), v1),
        ],
    )
    .await;
    f.wait_status("pay_fastavro_v2", "succeeded").await;
    // A v1 record has no `confirm`: it reads as false, so the intent waits for its confirmation.
    f.wait_status("pay_fastavro_v1", "requires_confirmation")
        .await;
    let letters: Vec<DeadLetter> = f.read("payments.commands.dlq", 0).await;
    assert!(letters.is_empty(), "nothing dead-lettered: {letters:?}");
    f.stop().await;
}

/// The payment id the bridge derives for the demo merchant's Idempotency-Key `key`.
fn demo_payment_id(key: &str) -> String {
    let merchant = paystream::domain::ids::MerchantId::parse("m_demo").unwrap();
    paystream::bridge::idempotency::payment_id(&merchant, Some(key))
        .unwrap()
        .to_string()
}

/// A signed provider webhook, as the provider would send it.
async fn signed_webhook(
    f: &Flow,
    provider: &str,
    secret: &str,
    id: &str,
    body: &Value,
) -> (u16, Value) {
    let secret = paystream::connectors::webhook_signature::WebhookSecret::parse(secret).unwrap();
    let raw = serde_json::to_vec(body).unwrap();
    let now = paystream::domain::clock::now_millis() / 1_000;
    let r = f
        .http
        .post(format!("{}/webhooks/{provider}", f.base))
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", secret.sign(id, now, &raw))
        .body(raw)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_webhooks_with_ids_the_processors_refuse_are_answered_4xx() {
    use paystream::connectors::config::{DEMO_ACME_SECRET, DEMO_TRANSFERLY_SECRET};
    let f = start(0).await;
    let charge = |n: &str, payment: &str| {
        json!({"id": n, "type": "charge.succeeded", "created": 1, "data": {"id": "ch_1",
               "status": "succeeded", "reference": format!("{}_att1", &payment[..payment.len().min(8)]), "payment_id": payment}})
    };
    // Non-ASCII, 256 characters, and one past what leaves room for the ids derived from a payment.
    let long = "p".repeat(256);
    let just_over = "p".repeat(paystream::domain::ids::PAYMENT_ID_LEN_MAX + 1);
    for (n, payment) in [
        ("evt_a", "pay_é1"),
        ("evt_b", long.as_str()),
        ("evt_c", just_over.as_str()),
    ] {
        let (status, body) =
            signed_webhook(&f, "acme", DEMO_ACME_SECRET, n, &charge(n, payment)).await;
        assert_eq!(
            (status, code(&body)),
            (422, "webhook_invalid"),
            "{payment}: {body}"
        );
        assert_eq!(body["error"]["field"], "payment_id", "{body}");
    }
    let transfer = json!({"event_id": "evt_t", "event": "transfer.processed", "created_at_ms": 1,
        "transfer": {"id": "tr_1", "request_ref": long, "status": "SUCCESS", "utr": "UTR1"}});
    let (status, body) =
        signed_webhook(&f, "transferly", DEMO_TRANSFERLY_SECRET, "evt_t", &transfer).await;
    assert_eq!((status, code(&body)), (422, "webhook_invalid"), "{body}");
    // A well-formed one is accepted, so the refusals above are the ids', not the signatures'.
    let (status, body) = signed_webhook(
        &f,
        "acme",
        DEMO_ACME_SECRET,
        "evt_ok",
        &charge("evt_ok", "pay_fine"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let published: Vec<paystream::events::ProviderWebhook> = f.read("providers.webhooks", 1).await;
    assert_eq!(
        published
            .iter()
            .map(|w| w.payment_id.as_str())
            .collect::<Vec<_>>(),
        ["pay_fine"],
        "only the accepted webhook is published"
    );
    let payout_hooks: Vec<paystream::events::ProviderWebhook> = f.read("payouts.webhooks", 0).await;
    assert!(payout_hooks.is_empty());
    f.stop().await;
}
