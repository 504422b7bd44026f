//! The `keap-sandbox` binary: a local stand-in for Keap. Usage, behaviour
//! and the control API are documented on the library crate (`src/lib.rs`).

use std::io::Write;
use std::process::ExitCode;

use keap_sandbox::{Command, Config, USAGE};

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => *config,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("keap-sandbox: {e}");
            return ExitCode::from(2);
        }
    };
    let handle = match keap_sandbox::start(config) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("keap-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "listening on {}", handle.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("keap-sandbox: cannot write to stdout");
    }
    handle.wait();
    ExitCode::SUCCESS
}
