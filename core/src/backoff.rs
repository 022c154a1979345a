//! Reconnection backoff with seeded jitter, so the same inputs always give the same delays.

use std::time::Duration;

use crate::rng::Rng;

/// The delay before reconnect attempt `attempt` (0-based), computed as socket.io-client's
/// `Backoff.duration` does: `min * factor^attempt`, moved up or down by up to
/// `randomization * itself`, then capped at `max`. The cap applies after the jitter, so capped
/// delays can still dip below `max`.
pub(crate) fn delay(
    min: Duration,
    max: Duration,
    factor: f64,
    randomization: f64,
    attempt: u32,
    rng: &mut Rng,
) -> Duration {
    let min_ms = min.as_secs_f64() * 1000.0;
    let max_ms = max.as_secs_f64() * 1000.0;
    let exp = i32::try_from(attempt).unwrap_or(i32::MAX);
    let mut ms = min_ms * factor.max(1.0).powi(exp);
    if !ms.is_finite() {
        ms = max_ms;
    }
    if randomization > 0.0 && randomization <= 1.0 {
        let r = rng.next_f64();
        let deviation = (r * randomization * ms).floor();
        // socket.io-client decides the direction from the first decimal of the same draw.
        if ((r * 10.0).floor() as u64) % 2 == 0 {
            ms -= deviation;
        } else {
            ms += deviation;
        }
    }
    let ms = ms.min(max_ms).max(0.0);
    Duration::from_millis(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_socket_io_client_ranges() {
        let mut rng = Rng::new(7);
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(5));
        for _ in 0..1000 {
            let d0 = delay(min, max, 2.0, 0.5, 0, &mut rng).as_millis();
            assert!((500..=1500).contains(&d0), "{d0}");
            let d1 = delay(min, max, 2.0, 0.5, 1, &mut rng).as_millis();
            assert!((1000..=3000).contains(&d1), "{d1}");
            let d2 = delay(min, max, 2.0, 0.5, 2, &mut rng).as_millis();
            assert!((2000..=5000).contains(&d2), "{d2}");
            let d9 = delay(min, max, 2.0, 0.5, 9, &mut rng).as_millis();
            assert!(d9 <= 5000, "{d9}");
        }
    }

    #[test]
    fn without_jitter_the_delay_doubles_up_to_the_cap() {
        let mut rng = Rng::new(0);
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(5));
        let ms: Vec<u128> = (0..5)
            .map(|n| delay(min, max, 2.0, 0.0, n, &mut rng).as_millis())
            .collect();
        assert_eq!(ms, [1000, 2000, 4000, 5000, 5000]);
        assert_eq!(delay(min, max, 2.0, 0.0, u32::MAX, &mut rng), max);
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..20)
                .map(|n| {
                    delay(
                        Duration::from_secs(1),
                        Duration::from_secs(5),
                        2.0,
                        0.5,
                        n,
                        &mut rng,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }
}
