//! The `rest-proxy` binary: see the crate README.

use std::process::ExitCode;

/// mimalloc: every request allocates its head, body, route keys and two HTTP exchanges' buffers;
/// glibc malloc was a sixth of the process's CPU at full load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    aegis_service::run_service(
        "rest-proxy",
        aegis_rest_proxy::Config::from_env,
        aegis_rest_proxy::run,
    )
}
