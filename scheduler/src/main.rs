//! `scheduler`: see the crate README.

use std::process::ExitCode;

fn main() -> ExitCode {
    aegis_service::run_service(
        "scheduler",
        aegis_scheduler::Config::from_env,
        aegis_scheduler::run,
    )
}
