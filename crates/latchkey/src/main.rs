//! `latchkey`: the OAuth 2.1 authorization server and its management commands, in one binary.
use std::process::ExitCode;

use clap::Parser;

use latchkey::cli;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
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

/// `latchkey metadata | head` closes our stdout early. Rust ignores SIGPIPE, so the next `println!`
/// panics with "failed printing to stdout: Broken pipe"; the reader has taken all it wanted, so that one
/// panic ends the process quietly and successfully, like a tool killed by SIGPIPE would, instead of
/// printing a panic message. Every other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
