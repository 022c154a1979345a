//! Identifiers: deterministic gids from a seeded counter, and unguessable opaque tokens.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// SplitMix64: a tiny, well-mixed permutation of `u64`, enough to make counters look random.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Deterministic UUIDv4-looking gids: the same seed gives the same sequence in every run.
#[derive(Debug, Clone)]
pub(crate) struct GidGen {
    seed: u64,
    counter: u64,
}

impl GidGen {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed, counter: 0 }
    }

    /// The next gid, formatted like a version-4 UUID.
    pub(crate) fn next_gid(&mut self) -> String {
        self.counter += 1;
        let a = splitmix64(self.seed ^ splitmix64(self.counter));
        let b = splitmix64(a ^ self.counter.rotate_left(32));
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }
}

/// Opaque bearer tokens: a counter (so they are unique) plus 128 bits hashed with a per-process
/// random key (so they can't be guessed from outside the process).
#[derive(Debug)]
pub(crate) struct TokenGen {
    key: RandomState,
    counter: u64,
}

impl TokenGen {
    pub(crate) fn new() -> Self {
        Self {
            key: RandomState::new(),
            counter: 0,
        }
    }

    fn mix(&self, n: u64, lane: u64) -> u64 {
        let mut h = self.key.build_hasher();
        h.write_u64(n);
        h.write_u64(lane);
        h.finish()
    }

    pub(crate) fn next_token(&mut self) -> String {
        self.counter += 1;
        let n = self.counter;
        format!("dev.{n}.{:016x}{:016x}", self.mix(n, 1), self.mix(n, 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gids_are_deterministic_unique_and_uuid_shaped() {
        let mut a = GidGen::new(7);
        let mut b = GidGen::new(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let g = a.next_gid();
            assert_eq!(g, b.next_gid());
            assert_eq!(g.len(), 36);
            assert_eq!(&g[14..15], "4");
            assert!(seen.insert(g));
        }
        assert_ne!(GidGen::new(8).next_gid(), GidGen::new(7).next_gid());
    }

    #[test]
    fn tokens_differ_between_generators() {
        let mut a = TokenGen::new();
        let mut b = TokenGen::new();
        assert_ne!(a.next_token(), b.next_token());
        assert_ne!(a.next_token(), a.next_token());
    }
}
