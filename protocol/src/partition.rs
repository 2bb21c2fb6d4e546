//! Guild -> partition, the basis of per-guild ordering.

use std::fmt;

/// How many partitions guild events are spread over: 1 to 1024, the same in every process.
///
/// Each partition is consumed in order by one worker at a time, so this bounds how many workers
/// can process guild events in parallel. Changing it moves guilds between partitions: drain the
/// events stream first (see the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartitionCount(u16);

/// Why a number is not a valid [`PartitionCount`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid partition count {0}: expected 1 to {max}", max = PartitionCount::MAX)]
pub struct PartitionCountError(pub u64);

impl PartitionCount {
    /// The largest supported count (each partition has its own durable consumer).
    pub const MAX: u16 = 1024;
    /// The default: enough parallelism for a few dozen workers.
    pub const DEFAULT: Self = Self(64);

    /// Validates a partition count.
    pub fn new(count: u64) -> Result<Self, PartitionCountError> {
        match u16::try_from(count) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(PartitionCountError(count)),
        }
    }

    /// The count as a number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for PartitionCount {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for PartitionCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The partition (`0..count`) that carries every event of `guild_id`.
///
/// Snowflakes are not uniform in their low bits (they hold a per-process increment), so the id
/// is first mixed with the SplitMix64 finaliser, then reduced modulo `count`. The function is
/// part of the protocol: an extension in another language reproduces it as
///
/// ```text
/// z = guild_id (as unsigned 64-bit, wrapping arithmetic)
/// z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
/// z = (z ^ (z >> 27)) * 0x94d049bb133111eb
/// z =  z ^ (z >> 31)
/// partition = z mod count
/// ```
pub fn partition_of(guild_id: u64, count: PartitionCount) -> u16 {
    let mut z = guild_id;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // The remainder is below `count`, which is a u16.
    (z % u64::from(count.get())) as u16
}

#[cfg(test)]
mod tests {
    use super::{PartitionCount, partition_of};

    #[test]
    fn known_values_are_fixed_forever() {
        // Changing these breaks every deployed extension: the function is part of the protocol.
        let count = PartitionCount::DEFAULT;
        assert_eq!(partition_of(0, count), 0);
        let ids = [
            1_u64,
            2,
            3,
            1_000_000_000_000_000_000,
            81_384_788_765_712_384,
        ];
        let sample: Vec<u16> = ids.iter().map(|id| partition_of(*id, count)).collect();
        // Computed independently (Python) from the pseudo-code in the doc comment.
        assert_eq!(sample, vec![37, 10, 48, 50, 61]);
    }

    #[test]
    fn counts_outside_the_range_are_refused() {
        assert!(PartitionCount::new(0).is_err());
        assert!(PartitionCount::new(1025).is_err());
        assert!(PartitionCount::new(u64::MAX).is_err());
        assert_eq!(PartitionCount::new(1024).map(PartitionCount::get), Ok(1024));
    }
}
