//! Group commit of the journal (issue 11, point 3; src/poller/commit.rs, src/state/group.rs): message k's *delivered*
//! record shares its fsync with message k+1's *begun* record, and DELE k goes out only after that fsync. The order
//! both servers see, read from the `-vv` trace of the built `popfetch run` against the scripted fakes: no DELE before
//! its message's end-of-data reply, and none later than the next message's transaction (so at most one message is
//! ever delivered but not yet deleted). That the fsync is shared is pinned in tests/state/files.rs, and what a kill
//! right after it costs in tests/robustness_crash.rs.

mod support;

use support::world::*;

/// The steps that matter, in the order popfetch took them: `MAIL n` (message n's transaction starts), `EOD` (the
/// MTA's reply to an end of data), `DELE n`.
fn steps(stderr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in stderr.lines() {
        if let Some(i) = line.find("smtp C: MAIL FROM:<sender") {
            let rest = &line[i + "smtp C: MAIL FROM:<sender".len()..];
            let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
            out.push(format!("MAIL {n}"));
        } else if line.contains("smtp S: 250 2.0.0 Ok: queued") {
            out.push("EOD".to_owned());
        } else if let Some(i) = line.find("pop3 C: DELE ") {
            out.push(line[i + "pop3 C: ".len()..].trim_end().to_owned());
        }
    }
    out
}

#[test]
fn c04_each_dele_follows_its_end_of_data_reply_and_the_next_fsync() {
    let w = World::plain(msgs(3));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // DELE k after the MTA accepted k, sent once message k+1's *begun* record (whose fsync also covered k's
    // *delivered* record) is durable, before message k+1 reaches the MTA; the last one after the final fsync.
    assert_eq!(
        steps(&out.stderr),
        [
            "MAIL 1", "EOD", "DELE 1", "MAIL 2", "EOD", "DELE 2", "MAIL 3", "EOD", "DELE 3"
        ],
        "{}",
        out.stderr
    );
    assert_eq!(
        w.delivered_subjects(),
        ["message 1", "message 2", "message 3"]
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn c04_keep_records_every_message_and_sends_no_dele() {
    let w = World::plain(msgs(2));
    let cfg = w.config(w.account().keep(true));
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(steps(&out.stderr), ["MAIL 1", "EOD", "MAIL 2", "EOD"]);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    // Both records are durable: the next run delivers nothing again.
    let again = run(&cfg.path, &["run"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(w.delivered_subjects(), ["message 1", "message 2"]);
}
