//! `crm`: see `crm --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let traces = crm_api::telemetry::init();
    let code = match crm_api::cli::run(crm_api::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            std::process::ExitCode::FAILURE
        }
    };
    // The spans still batched go out before the process ends.
    let _ = traces.shutdown();
    code
}
