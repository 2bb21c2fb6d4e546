//! twilight-http 0.18, unchanged, with `proxy(addr, true)` and no token, through rest-proxy.

mod common;

use common::{channels, config, proxy, sim, sim_429};
use twilight_http::request::AuditLogReason;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;

#[tokio::test]
async fn twilight_http_works_through_the_proxy_without_a_token() {
    let sim = sim(|_| {}).await;
    let proxy = proxy(config(&sim)).await;
    let client = twilight_http::Client::builder()
        .proxy(proxy.addr().to_string(), true)
        .build();
    assert!(client.token().is_none());

    let me = client.current_user().await.unwrap().model().await.unwrap();
    assert_eq!(me.id.get(), sim.world().bot.id);

    let channel = channels(&sim)[0];
    for i in 0..6 {
        let text = format!("from twilight {i}");
        let message = client
            .create_message(Id::new(channel))
            .content(&text)
            .await
            .unwrap()
            .model()
            .await
            .unwrap();
        assert_eq!(message.content, text);
    }

    client
        .update_channel(Id::new(channel))
        .name("renamed-by-twilight")
        .reason("tidy up")
        .await
        .unwrap();
    let patch = sim
        .rest_calls()
        .into_iter()
        .find(|c| c.method == "PATCH")
        .expect("PATCH logged");
    assert_eq!(patch.reason.as_deref(), Some("tidy up"));

    let world = sim.world();
    let guild = world.guild_of_channel(channel).unwrap();
    let user = *world.guilds[&guild]
        .members
        .keys()
        .find(|id| **id != world.bot.id)
        .unwrap();
    let (id, token) = sim
        .inject_interaction(2, channel, user, serde_json::json!({"name": "ping"}))
        .unwrap();
    let interactions = client.interaction(Id::new(world.application_id));
    interactions
        .create_response(
            Id::new(id),
            &token,
            &InteractionResponse {
                kind: InteractionResponseType::ChannelMessageWithSource,
                data: Some(InteractionResponseData {
                    content: Some("pong".to_owned()),
                    ..InteractionResponseData::default()
                }),
            },
        )
        .await
        .unwrap();
    let followup = interactions
        .create_followup(&token)
        .content("follow-up")
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(followup.content, "follow-up");
    let log = sim.interaction(id).expect("interaction log");
    assert!(log.callback.is_some());
    assert_eq!(log.followups.len(), 1);
    assert_eq!(sim_429(&sim, "user"), 0);
    proxy.shutdown().await;
    sim.shutdown().await.unwrap();
}
