//! `latchkey`: the OAuth 2.1 authorization server and its management commands, in one binary.
use std::process::ExitCode;

use clap::Parser;

use latchkey::cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the whole chain: "cannot open database: unable to open database file".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
