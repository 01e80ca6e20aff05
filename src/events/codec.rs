//! The Avro codec: events to Kafka record values and back.
//!
//! Two framings, both decodable whatever the codec writes:
//! - Confluent wire format (`0x00`, 4-byte big-endian schema id, Avro binary), used when a schema
//!   registry is configured. Ids are cached after the first registration or lookup.
//! - Avro single-object encoding (`0xC3 0x01`, 8-byte little-endian CRC-64-AVRO fingerprint, Avro
//!   binary), used without a registry; the writer schema is found in the bundled [`Catalog`].
//!
//! Decoding resolves the writer schema to the reader's (this binary's current) schema, so data written
//! with an older released version reads into today's type.

use super::catalog::{Catalog, SchemaEntry};
use super::registry::{RegistryClient, RegistryError};
use super::Event;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub(crate) const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];
const CONFLUENT_MAGIC: u8 = 0x00;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    SingleObject,
    Confluent,
}

/// Why a value could not be encoded or decoded, classified for the runtime's error policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Not a framing paystream knows, truncated, or not valid Avro for its writer schema: poison.
    #[error("undecodable: {0}")]
    Undecodable(String),
    /// The framing names a schema nobody knows (fingerprint not bundled, id not in the registry): poison.
    #[error("unknown writer schema: {0}")]
    UnknownSchema(String),
    /// Valid Avro, but of another event type, or it does not fit the Rust type: poison.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The registry could not be reached: retry with backoff.
    #[error("{0}")]
    RegistryUnavailable(String),
    /// The registry refused to register a schema (incompatible with the subject's history): fatal.
    #[error("{0}")]
    RegistryRejected(String),
}

impl CodecError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, CodecError::RegistryUnavailable(_))
    }
}

impl From<RegistryError> for CodecError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Unavailable { .. } => CodecError::RegistryUnavailable(e.to_string()),
            RegistryError::Rejected { .. } => CodecError::RegistryRejected(e.to_string()),
        }
    }
}

pub struct Codec {
    catalog: Arc<Catalog>,
    registry: Option<RegistryClient>,
    /// Full name → registry id of our current schemas.
    ids: RwLock<HashMap<String, u32>>,
    /// Registry id → writer schema.
    writers: RwLock<HashMap<u32, Arc<Schema>>>,
}

impl Codec {
    /// Single-object encoding against the bundled schemas; no I/O ever.
    pub fn single_object(catalog: Arc<Catalog>) -> Self {
        Self {
            catalog,
            registry: None,
            ids: RwLock::default(),
            writers: RwLock::default(),
        }
    }

    /// Confluent wire format through `registry`.
    pub fn with_registry(catalog: Arc<Catalog>, registry: RegistryClient) -> Self {
        Self {
            catalog,
            registry: Some(registry),
            ids: RwLock::default(),
            writers: RwLock::default(),
        }
    }

    /// Confluent framing through the registry at `url` (schemas registered up front), or
    /// single-object encoding when there is none.
    pub async fn for_registry(
        registry: Option<(&str, u64)>,
        catalog: Arc<Catalog>,
    ) -> Result<Codec, CodecError> {
        let Some((url, timeout_ms)) = registry else {
            return Ok(Self::single_object(catalog));
        };
        let codec = Self::with_registry(catalog, RegistryClient::new(url, timeout_ms)?);
        codec.prepare().await?;
        Ok(codec)
    }

    pub fn wire_format(&self) -> WireFormat {
        if self.registry.is_some() {
            WireFormat::Confluent
        } else {
            WireFormat::SingleObject
        }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Registers every current schema, so the hot path never waits for the registry. A no-op without one.
    pub async fn prepare(&self) -> Result<(), CodecError> {
        let Some(registry) = &self.registry else {
            return Ok(());
        };
        let names: Vec<String> = self.catalog.current_names().map(str::to_owned).collect();
        for name in names {
            let entry = self.entry(&name)?;
            let id = registry.register(&name, &entry.text).await?;
            self.remember(&name, id, &entry.schema);
        }
        Ok(())
    }

    /// Encodes with the configured framing, registering the schema first if needed.
    pub async fn encode<E: Event>(&self, event: &E) -> Result<Vec<u8>, CodecError> {
        let entry = self.entry(E::FULL_NAME)?;
        match &self.registry {
            None => encode_single_object(&entry, event),
            Some(registry) => {
                let cached = self.read_ids().get(E::FULL_NAME).copied();
                let id = match cached {
                    Some(id) => id,
                    None => {
                        let id = registry.register(E::FULL_NAME, &entry.text).await?;
                        self.remember(E::FULL_NAME, id, &entry.schema);
                        id
                    }
                };
                let mut out = Vec::with_capacity(64);
                out.push(CONFLUENT_MAGIC);
                out.extend_from_slice(&id.to_be_bytes());
                out.extend(datum(&entry.schema, event)?);
                Ok(out)
            }
        }
    }

    /// Encodes without I/O: single-object framing, or Confluent with an id already cached.
    pub fn encode_sync<E: Event>(&self, event: &E) -> Result<Vec<u8>, CodecError> {
        let entry = self.entry(E::FULL_NAME)?;
        if self.registry.is_none() {
            return encode_single_object(&entry, event);
        }
        let id = self.read_ids().get(E::FULL_NAME).copied().ok_or_else(|| {
            CodecError::RegistryUnavailable(format!(
                "no registry id cached for {}: call Codec::prepare first",
                E::FULL_NAME
            ))
        })?;
        let mut out = vec![CONFLUENT_MAGIC];
        out.extend_from_slice(&id.to_be_bytes());
        out.extend(datum(&entry.schema, event)?);
        Ok(out)
    }

    /// Decodes either framing, fetching an unknown Confluent writer schema from the registry.
    pub async fn decode<E: Event>(&self, bytes: &[u8]) -> Result<E, CodecError> {
        self.fetch_writer_for(bytes).await?;
        self.decode_sync(bytes)
    }

    /// Fetches the writer schema of a Confluent-framed payload if it is not cached yet, so that a
    /// following [`Codec::decode_sync`] needs no I/O. A no-op for other framings.
    pub async fn fetch_writer_for(&self, bytes: &[u8]) -> Result<(), CodecError> {
        match confluent_id(bytes) {
            Some(id) if self.writer_by_id(id).is_none() => self.fetch_writer(id).await,
            _ => Ok(()),
        }
    }

    /// Decodes without I/O: single-object framing, or Confluent with the writer schema cached.
    pub fn decode_sync<E: Event>(&self, bytes: &[u8]) -> Result<E, CodecError> {
        let reader = self.entry(E::FULL_NAME)?;
        // Bundled writers are borrowed from the catalog; only a registry writer needs its Arc held here.
        let registry_writer: Arc<Schema>;
        let (writer, body): (&Schema, &[u8]) = if bytes.len() >= 10
            && bytes[..2] == SINGLE_OBJECT_MAGIC
        {
            let mut fp = [0u8; 8];
            fp.copy_from_slice(&bytes[2..10]);
            let fingerprint = u64::from_le_bytes(fp);
            let entry = self.catalog.by_fingerprint(fingerprint).ok_or_else(|| {
                CodecError::UnknownSchema(format!(
                    "fingerprint {} (header bytes) matches no bundled schema",
                    hex::encode(fp)
                ))
            })?;
            if entry.full_name != reader.full_name {
                return Err(CodecError::Invalid(format!(
                    "payload is a {}, expected a {}",
                    entry.full_name, reader.full_name
                )));
            }
            (&entry.schema, &bytes[10..])
        } else if let Some(id) = confluent_id(bytes) {
            registry_writer = self.writer_by_id(id).ok_or_else(|| {
                CodecError::RegistryUnavailable(format!(
                    "writer schema id {id} not cached: decode with Codec::decode"
                ))
            })?;
            (registry_writer.as_ref(), &bytes[5..])
        } else {
            let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Err(CodecError::Undecodable(format!(
                "{} bytes with unknown framing (starts {}): expected Avro single-object (c3 01) or Confluent (00)",
                bytes.len(),
                head.join(" ")
            )));
        };
        if let Some(name) = writer.name() {
            let name = name.fullname(None);
            if name != reader.full_name {
                return Err(CodecError::Invalid(format!(
                    "payload is a {name}, expected a {}",
                    reader.full_name
                )));
            }
        }
        let mut cursor = body;
        let value = GenericDatumReader::builder(writer)
            .reader_schema(&reader.schema)
            .build()
            .and_then(|r| r.read_value(&mut cursor))
            .map_err(|e| CodecError::Undecodable(format!("{} body: {e}", reader.full_name)))?;
        if !cursor.is_empty() {
            return Err(CodecError::Undecodable(format!(
                "{} trailing bytes after the {} datum",
                cursor.len(),
                reader.full_name
            )));
        }
        apache_avro::from_value::<E>(&value)
            .map_err(|e| CodecError::Invalid(format!("{}: {e}", reader.full_name)))
    }

    fn entry(&self, full_name: &str) -> Result<Arc<SchemaEntry>, CodecError> {
        self.catalog.current(full_name).cloned().ok_or_else(|| {
            CodecError::UnknownSchema(format!("{full_name} is not a bundled schema"))
        })
    }

    fn remember(&self, full_name: &str, id: u32, schema: &Schema) {
        if let Ok(mut ids) = self.ids.write() {
            ids.insert(full_name.to_owned(), id);
        }
        if let Ok(mut writers) = self.writers.write() {
            writers.insert(id, Arc::new(schema.clone()));
        }
    }

    fn read_ids(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, u32>> {
        // A poisoned lock only means a writer panicked mid-insert of a complete entry; the map is sound.
        self.ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn writer_by_id(&self, id: u32) -> Option<Arc<Schema>> {
        self.writers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    async fn fetch_writer(&self, id: u32) -> Result<(), CodecError> {
        let Some(registry) = &self.registry else {
            return Err(CodecError::UnknownSchema(format!(
                "Confluent schema id {id}, but no schema registry is configured"
            )));
        };
        let text = registry.schema_by_id(id).await.map_err(|e| {
            if e.is_not_found() {
                CodecError::UnknownSchema(format!("schema id {id} is not in the registry"))
            } else {
                e.into()
            }
        })?;
        let schema = Schema::parse_str(&text).map_err(|e| {
            CodecError::UnknownSchema(format!("schema id {id} does not parse: {e}"))
        })?;
        if let Ok(mut writers) = self.writers.write() {
            writers.insert(id, Arc::new(schema));
        }
        Ok(())
    }
}

fn confluent_id(bytes: &[u8]) -> Option<u32> {
    if bytes.len() >= 5 && bytes[0] == CONFLUENT_MAGIC {
        let mut id = [0u8; 4];
        id.copy_from_slice(&bytes[1..5]);
        Some(u32::from_be_bytes(id))
    } else {
        None
    }
}

fn encode_single_object<E: Event>(entry: &SchemaEntry, event: &E) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&SINGLE_OBJECT_MAGIC);
    out.extend_from_slice(&entry.fingerprint.to_le_bytes());
    out.extend(datum(&entry.schema, event)?);
    Ok(out)
}

/// The Avro binary datum of `event`. A value that does not fit the schema is a bug in the event type.
fn datum<E: Event>(schema: &Schema, event: &E) -> Result<Vec<u8>, CodecError> {
    let invalid = |e: apache_avro::Error| {
        CodecError::Invalid(format!("{} does not fit its schema: {e}", E::FULL_NAME))
    };
    let value = apache_avro::to_value(event)
        .map_err(invalid)?
        .resolve(schema)
        .map_err(invalid)?;
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{samples, PaymentCommand, PaymentEvent};
    use apache_avro::headers::{HeaderBuilder, RabinFingerprintHeader};

    fn codec() -> Codec {
        Codec::single_object(Catalog::bundled().unwrap())
    }

    #[test]
    fn single_object_header_carries_the_specification_fingerprint() {
        let c = codec();
        let bytes = c.encode_sync(&samples::payment_command()).unwrap();
        // payment_command v2's fingerprint as fastavro computes it (v1's is c0fa63a702584e88, which
        // the Java implementation computes too).
        assert_eq!(hex::encode(&bytes[..10]), "c3015939ab28642d4b74");
    }

    #[test]
    fn records_framed_with_the_legacy_fingerprint_still_decode() {
        let c = codec();
        let event = samples::payment_command();
        let current = c.encode_sync(&event).unwrap();
        let schema = &c
            .catalog()
            .current(PaymentCommand::FULL_NAME)
            .unwrap()
            .schema;
        // What paystream 0.1 wrote: apache-avro's own header.
        let mut legacy = RabinFingerprintHeader::from_schema(schema).build_header();
        assert_ne!(legacy[..], current[..10], "the two fingerprints differ");
        legacy.extend_from_slice(&current[10..]);
        let back: PaymentCommand = c.decode_sync(&legacy).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn framing_errors_are_classified() {
        let c = codec();
        type Case<'a> = (&'a [u8], fn(&CodecError) -> bool);
        let cases: [Case; 4] = [
            (b"{\"json\":1}", |e| matches!(e, CodecError::Undecodable(_))),
            (&[0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0], |e| {
                matches!(e, CodecError::UnknownSchema(_))
            }),
            (&[0x00, 0, 0, 0, 7, 1], |e| {
                matches!(e, CodecError::RegistryUnavailable(_))
            }),
            (&[], |e| matches!(e, CodecError::Undecodable(_))),
        ];
        for (bytes, is_expected) in cases {
            let err = c.decode_sync::<PaymentCommand>(bytes).unwrap_err();
            assert!(is_expected(&err), "{bytes:?}: {err:?}");
        }
    }

    #[test]
    fn wrong_type_and_truncation_are_rejected() {
        let c = codec();
        let bytes = c.encode_sync(&samples::payment_command()).unwrap();
        assert!(matches!(
            c.decode_sync::<PaymentEvent>(&bytes),
            Err(CodecError::Invalid(_))
        ));
        let truncated = &bytes[..bytes.len() - 3];
        assert!(matches!(
            c.decode_sync::<PaymentCommand>(truncated),
            Err(CodecError::Undecodable(_))
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            c.decode_sync::<PaymentCommand>(&trailing),
            Err(CodecError::Undecodable(_))
        ));
    }

    /// The Confluent framing, with ids cached as `prepare` leaves them (no registry can run in CI: see
    /// the README). Encoding writes 00 + big-endian id + datum; decoding resolves through the id.
    #[test]
    fn confluent_framing_round_trips_with_cached_ids() {
        let catalog = Catalog::bundled().unwrap();
        let registry = RegistryClient::new("http://127.0.0.1:9", 100).unwrap();
        let codec = Codec::with_registry(catalog.clone(), registry);
        let entry = catalog.current(PaymentCommand::FULL_NAME).unwrap();
        assert!(matches!(
            codec.encode_sync(&samples::payment_command()),
            Err(CodecError::RegistryUnavailable(_))
        ));
        codec.remember(PaymentCommand::FULL_NAME, 0x0102_0304, &entry.schema);
        let bytes = codec.encode_sync(&samples::payment_command()).unwrap();
        assert_eq!(&bytes[..5], &[0x00, 0x01, 0x02, 0x03, 0x04]);
        assert_eq!(
            codec.decode_sync::<PaymentCommand>(&bytes).unwrap(),
            samples::payment_command()
        );
        // Single-object data still decodes through a registry codec.
        let so = Codec::single_object(catalog)
            .encode_sync(&samples::payment_command())
            .unwrap();
        assert_eq!(
            codec.decode_sync::<PaymentCommand>(&so).unwrap(),
            samples::payment_command()
        );
    }

    #[tokio::test]
    async fn unreachable_registry_is_retryable_not_poison() {
        let registry = RegistryClient::new("http://127.0.0.1:9", 200).unwrap();
        let codec = Codec::with_registry(Catalog::bundled().unwrap(), registry);
        let err = codec
            .decode::<PaymentCommand>(&[0, 0, 0, 0, 9, 2])
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(codec.prepare().await.unwrap_err().is_retryable());
    }

    #[tokio::test]
    async fn confluent_without_registry_is_unknown_schema() {
        let err = codec()
            .decode::<PaymentCommand>(&[0, 0, 0, 0, 9, 2])
            .await
            .unwrap_err();
        assert!(matches!(err, CodecError::UnknownSchema(_)), "{err:?}");
    }
}
