//! `tiercache`: the command-line tool. Each subcommand lives in a module of
//! its own; this file only parses arguments and turns errors into one line on
//! stderr and a non-zero exit.

mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tiercache",
    version,
    about = "A persistent, tiered key-value cache: demo and directory tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show all three tiers at work on a temporary directory, across a restart
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => demo::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tiercache: {e}");
            ExitCode::FAILURE
        }
    }
}
