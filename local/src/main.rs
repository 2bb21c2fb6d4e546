//! `aegis-local`: every Aegis process and the Discord simulator in one process. See the README.

use std::process::ExitCode;

fn main() -> ExitCode {
    aegis_service::run_service(
        "aegis-local",
        aegis_local::LocalConfig::from_env,
        aegis_local::run,
    )
}
