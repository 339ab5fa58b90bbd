//! Stopping on a signal, the one way both `popfetch daemon` and `popfetch run` stop (issue 9, point 6).
//!
//! The first SIGTERM/SIGINT fires the pollers' [`Shutdown`](crate::poller::Shutdown): each finishes the message in
//! flight (RETR, DATA, the end-of-DATA reply, the state fsync, DELE), starts no other, and QUITs both sides. The
//! wait is bounded by the stop grace; past it, or on a second signal, the process exits at once with the
//! guarantees of `kill -9` (the state is append-only and fsynced per message, and a POP3 link dropped without QUIT
//! commits no DELE: nothing is lost, at most the message in flight is delivered again and the next run logs it).

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::Control;
use crate::error::ExitClass;

/// Why the wait for in-flight work ended before the work did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The stop grace is over.
    GraceOver,
    /// A second stop request came.
    SecondStop,
}

/// The line for the first stop request. `running` is the number of polls in progress when the caller knows it.
pub fn log_stopping(running: Option<usize>, grace: Duration) {
    let who = match running {
        Some(n) => format!("{n} poll(s) in progress finish"),
        None => "each account finishes".to_owned(),
    };
    info!(
        "stopping: {who} their current message (at most {} s); a second SIGTERM or SIGINT exits at once",
        grace.as_secs()
    );
}

/// Resolves when the stop grace (counted from the call) is over, or at the next [`Control::Stop`], whichever comes
/// first. Other control messages are ignored; a closed channel leaves only the grace.
///
/// # Cancel safety
/// Cancel-safe: a control message taken and then dropped is one that was ignored anyway.
pub async fn second_stop_or_grace(
    control: &mut mpsc::UnboundedReceiver<Control>,
    grace: Duration,
) -> Cut {
    let deadline = Instant::now() + grace;
    let second = async {
        loop {
            match control.recv().await {
                Some(Control::Stop) => return,
                Some(other) => debug!("ignoring {other:?} while stopping"),
                None => std::future::pending::<()>().await,
            }
        }
    };
    tokio::select! {
        () = tokio::time::sleep_until(deadline) => Cut::GraceOver,
        () = second => Cut::SecondStop,
    }
}

/// The line for leaving with work in progress.
pub fn log_cut(cut: Cut, grace: Duration, running: Option<usize>) {
    let running = running.map_or_else(|| "the polls".to_owned(), |n| format!("{n} poll(s)"));
    match cut {
        Cut::GraceOver => warn!(
            "stop grace of {} s over with {running} still running; exiting now: their message in flight stays on \
             the server or, if the MTA took it, is delivered again once (the next run logs it)",
            grace.as_secs()
        ),
        Cut::SecondStop => warn!(
            "second stop request: exiting now with {running} running (as after kill -9: nothing is lost, a message \
             in flight may be delivered again once)"
        ),
    }
}

/// `popfetch run` under signals: `work` (the polls, which watch the receiver side of `stop`) runs to its end;
/// the first [`Control::Stop`] fires `stop`, and from then on the wait is bounded as the daemon's is.
///
/// Returns the work's class, made at least [`ExitClass::TempFail`] once a stop was requested (the rest of the
/// mail waits for the next run, docs/decisions.md "Interrupting run"); [`ExitClass::TempFail`] when the work was
/// abandoned. The caller must not wait for abandoned tasks (`Runtime::shutdown_background`).
pub async fn interruptible(
    work: impl Future<Output = ExitClass>,
    mut control: mpsc::UnboundedReceiver<Control>,
    stop: watch::Sender<bool>,
    grace: Duration,
) -> ExitClass {
    tokio::pin!(work);
    let stop_requested = async {
        loop {
            match control.recv().await {
                Some(Control::Stop) => return,
                Some(_) => {}
                None => std::future::pending::<()>().await,
            }
        }
    };
    tokio::select! {
        class = &mut work => return class,
        () = stop_requested => {}
    }
    log_stopping(None, grace);
    let _ = stop.send(true);
    tokio::select! {
        class = &mut work => class.worst(ExitClass::TempFail),
        cut = second_stop_or_grace(&mut control, grace) => {
            log_cut(cut, grace, None);
            ExitClass::TempFail
        }
    }
}

/// Install handlers for SIGTERM and SIGINT only (what `popfetch run` obeys; the daemon adds SIGHUP and SIGUSR1 in
/// [`super::signals`]) and forward them as [`Control::Stop`]. Call it before the work starts, so that no signal
/// meets its default action (immediate death) while a message is in flight.
///
/// # Errors
/// When a handler cannot be installed (no runtime, or the OS refuses).
pub fn signals() -> std::io::Result<mpsc::UnboundedReceiver<Control>> {
    use tokio::signal::unix::SignalKind;
    forward(&[
        (SignalKind::terminate(), Control::Stop),
        (SignalKind::interrupt(), Control::Stop),
    ])
}

/// One task per signal kind, each forwarding its signal as its [`Control`] until the receiver is gone.
pub(super) fn forward(
    kinds: &[(tokio::signal::unix::SignalKind, Control)],
) -> std::io::Result<mpsc::UnboundedReceiver<Control>> {
    let (tx, rx) = mpsc::unbounded_channel();
    for &(kind, c) in kinds {
        let mut s = tokio::signal::unix::signal(kind)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(c).is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_that_ends_first_keeps_its_class() {
        let (_tx, rx) = mpsc::unbounded_channel();
        let (stop, _) = watch::channel(false);
        let class = interruptible(
            async { ExitClass::Partial },
            rx,
            stop,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(class, ExitClass::Partial);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_fires_the_shutdown_and_the_finished_work_exits_75() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, mut watched) = watch::channel(false);
        let work = async move {
            watched.wait_for(|s| *s).await.unwrap();
            ExitClass::Ok
        };
        tx.send(Control::PollNow).unwrap();
        tx.send(Control::Stop).unwrap();
        let class = interruptible(work, rx, stop, Duration::from_secs(5)).await;
        assert_eq!(class, ExitClass::TempFail);
    }

    #[tokio::test(start_paused = true)]
    async fn the_grace_or_a_second_stop_abandons_the_work() {
        for second in [false, true] {
            let (tx, rx) = mpsc::unbounded_channel();
            let (stop, _) = watch::channel(false);
            tx.send(Control::Stop).unwrap();
            if second {
                tx.send(Control::Stop).unwrap();
            }
            let t = Instant::now();
            let class = interruptible(
                std::future::pending::<ExitClass>(),
                rx,
                stop,
                Duration::from_secs(60),
            )
            .await;
            assert_eq!(class, ExitClass::TempFail);
            let waited = t.elapsed();
            if second {
                assert!(waited < Duration::from_secs(1), "{waited:?}");
            } else {
                assert_eq!(waited, Duration::from_secs(60));
            }
        }
    }
}
