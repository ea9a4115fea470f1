//! `figctl`: the command line for Fig.
//!
//! ```text
//! figctl secret generate     print a new client secret (256 random bits)
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

const HELP: &str = "figctl: the command line for Fig

usage:
  figctl secret generate   print a new client secret (256 random bits, base64url)
  figctl --help            this help

More commands (client register/fetch/watch, audit query/verify) come with later releases.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["secret", "generate"] => {
            println!("{}", fig_sdk::ClientSecret::generate().expose());
            ExitCode::SUCCESS
        }
        []
        | ["--help" | "-h" | "help"]
        | ["secret", "--help" | "-h"]
        | ["secret", "generate", "--help" | "-h"] => {
            println!("{HELP}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "figctl: unknown command '{}'; see figctl --help",
                args.join(" ")
            );
            ExitCode::from(2)
        }
    }
}
