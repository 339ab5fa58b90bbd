//! The crash matrix of issue 6 (catalog C-01, C-02, C-03, C-04, C-05, C-16): the real binary is killed with SIGKILL at
//! each named step of the delivery flow (`POPFETCH_FAILPOINT=NAME:K`, debug builds only, see src/failpoint.rs),
//! 20 times per step with K = 1..=20 and varying message counts; after each kill one clean run must leave every
//! message delivered, none lost, nothing on the server, and duplicates only for a message the MTA had accepted
//! and popfetch had not recorded (the killed one at `after_eod_250`, or the one in flight at the MTA while the next
//! was read: src/poller/lanes.rs), each logged as a possible duplicate by the clean run. The exact rule is
//! tests/support/crash.rs.
//!
//! Each kill gets its own fakes and state directory; kills run on a few threads so the whole matrix (100 kills,
//! 200 runs of the binary) stays well under a minute.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use support::wait_until;
use support::world::*;

/// The named points of the flow, in order (src/poller/).
const POINTS: &[&str] = &[
    "after_retr",
    // Part of the content written after the 354, no terminator (src/smtp/transaction.rs).
    "mid_data",
    "after_eod_250",
    "after_state_fsync",
    "after_dele",
    "after_quit",
];

/// Kills per point.
const KILLS: usize = 20;

/// One kill: message count `m`, point `point`, K-th pass. Returns an error text instead of panicking so the
/// matrix can report every failing cell at once.
fn crash_cell(point: &str, k: usize, m: usize) -> Result<(), String> {
    let w = World::plain(msgs(m));
    let cfg = w.default_config();
    let spec = format!("{point}:{k}");
    let killed = run_env(&cfg.path, &["run"], &[("POPFETCH_FAILPOINT", &spec)]);
    if !killed
        .stderr
        .contains(&format!("popfetch-failpoint: {point}"))
    {
        return Err(format!(
            "{spec} m={m}: failpoint not reached: {}",
            killed.all()
        ));
    }
    // SIGKILL: no exit code (the runner reports -1).
    if killed.code != -1 {
        return Err(format!("{spec} m={m}: not killed, exit {}", killed.code));
    }
    // The fake's session threads notice the dead connection on their own time: wait (bounded) for them. C-02: a
    // session that saw the connection end inside DATA discarded the partial content (RFC 5321 §4.1.1.4).
    wait_until(Duration::from_secs(5), || {
        w.smtp.sessions().iter().all(|s| s.finished)
    });
    let in_mta_before = w.smtp.delivered().len();
    let aborted: usize = w.smtp.sessions().iter().map(|s| s.aborted_data).sum();

    let out = run(&cfg.path, &["run"]);
    if out.code != 0 {
        return Err(format!(
            "{spec} m={m}: clean run exit {}: {}",
            out.code,
            out.all()
        ));
    }
    let subjects = w.delivered_subjects();
    support::crash::judge(&support::crash::Kill {
        point,
        k,
        m,
        before: in_mta_before,
        aborted,
        subjects: &subjects,
        log: &out.stderr,
    })?;
    if !w.pop.mailbox_uids().is_empty() {
        return Err(format!(
            "{spec} m={m}: left on the server {:?}",
            w.pop.mailbox_uids()
        ));
    }
    if !w.smtp.violations().is_empty() || !w.pop.violations().is_empty() {
        return Err(format!(
            "{spec} m={m}: violations {:?} {:?}",
            w.smtp.violations(),
            w.pop.violations()
        ));
    }
    // A third run has nothing to do and says nothing.
    let again = run(&cfg.path, &["run"]);
    if again.code != 0 || !again.all().is_empty() || w.smtp.delivered().len() != subjects.len() {
        return Err(format!("{spec} m={m}: third run not idle: {}", again.all()));
    }
    Ok(())
}

/// The cells: for each point, K = 1..=20. QUIT happens once per run, so `after_quit` is always its first pass
/// (K = 1) and the message count varies instead; elsewhere the count is K plus 0..=3 messages after it.
fn cells() -> Vec<(&'static str, usize, usize)> {
    let mut v = Vec::new();
    for &point in POINTS {
        for i in 1..=KILLS {
            let (k, m) = match point {
                "after_quit" => (1, i),
                _ => (i, i + i % 4),
            };
            v.push((point, k, m));
        }
    }
    v
}

#[test]
fn c01_c02_c03_c04_c05_c16_crash_matrix_20_kills_at_each_point() {
    let started = std::time::Instant::now();
    let queue = Mutex::new(cells());
    let failures = Mutex::new(Vec::new());
    let done = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let Some((point, k, m)) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let r = std::panic::catch_unwind(|| crash_cell(point, k, m))
                        .unwrap_or_else(|_| Err(format!("{point}:{k} m={m}: panicked")));
                    if let Err(e) = r {
                        failures.lock().unwrap().push(e);
                    }
                    *done.lock().unwrap() += 1;
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert_eq!(*done.lock().unwrap(), POINTS.len() * KILLS);
    assert!(
        failures.is_empty(),
        "{} failing cells:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "crash matrix: {} kills in {:?}",
        POINTS.len() * KILLS,
        started.elapsed()
    );
}

/// The TLS path has its own buffers and close handling: a few kills over implicit TLS too.
#[test]
fn c03_c05_crash_over_implicit_tls() {
    for (point, k) in [("after_eod_250", 2), ("after_dele", 3), ("after_retr", 1)] {
        let w = World::tls(msgs(4));
        let cfg = w.default_config();
        let spec = format!("{point}:{k}");
        let killed = run_env(&cfg.path, &["run"], &[("POPFETCH_FAILPOINT", &spec)]);
        assert!(
            killed
                .stderr
                .contains(&format!("popfetch-failpoint: {point}")),
            "{}",
            killed.all()
        );
        wait_until(Duration::from_secs(5), || {
            w.smtp.sessions().iter().all(|s| s.finished)
        });
        let before = w.smtp.delivered().len();
        let aborted = w.smtp.sessions().iter().map(|s| s.aborted_data).sum();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{spec}: {}", out.all());
        let subjects = w.delivered_subjects();
        let judged = support::crash::judge(&support::crash::Kill {
            point,
            k,
            m: 4,
            before,
            aborted,
            subjects: &subjects,
            log: &out.stderr,
        });
        assert_eq!(judged, Ok(()));
        assert!(w.pop.mailbox_uids().is_empty(), "{spec}");
    }
}
