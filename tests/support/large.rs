//! Large messages generated in the test (never stored), what a destination must receive of them, and the peak
//! memory (VmHWM) of the popfetch process that fetched them, read while it waits for the reply to its QUIT (its
//! work done, so the peak is final): issue 11 point 2, bounded memory for every destination.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::pop3::Pop3Behavior;
use super::world::TARGET;

/// A message of about `size` octets: a header block with a Date field, then lines that test transparency (dots at
/// line starts, 8-bit bytes) and normalisation (a bare LF, a bare CR, `\r\r\n`).
pub fn large(n: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <sender{n}@remote.test>\r\nDelivered-To: {TARGET}\r\nDate: Tue, 1 Dec 2026 08:05:09 -0130\r\n\
         From: sender{n}@remote.test\r\nTo: {TARGET}\r\nSubject: message {n}\r\n\r\n"
    )
    .into_bytes();
    let mut i = 0;
    while m.len() < size {
        let line: &[u8] = match i % 6 {
            0 => b".starts with a dot\r\n",
            1 => b"..two dots and 8-bit \xc3\xa9\xff\r\n",
            2 => b"bare lf\n",
            3 => b"bare cr\r",
            4 => b"cr run\r\r\n",
            _ => b"plain line of the body, long enough to matter ......................................\r\n",
        };
        m.extend_from_slice(line);
        i += 1;
    }
    m.extend_from_slice(b".\r\nlast line\r\n");
    m
}

/// What the header pipeline makes of `raw` (line endings normalised to CRLF, Delivered-To for the target
/// removed), before popfetch's Received field.
pub fn piped(raw: &[u8]) -> Vec<u8> {
    let (norm, _, _) = popfetch::headers::normalize_line_endings(raw);
    let text = norm.into_owned();
    let drop = format!("Delivered-To: {TARGET}\r\n").into_bytes();
    let at = text.windows(drop.len()).position(|w| w == drop).unwrap();
    [&text[..at], &text[at + drop.len()..]].concat()
}

/// [`piped`] with LF line endings, as an MDA and a Maildir get it.
pub fn piped_lf(raw: &[u8]) -> Vec<u8> {
    popfetch::deliver::lf::to_lf(&piped(raw))
}

/// The peak resident memory of a popfetch run, read by the fake POP3 server's QUIT hook.
#[derive(Clone, Default)]
pub struct PeakMemory {
    pid: Arc<AtomicU32>,
    kib: Arc<Mutex<Option<u64>>>,
}

impl PeakMemory {
    /// Install the hook in the POP3 behaviour.
    pub fn install(&self, b: &mut Pop3Behavior) {
        let me = self.clone();
        b.on_quit = Some(Arc::new(move || {
            let pid = me.pid.load(Ordering::SeqCst);
            if pid != 0 {
                *me.kib.lock().unwrap() = vm_hwm(pid);
            }
        }));
    }

    /// The process to measure (set right after spawning it).
    pub fn watch(&self, pid: u32) {
        self.pid.store(pid, Ordering::SeqCst);
    }

    /// VmHWM in KiB, if the QUIT was seen.
    pub fn kib(&self) -> Option<u64> {
        *self.kib.lock().unwrap()
    }
}

/// `VmHWM` of `pid` in KiB (Linux /proc/PID/status).
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak memory a run may reach, whatever the message size: far below one copy of the 50 MiB test message.
pub const BOUND_KIB: u64 = 40 * 1024;

/// `popfetch -c CFG run` with its peak memory read into `peak` (whose hook the POP3 fake has), to completion.
pub fn run_measured(cfg: &std::path::Path, peak: &PeakMemory) -> super::Output {
    let child = super::spawn_popfetch(cfg, &["run"], &[]);
    peak.watch(child.pid());
    let out = child.wait(super::run::RUN_TIMEOUT);
    assert!(!out.timed_out, "popfetch timed out: {}", out.all());
    out
}

/// A world holding one [`large`] message of 50 MiB, its POP3 fake measuring the client's peak memory at QUIT.
pub fn measured_world() -> (super::world::World, PeakMemory, Vec<u8>) {
    let raw = large(1, 50 << 20);
    let peak = PeakMemory::default();
    let w = super::world::World::plain_with(vec![super::Msg::new("uid-1", raw.clone())], |b| {
        peak.install(b)
    });
    (w, peak, raw)
}

/// After a [`run_measured`] of a [`measured_world`]: memory stayed under [`BOUND_KIB`], no spool file is left,
/// the maildrop is empty.
pub fn assert_bounded_and_done(w: &super::world::World, peak: &PeakMemory) {
    let kib = peak.kib().expect("popfetch sent QUIT");
    assert!(
        kib < BOUND_KIB,
        "peak memory {kib} KiB for a 50 MiB message"
    );
    assert!(!w.state.path().join("isp.spool").exists());
    assert!(
        w.pop.mailbox_uids().is_empty(),
        "{:?}",
        w.pop.mailbox_uids()
    );
}

/// Run popfetch on `cfg` and kill it at `mid_data` in the first streamed body (after its first 64 KiB went into
/// DATA, with most of the RETR still to come; catalog C-02); the MTA saw the DATA phase cut and reached no end of
/// data.
pub fn killed_mid_stream(w: &super::world::World, cfg: &std::path::Path) {
    let killed = super::world::run_env(cfg, &["run"], &[("POPFETCH_FAILPOINT", "mid_data:1")]);
    assert!(
        killed.stderr.contains("popfetch-failpoint: mid_data"),
        "{}",
        killed.all()
    );
    assert_eq!(killed.code, -1, "not killed: {}", killed.all());
    let aborted = |s: &super::FakeSmtp| s.sessions().iter().map(|x| x.aborted_data).sum::<usize>();
    assert!(
        w.smtp
            .wait_until(std::time::Duration::from_secs(10), |s| aborted(s) == 1),
        "the MTA did not see the DATA phase cut"
    );
    assert!(
        w.smtp.transactions().is_empty(),
        "the MTA reached end of data"
    );
}

/// A world holding a 4 MiB [`large`] message `uid-1` and `second` as `uid-2`, whose server closes the connection
/// 2 MiB into the first RETR (catalog P-20).
pub fn dying_world(second: Vec<u8>) -> (super::world::World, Vec<u8>) {
    let raw = large(1, 4 << 20);
    let w = super::world::World::plain(vec![
        super::Msg::new("uid-1", raw.clone()),
        super::Msg::new("uid-2", second),
    ]);
    w.pop.update(|b| b.drop_during_retr = Some((0, 2 << 20)));
    (w, raw)
}

/// The run of a [`dying_world`] kept everything (exit 75, nothing deleted, no spool left); then the server heals
/// and the next run delivers both.
pub fn assert_kept_then_delivered(
    w: &super::world::World,
    out: &super::Output,
    cfg: &std::path::Path,
) {
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(!w.state.path().join("isp.spool").exists());
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    w.pop.update(|b| b.drop_during_retr = None);
    let out = super::world::run(cfg, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(w.pop.mailbox_uids().is_empty());
}
