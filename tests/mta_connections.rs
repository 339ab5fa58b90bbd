//! `[smtp] smtp_connections` (issue 11 point 3, src/poller/lanes.rs): several transactions in flight at the MTA at
//! once, each on its own connection, against the scripted MTA: they really overlap, every message is still
//! delivered once and deleted, a kill costs at most one logged duplicate per connection, and an MTA that refuses
//! an extra connection is no failure.

mod support;

use std::time::Duration;

use support::world::*;
use support::*;

const WAIT: Duration = Duration::from_secs(20);

fn config(w: &World, connections: &str) -> TestConfig {
    ConfigBuilder::new(w.smtp.port(), w.state.path())
        .smtp("smtp_connections", connections)
        .account(w.account())
        .write()
}

#[test]
fn i11_two_connections_deliver_each_message_once_and_quit_both() {
    let w = World::plain(msgs(12));
    let cfg = config(&w, "2");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let mut got = w.delivered_subjects();
    got.sort();
    let mut want: Vec<String> = (1..=12).map(|i| format!("message {i}")).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(w.pop.mailbox_uids().is_empty());
    let sessions = w.smtp.sessions();
    assert!(sessions.len() <= 2, "{} connections", sessions.len());
    for s in &sessions {
        assert!(s.quit, "no QUIT: {:?}", s.commands);
    }
    assert!(w.smtp.violations().is_empty(), "{:?}", w.smtp.violations());
    assert!(!out.stderr.contains("possible duplicate"), "{}", out.stderr);
}

/// Run popfetch with two connections against an MTA that holds every end-of-data reply for 8 s, and wait (at most
/// 6 s) until a second transaction reached its end of data: with one connection at a time it could only after 8 s.
fn two_at_once(w: &World) -> (TestConfig, support::run::Running) {
    w.smtp.set_behavior(SmtpBehavior {
        delay_eod_reply: Some(Duration::from_secs(8)),
        ..Default::default()
    });
    let cfg = config(w, "2");
    let running = spawn_popfetch(&cfg.path, &["run"], &[]);
    assert!(
        w.smtp
            .wait_until(Duration::from_secs(6), |s| s.attempts() >= 2),
        "the second transaction did not reach its end of data while the first awaited its reply: {} attempts",
        w.smtp.attempts()
    );
    (cfg, running)
}

/// The MTA holds every end-of-data reply for 8 s. With one connection the second message could reach the MTA only
/// after the first reply; with two it is there at once. Then a kill -9 finds both at the MTA and unrecorded: the
/// clean run delivers both again and names both (one duplicate per connection, no more).
#[test]
fn i11_two_transactions_run_at_once_and_a_kill_costs_one_logged_duplicate_each() {
    let w = World::plain(msgs(3));
    let (cfg, running) = two_at_once(&w);
    assert_eq!(w.smtp.connections(), 2);
    running.signal("KILL");
    let killed = running.wait(WAIT);
    assert!(!killed.timed_out);
    w.smtp.update(|b| b.delay_eod_reply = None);

    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let subjects = w.delivered_subjects();
    for i in 1..=3 {
        let n = subjects
            .iter()
            .filter(|s| **s == format!("message {i}"))
            .count();
        // Messages 1 and 2 were at the MTA (each on its connection), message 3 at most begun.
        assert_eq!(n, if i <= 2 { 2 } else { 1 }, "message {i}: {subjects:?}");
    }
    for uid in ["uid-1", "uid-2"] {
        assert!(
            out.stderr
                .contains(&format!("uid \"{uid}\": possible duplicate")),
            "{uid} not named: {}",
            out.stderr
        );
    }
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn i11_an_extra_connection_refused_by_the_mta_is_no_failure() {
    let w = World::plain(msgs(5));
    w.smtp.set_behavior(SmtpBehavior {
        greeting_from_connection: Some((1, "421 4.7.0 Too many connections".into())),
        // Long enough for the second message to wait for a connection.
        delay_eod_reply: Some(Duration::from_millis(300)),
        ..Default::default()
    });
    let cfg = config(&w, "3");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects().len(), 5);
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(
        out.stderr
            .contains("going on with 1 connection(s) to the MTA"),
        "{}",
        out.stderr
    );
    // One refused extra connection, then no more tries in this poll.
    assert_eq!(w.smtp.connections(), 2, "{}", out.stderr);
}

#[test]
fn i11_smtp_connections_out_of_range_is_a_config_error() {
    let w = World::plain(msgs(1));
    for bad in ["0", "17", "\"2\""] {
        let out = run(&config(&w, bad).path, &["check"]);
        assert_eq!(out.code, 78, "{bad}: {}", out.all());
        assert!(
            out.stderr.contains("smtp_connections"),
            "{bad}: {}",
            out.stderr
        );
    }
}

/// Two messages over 256 KiB (streamed from the RETR into DATA, src/poller/stream.rs) and an MTA that holds each
/// end-of-data reply for 8 s: the first reply is awaited in a task, so the second message streams on the second
/// connection meanwhile. Both arrive byte-exact once the replies come.
#[test]
fn i11_a_streamed_message_goes_out_while_the_previous_reply_is_awaited() {
    let big: Vec<Msg> = (1..=2)
        .map(|i| Msg::new(format!("uid-{i}"), support::large::large(i, 300 * 1024)))
        .collect();
    let want: Vec<Vec<u8>> = big
        .iter()
        .map(|m| support::large::piped(&m.bytes))
        .collect();
    let w = World::plain(big);
    let (_cfg, running) = two_at_once(&w);
    let out = running.wait(WAIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got: Vec<Vec<u8>> = w
        .smtp
        .delivered()
        .iter()
        .map(|d| strip_received(&d.data).to_vec())
        .collect();
    assert_eq!(got.len(), 2);
    for (i, want) in want.iter().enumerate() {
        assert!(got.contains(want), "message {} not byte-exact", i + 1);
    }
    assert!(w.pop.mailbox_uids().is_empty());
}
