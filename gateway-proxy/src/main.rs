//! `gateway-proxy`: see the crate README.

use std::process::ExitCode;

fn main() -> ExitCode {
    aegis_service::run_service(
        "gateway-proxy",
        aegis_gateway_proxy::Config::from_env,
        aegis_gateway_proxy::run,
    )
}
