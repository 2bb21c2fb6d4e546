//! Consuming JetStream: guild events per partition, in order; jobs, concurrently.

mod dead_letter;
mod jobs;
mod leases;
mod partitions;
mod settle;

pub(crate) use jobs::consume_jobs;
pub(crate) use leases::Leases;
pub(crate) use partitions::{ConsumeContext, supervise_partitions};
