//! A stable 64-bit hash, for the store digests replay logs carry: the same bytes hash to the
//! same value on every platform, in every release and every process (unlike std's
//! `DefaultHasher`, whose algorithm may change and whose keys are random). It reads eight
//! bytes at a time, so digesting the store costs little beside parsing it. It is a check
//! against accidents, not an adversary.

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Hashes byte strings fed in with [`StableHasher::write`].
#[derive(Clone, Debug)]
pub(crate) struct StableHasher {
    state: u64,
}

impl StableHasher {
    pub(crate) fn new(seed: u64) -> Self {
        StableHasher { state: seed ^ K }
    }

    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(K).rotate_left(29);
    }

    /// Feeds `bytes`, with their length, so `("ab", "c")` and `("a", "bc")` differ.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        let rest = chunks.remainder();
        w.get_mut(..rest.len())
            .unwrap_or_default()
            .copy_from_slice(rest);
        self.mix(u64::from_le_bytes(w));
        self.mix(bytes.len() as u64);
    }

    /// Feeds one number.
    pub(crate) fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    /// The hash: murmur3's finaliser, so every input bit reaches every output bit.
    pub(crate) fn finish(&self) -> u64 {
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(parts: &[&[u8]]) -> u64 {
        let mut h = StableHasher::new(0);
        for p in parts {
            h.write(p);
        }
        h.finish()
    }

    #[test]
    fn the_hash_never_changes() {
        // Logs recorded by one release are checked by the next: these values are part of the
        // replay log format.
        assert_eq!(hash(&[]), 0x9ca0_66f1_a4ab_2eea);
        assert_eq!(
            hash(&[b"records", b"r1", br#"{"a":1}"#]),
            0x4fd2_fab4_f09b_da44
        );
    }

    #[test]
    fn boundaries_and_every_byte_count() {
        assert_ne!(hash(&[b"ab", b"c"]), hash(&[b"a", b"bc"]));
        assert_ne!(hash(&[b"a\0"]), hash(&[b"a"]));
        let text = b"0123456789abcdefghij";
        let all: std::collections::BTreeSet<u64> =
            (0..=text.len()).map(|n| hash(&[&text[..n]])).collect();
        assert_eq!(all.len(), text.len() + 1);
    }
}
