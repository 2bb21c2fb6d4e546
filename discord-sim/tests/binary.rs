//! The `discord-sim` binary: configuration errors name the variable and exit non-zero.

use std::process::Command;

#[test]
fn bad_variable_is_named_and_exits_non_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_discord-sim"))
        .env("AEGIS_SIM_SHARDS", "many")
        .env("AEGIS_SIM_ADDR", "127.0.0.1:0")
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("AEGIS_SIM_SHARDS"), "{stderr}");
}
