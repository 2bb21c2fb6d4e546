//! Consuming JetStream: guild events per partition, in order; jobs and interactions, concurrently.

mod dead_letter;
mod leases;
mod partitions;
mod settle;
mod work;

pub(crate) use leases::Leases;
pub(crate) use partitions::{ConsumeContext, supervise_partitions};
pub(crate) use work::{Work, consume_work};
