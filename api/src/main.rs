//! `crm`: see `crm --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    crm_api::telemetry::init();
    match crm_api::cli::run(crm_api::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            std::process::ExitCode::FAILURE
        }
    }
}
