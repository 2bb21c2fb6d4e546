//! `gateway-proxy`: see the crate README.

use std::process::ExitCode;

/// mimalloc: per-event buffers (frames, headers, envelopes) made glibc malloc a third of the
/// process's CPU at tens of thousands of events per second.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    aegis_service::run_service(
        "gateway-proxy",
        aegis_gateway_proxy::Config::from_env,
        aegis_gateway_proxy::run,
    )
}
