//! Progress bars on stderr, drawn only when stderr is a terminal: piped or
//! redirected output never carries escape codes.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar counting bytes, or a hidden one when stderr is not a terminal.
pub fn bytes(what: &str, total: u64) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A bar counting elapsed time in tenths of a second up to `total`.
pub fn timer(what: &str, total: Duration) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total.as_millis() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {elapsed}")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A spinner for work whose length is unknown.
pub fn spinner(what: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
