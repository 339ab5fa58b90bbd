//! Group commit of the journal (issue 11, point 3; src/poller/commit.rs, src/state/group.rs): message k's *delivered*
//! record shares its fsync with message k+1's *begun* record, and DELE k goes out only after that fsync. The order
//! both servers see, read from the `-vv` trace of the built `popfetch run` against the scripted fakes: no DELE before
//! its message's end-of-data reply, and none later than the transaction after next (the next message is read and
//! begun while one is at the MTA, src/poller/lanes.rs, so at most two are ever delivered but not yet deleted). That the fsync is shared is pinned in tests/state/files.rs, and what a kill
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

/// Where each step of `steps` is: `MAIL k`, the k-th `EOD` (one connection: the k-th reply ends message k's
/// transaction) and `DELE k`, for k in 1..=m.
fn positions(steps: &[String], m: usize) -> Vec<(usize, usize, usize)> {
    let eods: Vec<usize> = (0..steps.len()).filter(|&i| steps[i] == "EOD").collect();
    assert_eq!(eods.len(), m, "{steps:?}");
    (1..=m)
        .map(|k| {
            let at = |s: String| steps.iter().position(|x| *x == s);
            let mail = at(format!("MAIL {k}")).unwrap_or_else(|| panic!("no MAIL {k}: {steps:?}"));
            let dele = at(format!("DELE {k}")).unwrap_or_else(|| panic!("no DELE {k}: {steps:?}"));
            (mail, eods[k - 1], dele)
        })
        .collect()
}

#[test]
fn c04_each_dele_follows_its_end_of_data_reply_and_the_next_fsync() {
    let m = 4;
    let w = World::plain(msgs(m));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["-vv", "run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let steps = steps(&out.stderr);
    let at = positions(&steps, m);
    for k in 0..m {
        let (mail, eod, dele) = at[k];
        // One connection: message k's transaction ends before message k+1's begins.
        assert!(mail < eod, "message {}: {steps:?}", k + 1);
        if k + 1 < m {
            assert!(eod < at[k + 1].0, "message {}: {steps:?}", k + 1);
        }
        // DELE k only after the MTA accepted k (and the fsync that followed, src/poller/commit.rs) ...
        assert!(eod < dele, "message {}: {steps:?}", k + 1);
        // ... and no later than the fsync of message k+2's *begun* record, which comes before k+2 reaches the MTA
        // (message k+1 is read and begun while k is at the MTA, src/poller/lanes.rs): so at most two messages are
        // ever delivered and not yet deleted.
        if k + 2 < m {
            assert!(dele < at[k + 2].0, "message {}: {steps:?}", k + 1);
        }
    }
    assert_eq!(
        w.delivered_subjects(),
        ["message 1", "message 2", "message 3", "message 4"]
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
