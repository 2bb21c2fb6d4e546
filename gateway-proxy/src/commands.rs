//! Gateway commands from NATS (presence update, request guild members) to the owning shard.

use std::time::Duration;

use aegis_protocol::{Envelope, GatewayCommand, Topology, headers};
use aegis_service::CancellationToken;
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use crate::shard::CommandRequest;

/// Opcodes a client may ask a shard to send: 3 presence update, 8 request guild members.
/// Everything else (identify, resume, heartbeat) belongs to the shard alone.
const ALLOWED_OPS: [u8; 2] = [3, 8];

/// Reads `aegis.gateway.commands.{shard}` and hands each command to the shard, acking it once it
/// went out (or was refused as invalid), answering on `Aegis-Reply-To` when the sender asked.
pub(crate) async fn forward_commands(
    client: async_nats::Client,
    js: jetstream::Context,
    topology: Topology,
    shard: u32,
    to_shard: mpsc::Sender<CommandRequest>,
    shutdown: CancellationToken,
) {
    let spec = topology.gateway_command_consumer(shard);
    let consumer = loop {
        match js
            .create_consumer_on_stream(spec.config.clone(), spec.stream.as_str())
            .await
        {
            Ok(consumer) => break consumer,
            Err(err) => {
                tracing::warn!(shard, error = %err, "cannot create the gateway command consumer; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    };
    loop {
        let mut messages = match consumer.messages().await {
            Ok(messages) => messages,
            Err(err) => {
                tracing::warn!(shard, error = %err, "cannot read gateway commands; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                    () = shutdown.cancelled() => return,
                }
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                () = shutdown.cancelled() => return,
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    tracing::debug!(shard, error = %err, "gateway command stream error");
                    continue;
                }
                None => break,
            };
            let reply_to = message
                .headers
                .as_ref()
                .and_then(|h| h.get(headers::REPLY_TO))
                .map(|v| v.as_str().to_owned());
            let outcome = match validate(&message.payload, shard) {
                Ok(payload) => send(&to_shard, payload).await,
                Err(err) => Err(err),
            };
            match &outcome {
                Ok(()) => tracing::debug!(shard, "gateway command sent"),
                Err(err) => tracing::warn!(shard, error = %err, "gateway command refused"),
            }
            if let Err(err) = message.ack_with(AckKind::Ack).await {
                tracing::debug!(shard, error = %err, "cannot ack a gateway command");
            }
            if let Some(reply_to) = reply_to {
                let body = match &outcome {
                    Ok(()) => r#"{"sent":true}"#.to_owned(),
                    Err(err) => serde_json::json!({ "sent": false, "error": err }).to_string(),
                };
                if let Err(err) = client.publish(reply_to, body.into()).await {
                    tracing::debug!(shard, error = %err, "cannot answer a gateway command");
                }
            }
        }
    }
}

/// Checks a command and builds the payload the shard sends.
fn validate(bytes: &[u8], shard: u32) -> Result<String, String> {
    let command = GatewayCommand::decode(bytes).map_err(|e| e.to_string())?;
    if command.shard != shard {
        return Err(format!(
            "command for shard {} arrived on the subject of shard {shard}",
            command.shard
        ));
    }
    if !ALLOWED_OPS.contains(&command.op) {
        return Err(format!(
            "opcode {} cannot be sent by extensions (only 3 and 8)",
            command.op
        ));
    }
    let data: &RawValue =
        serde_json::from_slice(&command.data).map_err(|e| format!("data is not JSON: {e}"))?;
    Ok(format!(r#"{{"op":{},"d":{}}}"#, command.op, data.get()))
}

async fn send(to_shard: &mpsc::Sender<CommandRequest>, payload: String) -> Result<(), String> {
    let (done, result) = oneshot::channel();
    to_shard
        .send(CommandRequest { payload, done })
        .await
        .map_err(|_| "the shard has stopped".to_owned())?;
    result
        .await
        .map_err(|_| "the shard stopped before sending".to_owned())?
}

#[cfg(test)]
mod tests {
    use aegis_protocol::{Envelope, GatewayCommand, PROTOCOL_VERSION};
    use bytes::Bytes;

    use super::validate;

    fn command(shard: u32, op: u8, data: &'static str) -> Vec<u8> {
        GatewayCommand {
            v: PROTOCOL_VERSION,
            shard,
            op,
            data: Bytes::from_static(data.as_bytes()),
        }
        .encode()
        .expect("encodes")
        .to_vec()
    }

    #[test]
    fn member_requests_pass_and_identify_does_not() {
        let ok = validate(
            &command(0, 8, r#"{"guild_id":"1","limit":0,"query":""}"#),
            0,
        );
        assert_eq!(
            ok.as_deref(),
            Ok(r#"{"op":8,"d":{"guild_id":"1","limit":0,"query":""}}"#)
        );
        assert!(validate(&command(0, 2, "{}"), 0).is_err());
        assert!(validate(&command(1, 8, "{}"), 0).is_err());
        assert!(validate(&command(0, 3, "{not json"), 0).is_err());
        assert!(validate(b"garbage", 0).is_err());
    }
}
