//! The shape of every Aegis `main`.

use std::fmt::Display;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::{ConfigError, Env, LogFormat, init_logging, shutdown_on_signals};

/// Runs a service: reads its configuration, sets up logging, starts a tokio runtime, cancels
/// `shutdown` on SIGTERM/SIGINT, and awaits `run(config, shutdown)`.
///
/// A configuration error is printed as one line on standard error (`<service>: <error>`) and
/// exits with code 2; `run` returning an error is logged and exits with code 1.
///
/// `AEGIS_LOG_FORMAT` (`json`, default, or `pretty`) chooses the log format.
pub fn run_service<C, E, Fut>(
    service: &'static str,
    load: impl FnOnce(&Env) -> Result<C, ConfigError>,
    run: impl FnOnce(C, CancellationToken) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let env = Env::from_process();
    let loaded = env
        .parse("AEGIS_LOG_FORMAT", LogFormat::Json, "json or pretty")
        .and_then(|format| load(&env).map(|config| (format, config)));
    let (format, config) = match loaded {
        Ok(loaded) => loaded,
        Err(err) => return fail(service, &err, 2),
    };
    init_logging(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return fail(
                service,
                &format!("cannot start the async runtime: {err}"),
                1,
            );
        }
    };
    runtime.block_on(async move {
        let shutdown = shutdown_on_signals();
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
        match run(config, shutdown).await {
            Ok(()) => {
                tracing::info!(service, "stopped");
                ExitCode::SUCCESS
            }
            Err(err) => {
                tracing::error!(service, error = %err, "stopped on error");
                fail(service, &err, 1)
            }
        }
    })
}

#[allow(clippy::print_stderr)]
fn fail(service: &str, err: &dyn Display, code: u8) -> ExitCode {
    eprintln!("{service}: {err}");
    ExitCode::from(code)
}
