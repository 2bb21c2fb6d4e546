//! The `rest-proxy` binary: see the crate README.

use std::process::ExitCode;

fn main() -> ExitCode {
    aegis_service::run_service(
        "rest-proxy",
        aegis_rest_proxy::Config::from_env,
        aegis_rest_proxy::run,
    )
}
