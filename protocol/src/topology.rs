//! JetStream streams and durable consumers: what exists on the NATS server for one namespace.

use std::time::Duration;

use async_nats::jetstream::{consumer, stream};

use crate::{Namespace, PartitionCount, Subjects};

/// The JetStream layout of one deployment. Every process builds the same value from the same
/// configuration and passes it to [`provision`](crate::provision).
///
/// | stream | subjects | retention | consumers |
/// | --- | --- | --- | --- |
/// | `AEGIS_EVENTS` | `aegis.events.>` | limits, [`events_max_age`](Self::events_max_age) | `partition-{n}` (one per partition, one message in flight), `direct` |
/// | `AEGIS_INTERACTIONS` | `aegis.interactions` | limits, 15 minutes (an interaction token's life) | `workers` |
/// | `AEGIS_JOBS` | `aegis.jobs.>` | work queue | `workers` |
/// | `AEGIS_GATEWAY_COMMANDS` | `aegis.gateway.commands.>` | work queue, 5 minutes | `shard-{n}`, made by gateway-proxy for the shards it owns |
/// | `AEGIS_DEAD_LETTERS` | `aegis.dead.>` | limits, [`dead_letters_max_age`](Self::dead_letters_max_age) | none: read by operators and tools |
/// | `AEGIS_TICKET_EVENTS` | `aegis.tickets.>` | limits, 7 days | none: extensions make their own |
///
/// Consumers never give a message up by themselves (`max_deliver` is unlimited): the consuming
/// process counts deliveries and moves a message to the dead letters after its own limit, with
/// the error, so that nothing disappears silently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// Subject and stream-name namespace.
    pub namespace: Namespace,
    /// How many partitions guild events are spread over.
    pub partitions: PartitionCount,
    /// Stream replicas (1 for a single NATS server; 3 for a production cluster).
    pub replicas: usize,
    /// How long JetStream remembers message ids to drop duplicates. It must cover the time between
    /// gateway-proxy publishing an event and storing the session's sequence number.
    pub duplicate_window: Duration,
    /// How long events stay in the stream (consumed or not), so extensions and replays can read them.
    pub events_max_age: Duration,
    /// How long dead letters are kept.
    pub dead_letters_max_age: Duration,
    /// How long a consumer waits for an ack before redelivering (interactions use the shorter of
    /// this and 10 s: their handlers answer within Discord's 3 s or defer).
    pub ack_wait: Duration,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            namespace: Namespace::default(),
            partitions: PartitionCount::DEFAULT,
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            events_max_age: Duration::from_secs(24 * 3600),
            dead_letters_max_age: Duration::from_secs(14 * 24 * 3600),
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// One durable pull consumer of a stream.
#[derive(Clone, Debug)]
pub struct ConsumerSpec {
    /// The stream it reads.
    pub stream: String,
    /// Its configuration (the durable name is `config.durable_name`).
    pub config: consumer::pull::Config,
}

impl Topology {
    /// The subjects of this topology's namespace.
    pub fn subjects(&self) -> Subjects {
        Subjects::new(self.namespace.clone())
    }

    /// Name of the stream of guild and direct events.
    pub fn events_stream(&self) -> String {
        self.namespace.stream_name("EVENTS")
    }

    /// Name of the stream of interactions.
    pub fn interactions_stream(&self) -> String {
        self.namespace.stream_name("INTERACTIONS")
    }

    /// Name of the stream of jobs.
    pub fn jobs_stream(&self) -> String {
        self.namespace.stream_name("JOBS")
    }

    /// Name of the stream of gateway commands.
    pub fn gateway_commands_stream(&self) -> String {
        self.namespace.stream_name("GATEWAY_COMMANDS")
    }

    /// Name of the stream of dead letters.
    pub fn dead_letters_stream(&self) -> String {
        self.namespace.stream_name("DEAD_LETTERS")
    }

    /// Name of the stream of ticket events (for extensions).
    pub fn ticket_events_stream(&self) -> String {
        self.namespace.stream_name("TICKET_EVENTS")
    }

    /// Durable consumer name of one guild-event partition.
    pub fn partition_consumer(partition: u16) -> String {
        format!("partition-{partition}")
    }

    /// Durable consumer name of direct (guild-less) events.
    pub const DIRECT_CONSUMER: &'static str = "direct";
    /// Durable consumer name shared by every worker on the interactions and jobs streams.
    pub const WORKERS_CONSUMER: &'static str = "workers";

    /// Every stream, in the order they are provisioned.
    pub fn streams(&self) -> Vec<stream::Config> {
        let subjects = self.subjects();
        let base = |name: String, subject: String, description: &str| stream::Config {
            name,
            subjects: vec![subject],
            description: Some(description.to_owned()),
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            duplicate_window: self.duplicate_window,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            ..Default::default()
        };
        vec![
            stream::Config {
                max_age: self.events_max_age,
                ..base(
                    self.events_stream(),
                    subjects.events_filter(),
                    "Discord gateway dispatches",
                )
            },
            stream::Config {
                max_age: Duration::from_secs(15 * 60),
                ..base(
                    self.interactions_stream(),
                    subjects.interactions(),
                    "Discord interactions",
                )
            },
            stream::Config {
                retention: stream::RetentionPolicy::WorkQueue,
                ..base(
                    self.jobs_stream(),
                    subjects.jobs_filter(),
                    "Due scheduled work",
                )
            },
            stream::Config {
                retention: stream::RetentionPolicy::WorkQueue,
                max_age: Duration::from_secs(5 * 60),
                ..base(
                    self.gateway_commands_stream(),
                    subjects.gateway_commands_filter(),
                    "Commands for shard WebSockets",
                )
            },
            stream::Config {
                max_age: self.dead_letters_max_age,
                ..base(
                    self.dead_letters_stream(),
                    subjects.dead_letters_filter(),
                    "Messages given up after repeated failures",
                )
            },
            stream::Config {
                max_age: Duration::from_secs(7 * 24 * 3600),
                ..base(
                    self.ticket_events_stream(),
                    subjects.ticket_events_filter(),
                    "Ticket events (opened, claimed, closed, ...) for extensions",
                )
            },
        ]
    }

    /// Every durable consumer provisioned at start-up (gateway command consumers are made by
    /// gateway-proxy per owned shard, see [`gateway_command_consumer`](Self::gateway_command_consumer)).
    pub fn consumers(&self) -> Vec<ConsumerSpec> {
        let subjects = self.subjects();
        let pull = |durable: String, filter: String, max_ack_pending: i64, ack_wait| {
            consumer::pull::Config {
                durable_name: Some(durable),
                filter_subject: filter,
                ack_policy: consumer::AckPolicy::Explicit,
                deliver_policy: consumer::DeliverPolicy::All,
                ack_wait,
                max_deliver: -1,
                max_ack_pending,
                ..Default::default()
            }
        };
        let mut specs: Vec<ConsumerSpec> = (0..self.partitions.get())
            .map(|p| ConsumerSpec {
                stream: self.events_stream(),
                // One message in flight per partition: the next event of a guild is not delivered
                // before the previous one is acked, which is what keeps per-guild order.
                config: pull(
                    Self::partition_consumer(p),
                    subjects.guild_partition_filter(p),
                    1,
                    self.ack_wait,
                ),
            })
            .collect();
        specs.push(ConsumerSpec {
            stream: self.events_stream(),
            config: pull(
                Self::DIRECT_CONSUMER.to_owned(),
                subjects.direct_events_filter(),
                1_000,
                self.ack_wait,
            ),
        });
        specs.push(ConsumerSpec {
            stream: self.interactions_stream(),
            config: pull(
                Self::WORKERS_CONSUMER.to_owned(),
                subjects.interactions(),
                10_000,
                self.ack_wait.min(Duration::from_secs(10)),
            ),
        });
        specs.push(ConsumerSpec {
            stream: self.jobs_stream(),
            config: pull(
                Self::WORKERS_CONSUMER.to_owned(),
                subjects.jobs_filter(),
                10_000,
                self.ack_wait,
            ),
        });
        specs
    }

    /// The consumer gateway-proxy makes for the commands of one shard it owns.
    pub fn gateway_command_consumer(&self, shard: u32) -> ConsumerSpec {
        ConsumerSpec {
            stream: self.gateway_commands_stream(),
            config: consumer::pull::Config {
                durable_name: Some(format!("shard-{shard}")),
                filter_subject: self.subjects().gateway_command(shard),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(10),
                max_deliver: -1,
                ..Default::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Topology;
    use crate::{PartitionCount, Subjects};

    #[test]
    fn every_consumer_reads_subjects_its_stream_holds() {
        let topology = Topology::default();
        let streams = topology.streams();
        for spec in topology.consumers() {
            let stream = streams
                .iter()
                .find(|s| s.name == spec.stream)
                .expect("stream exists");
            let filter = &spec.config.filter_subject;
            let covered = stream.subjects.iter().any(|s| {
                s == filter
                    || s.strip_suffix('>')
                        .is_some_and(|prefix| filter.starts_with(prefix))
            });
            assert!(covered, "{filter} is not in {}", stream.name);
        }
    }

    #[test]
    fn one_consumer_per_partition_with_one_message_in_flight() {
        let topology = Topology {
            partitions: PartitionCount::new(8).expect("valid count"),
            ..Topology::default()
        };
        let partition_consumers: Vec<_> = topology
            .consumers()
            .into_iter()
            .filter(|c| c.config.filter_subject.contains(".events.guild."))
            .collect();
        assert_eq!(partition_consumers.len(), 8);
        assert!(
            partition_consumers
                .iter()
                .all(|c| c.config.max_ack_pending == 1)
        );
        assert_eq!(
            partition_consumers[3].config.filter_subject,
            Subjects::default().guild_partition_filter(3)
        );
    }

    #[test]
    fn stream_names_carry_the_namespace() {
        let topology = Topology::default();
        let names: Vec<String> = topology.streams().into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "AEGIS_EVENTS",
                "AEGIS_INTERACTIONS",
                "AEGIS_JOBS",
                "AEGIS_GATEWAY_COMMANDS",
                "AEGIS_DEAD_LETTERS",
                "AEGIS_TICKET_EVENTS"
            ]
        );
    }
}
