//! The partition function spreads real-looking guild ids evenly and never changes its answer.

use aegis_protocol::{PartitionCount, partition_of};
use proptest::prelude::*;

/// A snowflake as Discord makes them: milliseconds since 2015 in the top 42 bits, then worker,
/// process and a per-process increment.
fn snowflake(ms_since_epoch: u64, worker: u64, process: u64, increment: u64) -> u64 {
    (ms_since_epoch << 22) | ((worker & 31) << 17) | ((process & 31) << 12) | (increment & 4095)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn partitions_are_stable_and_in_range(id in any::<u64>(), count in 1_u64..=1024) {
        let count = PartitionCount::new(count).expect("count in range");
        let first = partition_of(id, count);
        prop_assert!(first < count.get());
        prop_assert_eq!(first, partition_of(id, count));
    }

    #[test]
    fn partitions_spread_evenly(
        count in 1_u64..=256,
        start_ms in 0_u64..(1 << 41),
        worker in 0_u64..32,
        process in 0_u64..32,
        step_ms in 1_u64..5_000,
    ) {
        let partitions = PartitionCount::new(count).expect("count in range");
        let per_partition = 200_u64;
        let mut buckets = vec![0_u64; partitions.get().into()];
        // Guilds created in bursts: several ids per millisecond, then a gap.
        for i in 0..count * per_partition {
            let id = snowflake(start_ms + (i / 4) * step_ms, worker, process, i % 4);
            buckets[usize::from(partition_of(id, partitions))] += 1;
        }
        let (min, max) = (buckets.iter().min().copied(), buckets.iter().max().copied());
        // Expected 200 per partition (standard deviation about 14): 50% off would be 7 sigma.
        prop_assert!(min >= Some(per_partition / 2), "min {:?} of {:?}", min, buckets);
        prop_assert!(max <= Some(per_partition * 3 / 2), "max {:?} of {:?}", max, buckets);
    }
}
