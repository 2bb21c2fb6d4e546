//! Guild settings: PostgreSQL is the truth, Redis a cache invalidated on change.

use aegis_storage::testing::TestDatabase;
use aegis_storage::{GuildSettings, Settings};
use redis::AsyncCommands;

async fn redis() -> redis::aio::ConnectionManager {
    let client = redis::Client::open("redis://127.0.0.1:6379").expect("url");
    redis::aio::ConnectionManager::new(client)
        .await
        .expect("Redis answers")
}

fn prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("aegis-test:{}:{nanos}", std::process::id())
}

#[tokio::test]
async fn a_change_reaches_every_worker_through_invalidation() {
    let db = TestDatabase::create().await.expect("test database");
    let pool = db.connect(2).await.expect("pool").pool().clone();
    let prefix = prefix();
    let worker_a = Settings::new(pool.clone(), Some(redis().await), &prefix);
    let worker_b = Settings::new(pool, Some(redis().await), &prefix);

    assert_eq!(
        worker_a.get(5).await.expect("defaults"),
        GuildSettings::default()
    );
    let cached: Option<String> = redis()
        .await
        .get(worker_a.cache_key(5))
        .await
        .expect("redis");
    assert!(cached.is_some(), "a read fills the cache");

    let new = GuildSettings {
        mod_log_channel: Some(77),
        dm_on_action: true,
        ..Default::default()
    };
    worker_b.set(5, &new).await.expect("stored").expect("valid");
    assert_eq!(
        worker_a.get(5).await.expect("read"),
        new,
        "worker A sees B's change at once"
    );
    let _: () = redis()
        .await
        .del(worker_a.cache_key(5))
        .await
        .expect("cleanup");
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn without_redis_settings_still_work_and_bad_values_are_refused() {
    let db = TestDatabase::create().await.expect("test database");
    let settings = Settings::new(
        db.connect(2).await.expect("pool").pool().clone(),
        None,
        "unused",
    );
    let bad = GuildSettings {
        warn_expiry_days: Some(99_999),
        ..Default::default()
    };
    let refused = settings.set(1, &bad).await.expect("database answers");
    assert_eq!(refused.map_err(|e| e.field), Err("warn_expiry_days"));
    assert_eq!(
        settings.get(1).await.expect("read"),
        GuildSettings::default(),
        "nothing stored"
    );
    let good = GuildSettings {
        mute_role: Some(3),
        ..Default::default()
    };
    settings
        .set(1, &good)
        .await
        .expect("database")
        .expect("valid");
    assert_eq!(settings.get(1).await.expect("read"), good);
    db.drop_database().await.expect("drop");
}

#[tokio::test]
async fn a_corrupt_cached_copy_falls_back_to_the_database() {
    let db = TestDatabase::create().await.expect("test database");
    let prefix = prefix();
    let settings = Settings::new(
        db.connect(2).await.expect("pool").pool().clone(),
        Some(redis().await),
        &prefix,
    );
    let good = GuildSettings {
        dm_on_action: true,
        ..Default::default()
    };
    settings
        .set(8, &good)
        .await
        .expect("database")
        .expect("valid");
    let _: () = redis()
        .await
        .set(settings.cache_key(8), "{not json")
        .await
        .expect("redis");
    assert_eq!(settings.get(8).await.expect("read"), good);
    let _: () = redis()
        .await
        .del(settings.cache_key(8))
        .await
        .expect("cleanup");
    db.drop_database().await.expect("drop");
}
