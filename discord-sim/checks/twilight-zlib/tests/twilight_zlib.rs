//! The twilight-gateway checks of `discord-sim/tests/gateway_twilight.rs`, compiled here with
//! twilight's `zlib` feature (zlib-stream transport compression) instead of `zstd`.

#[path = "../../../tests/gateway_twilight.rs"]
mod gateway_twilight;
