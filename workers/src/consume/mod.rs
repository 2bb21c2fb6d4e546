//! Consuming JetStream: guild events per partition, in order.

mod dead_letter;
mod leases;
mod partitions;

pub(crate) use leases::Leases;
pub(crate) use partitions::{PartitionContext, supervise_partitions};
