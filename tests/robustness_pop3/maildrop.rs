//! Listing, transfer and deletion faults of the maildrop (P-04, P-07, P-14..P-31).

use super::*;

#[test]
fn p14_server_without_uidl_retrieves_and_deletes_nothing() {
    for keep in [true, false] {
        let w = World::plain_with(msgs(2), |b| {
            b.capa = Some(vec!["USER".into(), "TOP".into()]);
            b.script = vec![Scripted::reply("UIDL", "-ERR command not supported\r\n")];
        });
        let cfg = w.config(w.account().keep(keep));
        let out = run(&cfg.path, &["run"]);
        // Without UIDL no message can be tracked: the poll stops before any RETR (exit 76, see robustness.md).
        assert_eq!(out.code, 76, "keep={keep}: {}", out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
        assert!(out.stderr.contains("UIDL"), "{}", out.stderr);
        assert!(!w.state_file().exists() || std::fs::read(w.state_file()).unwrap().len() < 200);
    }
}

#[test]
fn p15_malformed_uidl_listings_are_refused_whole() {
    for listing in [
        &b"+OK\r\n1 uid-1\r\n2\r\n.\r\n"[..],
        b"+OK\r\n1 uid-1\r\n2 uid-2 extra\r\n.\r\n",
        b"+OK\r\n0 uid-1\r\n2 uid-2\r\n.\r\n",
        b"+OK\r\n-1 uid-1\r\n2 uid-2\r\n.\r\n",
        b"+OK\r\nabc uid-1\r\n2 uid-2\r\n.\r\n",
        b"+OK\r\n1 uid-1\r\n1 uid-2\r\n.\r\n",
        b"+OK\r\n1 uid-1\r\n2 uid\x01two\r\n.\r\n",
    ] {
        let w = World::plain_with(msgs(2), |b| {
            b.script = vec![Scripted::reply("UIDL", listing)]
        });
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 76, "{}: {}", listing.escape_ascii(), out.all());
        assert_untouched(&w, &["uid-1", "uid-2"]);
        // Aborted without QUIT: nothing could have been committed.
        assert!(!w.pop.sessions()[0].quit, "QUIT sent after a bad listing");
    }
    // Unterminated: the server closes inside the listing.
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply_and_close("UIDL", "+OK\r\n1 uid-1\r\n")]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_untouched(&w, &["uid-1", "uid-2"]);
}

#[test]
fn p15_unsorted_valid_listing_is_accepted() {
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply(
            "UIDL",
            "+OK\r\n2 uid-2\r\n1 uid-1\r\n.\r\n",
        )]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let mut got = w.delivered_subjects();
    got.sort();
    assert_eq!(got, vec!["message 1", "message 2"]);
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn p18_list_and_uidl_disagree_candidates_come_from_uidl() {
    // LIST lacks message 3: it is still fetched (under the hard cap).
    let w = World::plain_with(msgs(3), |b| {
        let n = mail(1).len();
        b.script = vec![Scripted::reply(
            "LIST",
            format!("+OK\r\n1 {n}\r\n2 {n}\r\n.\r\n"),
        )]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 2", "message 3"]
    );
    assert!(w.pop.mailbox_uids().is_empty());

    // LIST names a message 4 that UIDL does not: ignored, never DELE'd.
    let w = World::plain_with(msgs(3), |b| {
        let n = mail(1).len();
        b.script = vec![Scripted::reply(
            "LIST",
            format!("+OK\r\n1 {n}\r\n2 {n}\r\n3 {n}\r\n4 {n}\r\n.\r\n"),
        )]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects().len(), 3);
    let commands = w.pop.all_commands();
    assert!(
        !commands.iter().any(|c| c == "DELE 4" || c == "RETR 4"),
        "{commands:?}"
    );

    // LIST refused: the poll stops before any RETR (exit 76, see robustness.md).
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply("LIST", "-ERR no listing today\r\n")]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 76, "{}", out.all());
    assert_untouched(&w, &["uid-1", "uid-2"]);
}

#[test]
fn p19_retr_larger_than_list_is_normal() {
    // Dovecot counts LF as one octet: LIST is smaller than what RETR delivers.
    let w = World::plain(msgs(2));
    let real = mail(1).len() as u64;
    w.pop.update(|b| {
        b.list_sizes.insert("uid-1".into(), real - 7);
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn p19_retr_smaller_than_list_is_delivered_but_kept() {
    let w = World::plain(msgs(2));
    let real = mail(1).len() as u64;
    w.pop.update(|b| {
        b.list_sizes.insert("uid-1".into(), real + 400);
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    // Delivered (nothing lost) but not deleted: the server copy may be the complete one.
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    assert!(out.stderr.contains("uid-1"), "{}", out.stderr);
}

#[test]
fn p21_stalled_server_is_abandoned_after_the_timeout_without_quit() {
    let w = World::plain_with(msgs(2), |b| b.stall_after_retr_ok = true);
    let cfg = w.config(w.account().extra("timeout", "2"));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert!(
        out.elapsed < Duration::from_secs(12),
        "took {:?}",
        out.elapsed
    );
    assert_untouched(&w, &["uid-1", "uid-2"]);
    assert!(!w.pop.sessions()[0].quit, "QUIT sent to a stalled server");
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

#[test]
fn p24_empty_maildrop_is_silent_success() {
    let w = World::plain(Vec::new());
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.all(), "", "an empty maildrop prints nothing");
    let verbs = all_verbs(&w.pop);
    assert_eq!(verbs.last().map(String::as_str), Some("QUIT"), "{verbs:?}");
    assert!(
        !verbs.iter().any(|v| v == "RETR" || v == "DELE"),
        "{verbs:?}"
    );
    assert_eq!(
        w.smtp.connections(),
        0,
        "no MTA connection without new mail"
    );
}

#[test]
fn p25_dele_refused_is_a_warning_and_the_message_is_not_redelivered() {
    let w = World::plain_with(msgs(2), |b| {
        b.script = vec![Scripted::reply(
            "DELE",
            "-ERR message 1 already deleted\r\n",
        )]
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stderr.matches("DELE refused").count(),
        2,
        "{}",
        out.stderr
    );
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);

    // Next run: DELE retried, nothing delivered again.
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.smtp.delivered().len(), 2);
    assert_eq!(
        w.pop.sessions()[1]
            .verbs()
            .iter()
            .filter(|v| *v == "DELE")
            .count(),
        2
    );
    assert_eq!(w.pop.sessions()[1].retr_count, 0);

    // The server recovers: the retried DELEs empty the maildrop.
    w.pop.update(|b| b.script.clear());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(w.pop.mailbox_uids().is_empty());
    assert_eq!(w.smtp.delivered().len(), 2);
}

#[test]
fn p26_quit_error_or_lost_quit_reply_deletes_on_the_next_run_without_redelivery() {
    for script in [
        Scripted::reply("QUIT", "-ERR some deleted messages not removed\r\n"),
        Scripted::reply_and_close("QUIT", ""),
    ] {
        let w = World::plain_with(msgs(2), |b| b.script = vec![script.clone()]);
        let cfg = w.default_config();
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(out.stderr.contains("uncertain"), "{}", out.stderr);
        assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
        assert_eq!(
            w.pop.mailbox_uids(),
            vec!["uid-1", "uid-2"],
            "scripted QUIT commits nothing"
        );
        // RFC 1939 §6: without QUIT's +OK nothing was deleted, and the summary says so (issue 19).
        assert!(
            out.stderr.contains(
                "2 new, 2 delivered, 0 rejected, 0 skipped, 0 deleted, 2 marked for deletion on the next poll"
            ),
            "{}",
            out.stderr
        );

        w.pop.update(|b| b.script.clear());
        let out = run(&cfg.path, &["run"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(
            out.stderr
                .contains("0 new, 0 delivered, 0 rejected, 0 skipped, 2 deleted; 0 bytes in "),
            "{}",
            out.stderr
        );
        assert_eq!(
            w.smtp.delivered().len(),
            2,
            "redelivered after an uncertain QUIT"
        );
        assert!(w.pop.mailbox_uids().is_empty());
        assert_eq!(w.pop.sessions()[1].retr_count, 0);
    }
}

/// A message whose body holds a line that is a lone dot.
fn lone_dot_mail() -> Vec<u8> {
    b"Subject: lone dot\r\n\r\nbefore\r\n.\r\nafter the lone dot\r\n".to_vec()
}

#[test]
fn p31_non_stuffing_server_is_a_protocol_error_and_nothing_is_deleted() {
    let w = World::plain_with(vec![Msg::new("dot", lone_dot_mail())], |b| {
        b.stuff_dots = false
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 76, "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), vec!["dot"]);
    assert!(!all_verbs(&w.pop).iter().any(|v| v == "DELE"));
    assert!(!w.pop.sessions()[0].quit);
}

#[test]
fn p31_non_stuffing_server_loses_nothing_over_two_runs() {
    let w = World::plain_with(vec![Msg::new("dot", lone_dot_mail())], |b| {
        b.stuff_dots = false
    });
    let cfg = w.default_config();
    let _ = run(&cfg.path, &["run"]);
    // The server is fixed; the complete message must reach the MTA before the server copy goes.
    w.pop.update(|b| b.stuff_dots = true);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let complete = w
        .smtp
        .delivered()
        .iter()
        .any(|d| strip_received(&d.data) == lone_dot_mail().as_slice());
    assert!(
        complete || w.pop.mailbox_uids() == vec!["dot"],
        "message lost: deleted from the server but only its head was delivered"
    );
}

#[test]
fn p04_one_byte_writes_change_nothing() {
    let body = b"Subject: split\r\n\r\n..leading dot\r\nline\r\n.\r\n".to_vec();
    let w = World::plain_with(vec![Msg::new("s", body.clone())], |b| {
        b.write_chunks = Some((1, Duration::ZERO));
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(strip_received(&w.smtp.delivered()[0].data), body.as_slice());
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(w.pop.violations().is_empty(), "{:?}", w.pop.violations());
}

#[test]
fn p07_message_over_max_message_size_is_kept_and_skipped_with_exit_1() {
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 5000));
    big.extend_from_slice(b"\r\n");
    let mut m = msgs(2);
    m.insert(1, Msg::new("big", big));
    let w = World::plain(m);
    let cfg = w.config(w.account().extra("max_message_size", "4096"));
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert_eq!(w.pop.mailbox_uids(), vec!["big"]);
    assert!(
        !w.pop.retr_log().contains(&"big".to_string()),
        "oversize message downloaded"
    );
    assert!(out.stderr.contains("max_message_size"), "{}", out.stderr);
}

#[test]
fn p29_renumbered_maildrop_uses_uids_and_current_numbers() {
    let all = msgs(3);
    let w = World::plain(all[..2].to_vec());
    let cfg = w.default_config();
    // Session 1 delivers uid-1 and uid-2 (both settled: no message in flight at the MTA, src/poller/lanes.rs),
    // sends DELE 2, and is killed before QUIT.
    let killed = run_env(
        &cfg.path,
        &["run"],
        &[("POPFETCH_FAILPOINT", "after_dele:2")],
    );
    assert!(
        killed.stderr.contains("popfetch-failpoint: after_dele"),
        "{}",
        killed.all()
    );
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1", "uid-2"]);
    // Meanwhile uid-3 arrived and another client removed uid-1: uid-2 is now message 1, uid-3 message 2.
    w.pop.add_messages(all[2..].to_vec());
    w.pop.remove("uid-1");
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        w.delivered_subjects(),
        vec!["message 1", "message 2", "message 3"]
    );
    let s = &w.pop.sessions()[1];
    assert!(s.commands.iter().any(|c| c == "DELE 1"), "{:?}", s.commands);
    assert!(s.commands.iter().any(|c| c == "RETR 2"), "{:?}", s.commands);
    assert!(
        !s.commands.iter().any(|c| c == "RETR 1"),
        "uid-2 fetched again: {:?}",
        s.commands
    );
    assert!(w.pop.mailbox_uids().is_empty());
}
