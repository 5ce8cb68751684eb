//! The `dango` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    dango::fault::arm_from_env();
    match dango::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
