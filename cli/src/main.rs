//! `tiercache`: the command-line tool. Each subcommand lives in a module of
//! its own; this file only parses arguments and turns failures into one line
//! on stderr and an exit status (0 success, 1 "no", 2 error: see `failure`).

mod atrest;
mod bench;
mod bytes;
mod cachedir;
mod compact;
mod demo;
mod dump;
mod failure;
mod get;
mod progress;
mod put;
mod rm;
mod stats;
mod tags;
mod units;
mod verify;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use failure::Failure;

const EXIT_CODES: &str = "\
Exit status: 0 success; 1 the answer is no (get/rm: key not found; verify: corruption found);
2 an error (bad usage, a missing directory or one in use by another process, I/O).
Errors are reported as one line on stderr starting with `tiercache: `.";

const KEY_HELP: &str = "\
KEY and VALUE are the bytes of the arguments as given. For other bytes, pass --hex and give
them as hex digits (an optional 0x prefix is allowed), or for put give VALUE as - to read it
from standard input. A KEY or VALUE that starts with - goes after -- (tiercache get DIR -- -k).";

#[derive(Parser)]
#[command(
    name = "tiercache",
    version,
    about = "A persistent, tiered key-value cache: demo and tools for cache directories",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Read the encryption key of encrypted cache directories from this file
    /// (32 bytes, or 64 hex digits); or set TIERCACHE_KEY to 64 hex digits.
    /// Never give the key itself on the command line.
    #[arg(long, global = true, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

/// A cache directory that must exist already.
#[derive(Args)]
struct Dir {
    /// The cache directory (it is not created)
    dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Show all three tiers at work on a temporary directory, across a restart
    Demo,
    /// Show the sizes and statistics of a cache directory
    #[command(after_help = EXIT_CODES)]
    Stats {
        #[command(flatten)]
        dir: Dir,
        /// Print one JSON object with every field instead of a table
        #[arg(long)]
        json: bool,
        /// Also connect to this remote tier (redis://host:port, …) and show
        /// its state and counters
        #[arg(long, value_name = "URL")]
        remote: Option<String>,
        /// The remote tier's namespace (default "tiercache")
        #[arg(long, value_name = "NS", requires = "remote")]
        namespace: Option<String>,
    },
    /// Check every record of a cache directory without changing it
    #[command(
        long_about = "Check every record of a cache directory without changing it.\n\n\
            Prints one line `FILE OFFSET REASON` per corrupt record or bad segment header, \
            `note:` lines for torn tails of the active segment and missing hint files \
            (neither is corruption), and a summary line.",
        after_help = "Exit status: 0 nothing corrupt; 1 corruption found; 2 the directory could not be checked \
            (missing, not a cache directory, in use by another process, I/O error)."
    )]
    Verify {
        #[command(flatten)]
        dir: Dir,
    },
    /// Compact a cache directory now: rewrite live records, delete dead segments
    #[command(after_help = EXIT_CODES)]
    Compact {
        #[command(flatten)]
        dir: Dir,
    },
    /// List every live key (sorted by its bytes) with its value's size and expiry
    #[command(
        long_about = "List every live key, sorted by its bytes, one tab-separated line per key: \
            KEY, value size in bytes, expiry (`never` or a UTC time, followed by ` expired` if it has passed), \
            and with --values the value. Keys and values are shown as text when they are printable UTF-8, \
            otherwise as hex starting with 0x.",
        after_help = EXIT_CODES
    )]
    Dump {
        #[command(flatten)]
        dir: Dir,
        /// Show each value too
        #[arg(long)]
        values: bool,
        /// Show every key and value as hex
        #[arg(long)]
        hex: bool,
        /// Show each entry's tags too (after the expiry, space-separated)
        #[arg(long)]
        tags: bool,
    },
    /// Write the value of KEY to stdout, byte for byte
    #[command(after_help = format!("{KEY_HELP}\n\n{EXIT_CODES}"))]
    Get {
        #[command(flatten)]
        dir: Dir,
        /// The key
        key: OsString,
        /// KEY is given as hex digits
        #[arg(long)]
        hex: bool,
    },
    /// Store VALUE under KEY (creates the directory if it does not exist)
    #[command(after_help = format!("{KEY_HELP}\n\n{EXIT_CODES}"))]
    Put {
        /// The cache directory (created if it does not exist)
        dir: PathBuf,
        /// The key
        key: OsString,
        /// The value; `-` reads it from standard input
        value: OsString,
        /// Expire the entry after this long: a number and a unit, ms, s, m, h or d (e.g. 500ms, 10s, 2h)
        #[arg(long, value_parser = units::parse_duration_ms, value_name = "DURATION")]
        ttl: Option<u64>,
        /// Tag the entry (repeat for more tags; `tiercache rm-tag` removes by tag)
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<OsString>,
        /// The entry is valid while this file is unchanged (mtime, size, inode)
        #[arg(long, value_name = "PATH")]
        depends_on: Option<PathBuf>,
        /// KEY and VALUE (and tags) are given as hex digits
        #[arg(long)]
        hex: bool,
        /// Compress the value on disk if that makes it smaller: none, lz4 or zstd
        #[arg(long, value_parser = atrest::parse_compression, value_name = "CODEC")]
        compression: Option<tiercache::Compression>,
    },
    /// Remove KEY
    #[command(after_help = format!("{KEY_HELP}\n\n{EXIT_CODES}"))]
    Rm {
        #[command(flatten)]
        dir: Dir,
        /// The key
        key: OsString,
        /// KEY is given as hex digits
        #[arg(long)]
        hex: bool,
    },
    /// Remove every entry carrying TAG; prints how many had a live value
    #[command(name = "rm-tag", after_help = format!("{KEY_HELP}\n\nExit status 1 if no live entry carried TAG.\n\n{EXIT_CODES}"))]
    RmTag {
        #[command(flatten)]
        dir: Dir,
        /// The tag
        tag: OsString,
        /// TAG is given as hex digits
        #[arg(long)]
        hex: bool,
    },
    /// Show what the cache knows about KEY: size, expiry, write time, tier, tags, dependency
    #[command(after_help = format!("{KEY_HELP}\n\n{EXIT_CODES}"))]
    Info {
        #[command(flatten)]
        dir: Dir,
        /// The key
        key: OsString,
        /// KEY is given as hex digits
        #[arg(long)]
        hex: bool,
    },
    /// Run a short mixed workload on a temporary directory and report throughput and latency per tier
    #[command(after_help = EXIT_CODES)]
    Bench {
        /// How long to run the workload
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Worker threads sharing one cache
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Bytes per value
        #[arg(long, default_value_t = 256)]
        value_size: usize,
        /// Keys written before the run (a twentieth of them, at most 256, are hot)
        #[arg(long, default_value_t = 10_000)]
        keys: u64,
        /// How memory (L1) chooses what to evict
        #[arg(long, value_enum, default_value_t = bench::L1PolicyArg::Lru)]
        l1_policy: bench::L1PolicyArg,
    },
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Demo => Ok(demo::run()?),
        Command::Stats {
            dir,
            json,
            remote,
            namespace,
        } => stats::run(&dir.dir, json, remote.as_deref(), namespace.as_deref()),
        Command::Verify { dir } => verify::run(&dir.dir),
        Command::Compact { dir } => compact::run(&dir.dir),
        Command::Dump { dir, values, hex, tags } => dump::run(&dir.dir, values, hex, tags),
        Command::RmTag { dir, tag, hex } => tags::remove(&dir.dir, &tag, hex),
        Command::Info { dir, key, hex } => tags::info(&dir.dir, &key, hex),
        Command::Get { dir, key, hex } => get::run(&dir.dir, &key, hex),
        Command::Put {
            dir,
            key,
            value,
            ttl,
            tags,
            depends_on,
            hex,
            compression: _,
        } => put::run(
            &dir,
            &key,
            &value,
            put::Extras {
                ttl_ms: ttl,
                tags,
                depends_on,
            },
            hex,
        ),
        Command::Rm { dir, key, hex } => rm::run(&dir.dir, &key, hex),
        Command::Bench {
            seconds,
            threads,
            value_size,
            keys,
            l1_policy,
        } => bench::run(&bench::Config {
            seconds,
            threads,
            value_size,
            keys,
            l1_policy,
        }),
    }
}

/// Help and version go to stdout as clap prints them; a usage error becomes
/// one line (clap's first line, and where to find help).
fn parse() -> Result<Cli, Failure> {
    Cli::try_parse().map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => e.exit(),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            Failure::error("no command given; `tiercache --help` lists them")
        }
        _ => {
            // clap's message: an `error: ` line, maybe indented lines naming
            // arguments and `tip:` lines, then a usage section.
            let text = e.render().to_string();
            let message = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect::<Vec<_>>()
                .join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            Failure::error(format!("{message}; see `tiercache --help`"))
        }
    })
}

/// The message of the first panic, kept by the panic hook for `main`.
static PANIC: OnceLock<String> = OnceLock::new();

fn main() -> ExitCode {
    // A panic is a bug; it is reported as one line like any failure, never
    // as a backtrace. The hook only records it: the library also catches
    // panics of its own (in loaders), and those must stay quiet.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = PANIC.set(format!("{msg}{at}"));
    }));
    let result = std::panic::catch_unwind(|| {
        parse().and_then(|cli| {
            let compression = match &cli.command {
                Command::Put { compression, .. } => *compression,
                _ => None,
            };
            atrest::init(cli.key_file.as_deref(), std::env::var_os(atrest::KEY_ENV), compression)?;
            run(cli.command)
        })
    })
    .unwrap_or_else(|_| {
        let what = PANIC.get().map_or("a panic", String::as_str);
        if what.starts_with("failed printing to stdout") && what.contains("Broken pipe") {
            // `println!` (the demo's) found the reader gone: `tiercache demo | head`.
            return Err(Failure::output(std::io::ErrorKind::BrokenPipe.into()));
        }
        Err(Failure::error(format!(
            "internal error (a bug; please report it): {what}"
        )))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let Some(m) = f.message {
                eprintln!("tiercache: {m}");
            }
            ExitCode::from(f.code)
        }
    }
}
