//! Progress bars for `popfetch run` on a terminal (issue 9, point 7): one bar per account polling, messages and
//! bytes done of the new ones. The binary decides whether there are bars at all (stderr a terminal, no `-q`; see
//! `main.rs`); cron output and logs never carry a bar byte, because without bars nothing here writes anything.
//!
//! Log lines go through [`Progress::writer`], which takes the bars off the screen, writes the line and draws them
//! again below it, so a line is never torn by a bar (indicatif's `MultiProgress::suspend`).

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run must take before the bars appear: a quick run leaves no trace of them.
pub const DRAW_AFTER: Duration = Duration::from_secs(1);

/// The bars of one process, or none. Cheap to clone; the default draws nothing.
#[derive(Debug, Clone, Default)]
pub struct Progress(Option<MultiProgress>);

impl Progress {
    /// Bars on stderr, drawn from [`DRAW_AFTER`] on. Call only when stderr is a terminal.
    pub fn on_stderr() -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let later = multi.clone();
        // A thread rather than a task: logging is set up before the runtime exists, and a sleeping thread costs
        // nothing when the run ends first (the process exits without waiting for it).
        std::thread::spawn(move || {
            std::thread::sleep(DRAW_AFTER);
            later.set_draw_target(ProgressDrawTarget::stderr());
        });
        Progress(Some(multi))
    }

    /// True when bars may be drawn.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// A bar for one account's poll of `messages` new messages of `bytes` octets (LIST sizes); removed from the
    /// screen when the returned value is dropped.
    pub fn account(&self, name: &str, messages: usize, bytes: u64) -> AccountBar {
        let Some(multi) = &self.0 else {
            return AccountBar::default();
        };
        if messages == 0 {
            return AccountBar::default();
        }
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:25}] {pos}/{len} messages, {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = multi.add(
            ProgressBar::new(messages as u64)
                .with_style(style)
                .with_prefix(name.to_owned()),
        );
        bar.enable_steady_tick(Duration::from_millis(500));
        let account = AccountBar {
            bar: Some(bar),
            done: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            total: bytes,
        };
        account.show_bytes();
        account
    }

    /// The stderr writer for log lines (a `tracing_subscriber` `MakeWriter`).
    pub fn writer(&self) -> LineWriter {
        LineWriter(self.0.clone())
    }
}

/// One account's bar; does nothing when there are no bars.
#[derive(Debug, Default)]
pub struct AccountBar {
    bar: Option<ProgressBar>,
    done: AtomicUsize,
    bytes: AtomicU64,
    total: u64,
}

impl AccountBar {
    /// One message dealt with (delivered, rejected, kept or refused): `size` is its LIST size, the unit of the
    /// total.
    pub fn message_done(&self, size: u64) {
        let Some(bar) = &self.bar else { return };
        self.done.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        bar.inc(1);
        self.show_bytes();
    }

    fn show_bytes(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{} of {}",
                HumanBytes(self.bytes.load(Ordering::Relaxed)),
                HumanBytes(self.total)
            ));
        }
    }
}

/// Writes each log line to stderr with the bars taken away around it. `tracing_subscriber`'s fmt layer hands over
/// a whole formatted line in one `write_all`, so each line is written in one piece.
#[derive(Debug, Clone)]
pub struct LineWriter(Option<MultiProgress>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let write = || io::stderr().lock().write_all(buf).map(|()| buf.len());
        match &self.0 {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_bars_nothing_is_drawn_and_counting_is_a_no_op() {
        let p = Progress::default();
        assert!(!p.is_enabled());
        let bar = p.account("a", 3, 300);
        bar.message_done(100);
        assert!(bar.bar.is_none());
    }

    #[test]
    fn a_bar_counts_messages_and_bytes() {
        let p = Progress(Some(MultiProgress::with_draw_target(
            ProgressDrawTarget::hidden(),
        )));
        assert!(p.account("a", 0, 0).bar.is_none(), "no bar for no mail");
        let bar = p.account("a", 2, 3 * 1024);
        bar.message_done(1024);
        let b = bar.bar.as_ref().unwrap();
        assert_eq!((b.position(), b.length()), (1, Some(2)));
        assert_eq!(b.message(), "1.00 KiB of 3.00 KiB");
    }
}
