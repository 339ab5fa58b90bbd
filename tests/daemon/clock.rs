//! Catalog D-05: the real `popfetch daemon` under libfaketime while the test moves its wall clock by a day, back
//! two days, forward a year and back again, both while the daemon sleeps and in the middle of a poll.
//!
//! libfaketime is LD_PRELOADed into the daemon only (the test and the fakes keep the real clock):
//! - `FAKETIME_TIMESTAMP_FILE` names a file holding the offset ("+0", "+1d", "-1d", "+1y", "-1h"), relative to the
//!   real time. The test replaces it atomically (write + rename), so a read never sees a half-written spec.
//! - `FAKETIME_NO_CACHE=1`: the file is read again on every clock call, so a jump takes effect at once.
//! - `FAKETIME_DONT_FAKE_MONOTONIC=1`: `CLOCK_MONOTONIC` stays real, as it does when an administrator or NTP steps
//!   the clock. Only `CLOCK_REALTIME` (Rust's `SystemTime`) jumps.
//!
//! What a wall-clock scheduler would do wrong, and how each is caught:
//! - a forward jump makes every due time look long past: a burst of polls. Caught by quiet windows in which the
//!   fake server must see no new session.
//! - a backward jump pushes the next due time a day or a year away: a stall. Caught by waiting for the next
//!   *interval* poll (no signal) after jumping back a year, within the interval's jitter bounds.
//! - a timeout measured on the wall clock fires at once on a forward jump mid-poll, or never on a backward one:
//!   the jumps inside a slow RETR must leave the poll to finish normally.
//! - pruning by age would drop the records of kept messages after +1 y: `keep = true`, so every message stays on
//!   the server, and each must be retrieved exactly once over all polls.
//!
//! The Received field's date must follow the faked wall clock, which also proves the preload took effect.
//!
//! Needs libfaketime (Debian: `apt-get install faketime`; CI installs it in `.ci/interop-deps.sh`), so it is
//! `#[ignore = "ci: …"]`: a plain `cargo test` lists it as ignored, and CI runs it with `--ignored` through
//! `.ci/ignored-tests.sh`, where a missing library fails it. `POPFETCH_LIBFAKETIME` names the library explicitly.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::accepted_subjects;
use super::process::{WAIT, World, stop};
use super::support::run::{Running, write_private};
use super::support::*;

const HOUR: i64 = 3_600;
const DAY: i64 = 24 * HOUR;
/// libfaketime's `y` suffix is 365 days.
const YEAR: i64 = 365 * DAY;
/// The account's interval: the config's minimum, so the test can wait for a poll the timer (not a signal) starts.
const INTERVAL_SECS: u64 = 10;
/// A window in which a scheduler fooled by a forward jump would already have polled.
const QUIET: Duration = Duration::from_millis(1500);
/// How far a Received date may be from the expected faked time (the delivery happened shortly before the check).
const DATE_SLACK_SECS: i64 = 60;

/// The preload library: `POPFETCH_LIBFAKETIME` (if it names a file), else the first of the usual install locations
/// that holds it.
fn libfaketime() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("POPFETCH_LIBFAKETIME") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let multiarch = format!("/usr/lib/{}-linux-gnu/faketime", std::env::consts::ARCH);
    [
        multiarch.as_str(),
        "/usr/lib/faketime",
        "/usr/lib64/faketime",
        "/usr/local/lib/faketime",
    ]
    .iter()
    .map(|dir| Path::new(dir).join("libfaketime.so.1"))
    .find(|p| p.is_file())
}

/// Set the daemon's offset from the real clock. Write-then-rename: libfaketime re-reads the file on every clock
/// call (`FAKETIME_NO_CACHE`) and must never see it empty or half-written.
fn set_clock(file: &Path, spec: &str) {
    let tmp = file.with_extension("new");
    write_private(&tmp, format!("{spec}\n").as_bytes());
    std::fs::rename(&tmp, file).expect("replace the faketime file");
}

/// Unix seconds of `y-m-d` at midnight UTC (H. Hinnant's days-from-civil), to check dates independently of the
/// crate's own formatter.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 5322 date as popfetch writes it ("Sun, 22 Nov 2026 21:00:00 +0000") in Unix seconds.
fn parse_date(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut f = s.split_whitespace();
    let _weekday = f.next()?;
    let day: i64 = f.next()?.parse().ok()?;
    let month_name = f.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as i64 + 1;
    let year: i64 = f.next()?.parse().ok()?;
    let hms: Vec<i64> = f
        .next()?
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if f.next()? != "+0000" || hms.len() != 3 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// The date of popfetch's Received field in the delivered message whose Subject is `tag`.
fn received_date(smtp: &FakeSmtp, tag: &str) -> i64 {
    let d = smtp
        .delivered()
        .into_iter()
        .find(|d| {
            String::from_utf8_lossy(&d.data)
                .lines()
                .any(|l| l == format!("Subject: {tag}"))
        })
        .unwrap_or_else(|| panic!("{tag} not delivered"));
    let text = String::from_utf8_lossy(&d.data).into_owned();
    let header = text.split("\r\n\r\n").next().unwrap_or_default();
    // Unfold (RFC 5322 §2.2.3), then the date follows the field's last ';' (RFC 5322 §3.6.7).
    let unfolded = header.replace("\r\n\t", " ").replace("\r\n ", " ");
    let field = unfolded
        .lines()
        .find(|l| l.starts_with("Received:") && l.contains("(popfetch "))
        .unwrap_or_else(|| panic!("{tag}: no popfetch Received field in:\n{header}"));
    let date = field.rsplit(';').next().unwrap_or_default().trim();
    parse_date(date).unwrap_or_else(|| panic!("{tag}: unparsable Received date {date:?}"))
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `tag`'s Received date is the real time shifted by `offset` seconds (the faked wall clock at delivery).
fn assert_received(w: &World, tag: &str, offset: i64, spec: &str) {
    let got = received_date(&w.smtp, tag);
    let want = real_now() + offset;
    assert!(
        (got - want).abs() <= DATE_SLACK_SECS,
        "{tag}: Received date {} is {} s away from the wall clock faked to {spec} ({}); \
         did the LD_PRELOAD of libfaketime take effect?",
        popfetch::headers::rfc5322_date(got),
        got - want,
        popfetch::headers::rfc5322_date(want)
    );
}

fn session_count(w: &World) -> usize {
    w.pops[0].sessions().len()
}

/// No session starts within [`QUIET`]: the jump caused no burst of polls. (Right after a jump the daemon may be
/// parked in its timer; a poll wakes it, so the windows that catch a burst are the ones after a poll.)
fn assert_quiet(w: &World, what: &str) {
    let before = session_count(w);
    std::thread::sleep(QUIET);
    assert_eq!(
        session_count(w),
        before,
        "{what}: a poll started without a signal or a due interval"
    );
}

/// Poll once on SIGUSR1 with a slow server, and jump the clock to `spec` while `tag`'s RETR is on the wire. The
/// poll must finish normally (no timeout fired or stalled by the jump) and deliver `tag`.
fn jump_mid_poll(w: &World, d: &Running, clock: &Path, retr: &str, tag: &str, spec: &str) {
    let n = session_count(w);
    // Every reply in 8-byte pieces 50 ms apart: the RETR of a test message takes over a second.
    w.pops[0].update(|b| b.write_chunks = Some((8, Duration::from_millis(50))));
    d.signal("USR1");
    assert!(w.pops[0].wait_command(retr, WAIT), "no {retr}");
    set_clock(clock, spec);
    assert!(
        !w.pops[0].retr_log().iter().any(|u| u == tag),
        "{tag}: the RETR was over before the jump to {spec}: not mid-poll"
    );
    let t = Instant::now();
    w.sessions(0, n + 1);
    w.wait_accepted(tag);
    w.pops[0].update(|b| b.write_chunks = None);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "{spec} mid-poll: the poll took {:?} to finish",
        t.elapsed()
    );
    let s = &w.pops[0].sessions()[n];
    assert!(s.quit && s.error.is_none(), "{spec} mid-poll: {s:?}");
}

#[test]
#[ignore = "ci: needs libfaketime (apt-get install faketime); CI runs it through .ci/ignored-tests.sh"]
fn d05_wall_clock_jumps_while_idle_and_mid_poll_cause_no_burst_no_stall_and_prune_nothing() {
    let lib = libfaketime().expect(
        "D-05 needs libfaketime (Debian/Ubuntu: `apt-get install faketime`, or run .ci/interop-deps.sh); \
         POPFETCH_LIBFAKETIME is not a file or, unset, none of the usual paths holds libfaketime.so.1 \
         (set POPFETCH_LIBFAKETIME to its path)",
    );
    let started = Instant::now();
    let w = World::new(1, SmtpBehavior::default());
    let clock = w.dir.path().join("faketime.spec");
    set_clock(&clock, "+0");
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .account(
            AccountCfg::new("acct0", w.pops[0].port(), "none")
                .keep(true)
                .extra("interval", &INTERVAL_SECS.to_string()),
        )
        .write_to(w.dir.path());
    let env = [
        ("LD_PRELOAD", lib.to_str().expect("UTF-8 library path")),
        (
            "FAKETIME_TIMESTAMP_FILE",
            clock.to_str().expect("UTF-8 temp path"),
        ),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    w.add(0, "m0");
    let d = spawn_popfetch(&cfg, &["daemon"], &env);
    w.sessions(0, 1);
    w.wait_accepted("m0");
    assert_received(&w, "m0", 0, "+0");

    // +1 day while idle: no burst; a signal still polls, and the date follows the new wall clock.
    set_clock(&clock, "+1d");
    w.add(0, "m1");
    assert_quiet(&w, "+1d while idle");
    d.signal("USR1");
    w.sessions(0, 2);
    w.wait_accepted("m1");
    assert_received(&w, "m1", DAY, "+1d");
    assert_quiet(&w, "after the poll at +1d");

    // -1 day (a jump back of two) and +1 year in the middle of a RETR: the polls finish normally.
    w.add(0, "m2");
    jump_mid_poll(&w, &d, &clock, "RETR 3", "m2", "-1d");
    assert_received(&w, "m2", -DAY, "-1d");
    assert_quiet(&w, "after -1d mid-poll");
    w.add(0, "m3");
    jump_mid_poll(&w, &d, &clock, "RETR 4", "m3", "+1y");
    let last_poll_end = Instant::now();
    assert_received(&w, "m3", YEAR, "+1y");
    assert_quiet(&w, "after +1y mid-poll");

    // -1 h while idle (a jump back of a year): the interval timer, not a signal, polls on time, exactly once.
    set_clock(&clock, "-1h");
    w.add(0, "m4");
    assert!(
        wait_until(WAIT, || session_count(&w) >= 5),
        "-1h while idle: no interval poll within {:?} of the previous one (stalled)",
        last_poll_end.elapsed()
    );
    let after = last_poll_end.elapsed();
    w.sessions(0, 5);
    let interval = Duration::from_secs(INTERVAL_SECS);
    // The next poll is due `interval` ± 10 % after the previous one ended; a second of slack either side.
    assert!(
        after >= interval * 8 / 10 && after <= interval * 13 / 10,
        "-1h while idle: the interval poll came {after:?} after the previous poll"
    );
    w.wait_accepted("m4");
    assert_received(&w, "m4", -HOUR, "-1h");
    assert_quiet(&w, "after the interval poll");
    let out = stop(d, Duration::from_secs(2));

    // keep = true: every message is still on the server, and none was retrieved or delivered twice, so no jump
    // pruned a record (pruning counts listings without the UID, C-12, never the age).
    let all = ["m0", "m1", "m2", "m3", "m4"];
    assert_eq!(accepted_subjects(&w.smtp), all, "{}", out.stderr);
    assert_eq!(w.pops[0].retr_log(), all);
    assert_eq!(w.pops[0].mailbox_uids(), all);
    assert_eq!(session_count(&w), 5);
    for bad in ["temporary failure", "timed out", "possible duplicate"] {
        assert!(!out.stderr.contains(bad), "{bad:?} in: {}", out.stderr);
    }
    eprintln!("D-05 took {:?}", started.elapsed());
}
