//! Independent check: twilight-http 0.18 performs the moderation/ticket routes against the
//! simulator and deserialises every response into twilight-model types.

mod common;

use std::time::Duration;

use serde_json::json;
use twilight_http::Client;
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_http::request::AuditLogReason;
use twilight_model::application::command::Command;
use twilight_model::channel::ChannelType;
use twilight_model::channel::message::MessageFlags;
use twilight_model::guild::Permissions;
use twilight_model::http::attachment::Attachment;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::http::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::id::Id;
use twilight_model::util::Timestamp;

fn client(sim: &discord_sim::SimHandle) -> Client {
    Client::builder()
        .proxy(sim.addr().to_string(), true)
        .token(sim.token().to_owned())
        .timeout(Duration::from_secs(10))
        .build()
}

fn code(e: twilight_http::Error) -> u64 {
    match e.kind() {
        ErrorType::Response {
            error: ApiError::General(g),
            ..
        } => g.code,
        other => panic!("expected a Discord error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilight_http_moderation_routes() {
    let sim = common::sim(|c| {
        c.guilds = 1;
        c.members = 20;
    })
    .await;
    let world = sim.world();
    let gid = *world.guilds.keys().next().expect("guild");
    let g = &world.guilds[&gid];
    let guild = Id::new(gid);
    let http = client(&sim);

    let me = http
        .current_user()
        .await
        .expect("me")
        .model()
        .await
        .expect("user");
    assert_eq!(me.id.get(), world.bot.id);
    let app = http
        .current_user_application()
        .await
        .expect("app")
        .model()
        .await
        .expect("application");
    assert_eq!(app.id.get(), world.application_id);
    let gateway = http
        .gateway()
        .authed()
        .await
        .expect("gateway/bot")
        .model()
        .await
        .expect("gateway model");
    assert_eq!(gateway.url, sim.gateway_url());
    assert_eq!(gateway.session_start_limit.remaining, 1000);
    let gm = http
        .guild(guild)
        .await
        .expect("guild")
        .model()
        .await
        .expect("guild model");
    assert_eq!(gm.name, g.name);
    let members = http
        .guild_members(guild)
        .limit(100)
        .await
        .expect("members")
        .models()
        .await
        .expect("member models");
    assert_eq!(members.len(), 21);
    let found = http
        .search_guild_members(guild, "a")
        .limit(100)
        .await
        .expect("search")
        .models()
        .await
        .expect("models");
    assert!(
        !found.is_empty()
            && found
                .iter()
                .all(|m| m.user.name.to_lowercase().starts_with('a')
                    || m.nick
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().starts_with('a')))
    );

    // A plain member (no roles above the bot) can be timed out, roled, banned and kicked.
    let target = g
        .members
        .values()
        .find(|m| m.roles.is_empty() && m.user_id != g.owner_id)
        .expect("plain member")
        .user_id;
    let user = Id::new(target);
    // twilight validates the 28-day cap itself, so check the simulator's answer directly.
    let auth = common::bot_auth(&sim);
    let body = json!({"communication_disabled_until": "2099-01-01T00:00:00Z"}).to_string();
    let (status, _, resp) = common::http(
        &sim,
        "PATCH",
        &format!("/api/v10/guilds/{gid}/members/{target}"),
        &[("Authorization", &auth)],
        Some(&body),
    )
    .await;
    assert_eq!(status, 400);
    let resp: serde_json::Value = serde_json::from_str(&resp).expect("json");
    assert_eq!(resp["code"], 50035);
    assert!(resp["errors"]["communication_disabled_until"]["_errors"][0]["code"].is_string());
    let soon = Timestamp::from_secs(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("now")
                .as_secs(),
        )
        .expect("secs")
            + 600,
    )
    .expect("ts");
    let member = http
        .update_guild_member(guild, user)
        .communication_disabled_until(Some(soon))
        .reason("calm down")
        .await
        .expect("timeout")
        .model()
        .await
        .expect("member");
    assert!(member.communication_disabled_until.is_some());
    let log = http
        .audit_log(guild)
        .await
        .expect("audit")
        .model()
        .await
        .expect("audit model");
    assert_eq!(log.entries[0].reason.as_deref(), Some("calm down"));

    let member_role = g
        .roles
        .values()
        .find(|r| r.name == "Member")
        .expect("role")
        .id;
    http.add_guild_member_role(guild, user, Id::new(member_role))
        .await
        .expect("add role");
    http.remove_guild_member_role(guild, user, Id::new(member_role))
        .await
        .expect("remove role");
    let admin_role = g
        .roles
        .values()
        .find(|r| r.name == "Admin")
        .expect("admin")
        .id;
    assert_eq!(
        code(
            http.add_guild_member_role(guild, user, Id::new(admin_role))
                .await
                .expect_err("above bot")
        ),
        50013
    );

    // Hierarchy: the owner (Admin, above the bot's role) cannot be banned.
    assert_eq!(
        code(
            http.create_ban(guild, Id::new(g.owner_id))
                .await
                .expect_err("owner")
        ),
        50013
    );
    http.create_ban(guild, user)
        .delete_message_seconds(3600)
        .reason("spam")
        .await
        .expect("ban");
    let ban = http
        .ban(guild, user)
        .await
        .expect("get ban")
        .model()
        .await
        .expect("ban model");
    assert_eq!(ban.reason.as_deref(), Some("spam"));
    let bans = http
        .bans(guild)
        .await
        .expect("bans")
        .models()
        .await
        .expect("ban models");
    assert_eq!(bans.len(), 1);
    http.delete_ban(guild, user).await.expect("unban");
    assert_eq!(code(http.ban(guild, user).await.expect_err("gone")), 10026);
    assert_eq!(
        code(
            http.guild_member(guild, user)
                .await
                .expect_err("banned members leave")
        ),
        10007
    );

    let kicked = g
        .members
        .values()
        .filter(|m| m.roles.is_empty() && m.user_id != target && m.user_id != g.owner_id)
        .nth(1)
        .expect("another")
        .user_id;
    http.remove_guild_member(guild, Id::new(kicked))
        .await
        .expect("kick");
    assert_eq!(
        code(
            http.guild_member(guild, Id::new(kicked))
                .await
                .expect_err("kicked")
        ),
        10007
    );
    assert_eq!(
        code(http.guild(Id::new(1)).await.expect_err("unknown guild")),
        10004
    );

    // Channels, overwrites, threads.
    let general = Id::new(
        g.channels
            .values()
            .find(|c| c.name == "general")
            .expect("general")
            .id,
    );
    let category = g
        .channels
        .values()
        .find(|c| c.name == "Tickets")
        .expect("category")
        .id;
    let ticket = http
        .create_guild_channel(guild, "ticket-1")
        .kind(ChannelType::GuildText)
        .parent_id(Id::new(category))
        .await
        .expect("create channel")
        .model()
        .await
        .expect("channel");
    let renamed = http
        .update_channel(ticket.id)
        .name("ticket-1-closed")
        .await
        .expect("modify")
        .model()
        .await
        .expect("channel");
    assert_eq!(renamed.name.as_deref(), Some("ticket-1-closed"));
    let overwrite = PermissionOverwrite {
        allow: Some(Permissions::VIEW_CHANNEL),
        deny: None,
        id: user.cast(),
        kind: PermissionOverwriteType::Member,
    };
    http.update_channel_permission(ticket.id, &overwrite)
        .await
        .expect("overwrite");
    http.delete_channel_permission(ticket.id)
        .member(user)
        .await
        .expect("delete overwrite");
    let thread = http
        .create_thread(ticket.id, "notes", ChannelType::PrivateThread)
        .await
        .expect("thread")
        .model()
        .await
        .expect("thread model");
    assert_eq!(thread.kind, ChannelType::PrivateThread);

    // Messages.
    let m1 = http
        .create_message(ticket.id)
        .content("hello")
        .await
        .expect("send")
        .model()
        .await
        .expect("message");
    let m2 = http
        .create_message(ticket.id)
        .content("second")
        .await
        .expect("send")
        .model()
        .await
        .expect("message");
    let m3 = http
        .create_message(ticket.id)
        .content("third")
        .await
        .expect("send")
        .model()
        .await
        .expect("message");
    let edited = http
        .update_message(ticket.id, m1.id)
        .content(Some("hello!"))
        .await
        .expect("edit")
        .model()
        .await
        .expect("message");
    assert!(edited.edited_timestamp.is_some());
    let history = http
        .channel_messages(ticket.id)
        .limit(2)
        .await
        .expect("history")
        .models()
        .await
        .expect("messages");
    assert_eq!(
        history.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![m3.id, m2.id]
    );
    let before = http
        .channel_messages(ticket.id)
        .before(m3.id)
        .limit(10)
        .await
        .expect("history")
        .models()
        .await
        .expect("messages");
    assert_eq!(before.len(), 2);
    http.delete_message(ticket.id, m3.id).await.expect("delete");
    assert_eq!(
        code(http.message(ticket.id, m3.id).await.expect_err("deleted")),
        10008
    );
    http.delete_messages(ticket.id, &[m1.id, m2.id])
        .await
        .expect("bulk delete");
    assert!(
        http.channel_messages(ticket.id)
            .await
            .expect("history")
            .models()
            .await
            .expect("messages")
            .is_empty()
    );
    assert_eq!(
        code(http.create_message(ticket.id).await.expect_err("empty")),
        50006
    );
    http.delete_channel(ticket.id)
        .await
        .expect("delete channel")
        .model()
        .await
        .expect("channel");
    assert_eq!(
        code(http.channel(ticket.id).await.expect_err("gone")),
        10003
    );

    // Attachments travel as multipart/form-data (payload_json + files[n]).
    let files = [Attachment::from_bytes(
        "transcript.txt".to_owned(),
        b"ticket log".to_vec(),
        1,
    )];
    let with_file = http
        .create_message(general)
        .content("transcript")
        .attachments(&files)
        .await
        .expect("multipart message")
        .model()
        .await
        .expect("message");
    assert_eq!(with_file.attachments[0].filename, "transcript.txt");
    assert_eq!(with_file.attachments[0].size, 10);

    let dm = http
        .create_private_channel(user)
        .await
        .expect("dm")
        .model()
        .await
        .expect("private channel");
    assert_eq!(dm.kind, ChannelType::Private);
    http.create_message(dm.id)
        .content("you were warned")
        .await
        .expect("dm message")
        .model()
        .await
        .expect("message");

    let calls = sim.rest_calls();
    assert!(
        calls
            .iter()
            .any(|c| c.reason.as_deref() == Some("spam") && c.path.contains("/bans/"))
    );
    sim.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilight_http_interactions_and_commands() {
    let sim = common::sim(|c| {
        c.guilds = 1;
        c.members = 5;
        c.interaction_deadline = Duration::from_millis(1500);
    })
    .await;
    let world = sim.world();
    let gid = *world.guilds.keys().next().expect("guild");
    let g = &world.guilds[&gid];
    let channel = g
        .channels
        .values()
        .find(|c| c.name == "general")
        .expect("general")
        .id;
    let http = client(&sim);
    let app = Id::new(world.application_id);
    let ih = http.interaction(app);

    let commands: Vec<Command> = serde_json::from_value(json!([
        {"name": "ban", "description": "Ban a member", "type": 1, "version": "1", "options": [{"type": 6, "name": "user", "description": "who", "required": true}]},
        {"name": "ticket", "description": "Open a ticket", "type": 1, "version": "1"}
    ]))
    .expect("commands");
    let set = ih
        .set_global_commands(&commands)
        .await
        .expect("global")
        .models()
        .await
        .expect("command models");
    assert!(set.iter().all(|c| c.id.is_some()));
    let guild_set = ih
        .set_guild_commands(Id::new(gid), &commands[..1])
        .await
        .expect("guild")
        .models()
        .await
        .expect("models");
    assert_eq!(guild_set.len(), 1);
    assert_eq!(
        ih.global_commands()
            .await
            .expect("list")
            .models()
            .await
            .expect("models")
            .len(),
        2
    );

    let data = json!({"id": set[0].id.expect("id").to_string(), "name": "ban", "type": 1, "options": [{"name": "user", "type": 6, "value": g.owner_id.to_string()}]});
    let (iid, token) = sim
        .inject_interaction(2, channel, g.owner_id, data.clone())
        .expect("inject");
    let response = InteractionResponse {
        kind: InteractionResponseType::DeferredChannelMessageWithSource,
        data: Some(InteractionResponseData {
            flags: Some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }),
    };
    ih.create_response(Id::new(iid), &token, &response)
        .await
        .expect("defer");
    assert_eq!(
        code(
            ih.create_response(Id::new(iid), &token, &response)
                .await
                .expect_err("twice")
        ),
        40060
    );
    let original = ih
        .update_response(&token)
        .content(Some("Banned."))
        .await
        .expect("edit original")
        .model()
        .await
        .expect("message");
    assert_eq!(original.content, "Banned.");
    let follow = ih
        .create_followup(&token)
        .content("Case #1 recorded")
        .await
        .expect("followup")
        .model()
        .await
        .expect("message");
    ih.update_followup(&token, follow.id)
        .content(Some("Case #1 recorded (edited)"))
        .await
        .expect("edit followup");
    let fetched = ih
        .response(&token)
        .await
        .expect("original")
        .model()
        .await
        .expect("message");
    assert_eq!(fetched.id, original.id);
    let log = sim.interaction(iid).expect("log");
    assert_eq!(
        log.callback.as_ref().map(|c| c["type"].clone()),
        Some(json!(5))
    );
    assert_eq!(log.followups.len(), 1);

    // Too late: the first callback after the deadline gets 10062.
    let (late, late_token) = sim
        .inject_interaction(2, channel, g.owner_id, data)
        .expect("inject");
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let reply = InteractionResponse {
        kind: InteractionResponseType::ChannelMessageWithSource,
        data: Some(InteractionResponseData {
            content: Some("hi".into()),
            ..InteractionResponseData::default()
        }),
    };
    assert_eq!(
        code(
            ih.create_response(Id::new(late), &late_token, &reply)
                .await
                .expect_err("late")
        ),
        10062
    );
    sim.shutdown().await.expect("shutdown");
}
