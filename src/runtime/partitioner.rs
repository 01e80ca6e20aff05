//! The partition a key belongs to: the Java client's default partitioner for keyed records
//! (`toPositive(murmur2(key)) % partitions`), which librdkafka calls `murmur2_random` and which every
//! paystream producer uses. A stateful processor keeps a key's state in the changelog partition of
//! that number, so an input on any other partition (an upstream producer with another partitioner:
//! librdkafka's default `consistent_random` is CRC32) is moved there before it is applied.

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), bit for bit.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java hashes an int length; keys are far below 2^32 bytes, and a longer one hashes as the max.
    let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut h = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        // Java's switch falls through from the highest tail byte down.
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of `key` among `partitions` (at least one), as the Java client and paystream's
/// producers place it.
pub fn partition_of(key: &[u8], partitions: i32) -> i32 {
    let positive = murmur2(key) & 0x7fff_ffff;
    match u32::try_from(partitions) {
        // A positive i31 modulo a positive i32 fits in an i32.
        Ok(n) if n > 0 => i32::try_from(positive % n).unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java) and
    /// librdkafka's (src/rdmurmur2.c), as Java's signed ints.
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: &[(&str, i32)] = &[
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
            ("kafka", -798_503_068),
            ("1", -1_993_445_489),
            ("12", 126_087_238),
            ("123", -267_702_483),
            ("1234", -1_614_185_708),
            ("12345", -1_188_365_604),
        ];
        for (key, want) in cases {
            let got = i32::from_le_bytes(murmur2(key.as_bytes()).to_le_bytes());
            assert_eq!(got, *want, "murmur2({key:?})");
        }
    }

    #[test]
    fn partitions_are_the_positive_hash_modulo_the_count() {
        // toPositive(-973932308) = 1173551340; % 12 = 0, % 7 = 3.
        assert_eq!(partition_of(b"21", 12), 1_173_551_340 % 12);
        assert_eq!(partition_of(b"21", 7), 1_173_551_340 % 7);
        for key in ["pay_1", "m_demo", "", "x"] {
            for n in 1..=16 {
                assert!((0..n).contains(&partition_of(key.as_bytes(), n)));
            }
        }
        assert_eq!(partition_of(b"anything", 0), 0);
    }
}
