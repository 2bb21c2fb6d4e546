//! `workers`: see the crate README.

use std::process::ExitCode;

fn main() -> ExitCode {
    aegis_service::run_service(
        "workers",
        aegis_workers::Config::from_env,
        aegis_workers::run,
    )
}
