//! Streaming delivery (issue 11, point 2; catalog S-21, P-20): a message larger than what popfetch holds goes from
//! the RETR reply into DATA while it arrives. The built `popfetch run` against the fakes of `tests/support`.

mod support;

use support::large::*;
use support::world::*;
use support::*;

#[test]
fn s21_a_large_message_streams_byte_exact() {
    let raw = large(1, 3 << 20);
    let w = World::plain(vec![
        Msg::new("uid-1", raw.clone()),
        Msg::new("uid-2", mail(2)),
    ]);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(w.smtp.violations().is_empty(), "{:?}", w.smtp.violations());
    let d = w.smtp.delivered();
    assert_eq!(d.len(), 2);
    assert_eq!(strip_received(&d[0].data), piped(&raw).as_slice());
    // 8BITMIME is offered by the fake: a streamed body is declared 8-bit (not known before it arrives).
    assert_eq!(d[0].mail_params, vec!["BODY=8BITMIME".to_string()]);
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn s21_p20_pop3_dying_mid_stream_sends_no_end_of_data_and_loses_nothing() {
    // Issue 11's size: 50 MiB, of which popfetch holds at most a few hundred KiB at a time.
    let raw = large(1, 50 << 20);
    let w = World::plain(vec![
        Msg::new("uid-1", raw.clone()),
        Msg::new("uid-2", mail(2)),
    ]);
    // The server closes halfway through the first RETR's response, while popfetch streams it into DATA.
    w.pop.update(|b| b.drop_during_retr = Some((0, 25 << 20)));
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    // The MTA saw DATA start and content arrive, but no end of data: it accepted nothing.
    assert!(
        w.smtp.transactions().is_empty(),
        "{:?}",
        w.smtp.transactions().len()
    );
    // The fake notices the dropped connection on its own thread.
    let aborted = |s: &FakeSmtp| s.sessions().iter().map(|x| x.aborted_data).sum::<usize>();
    assert!(
        w.smtp
            .wait_until(std::time::Duration::from_secs(10), |s| aborted(s) == 1),
        "the MTA did not see the transaction abandoned mid-DATA ({} aborted)",
        aborted(&w.smtp)
    );
    assert_eq!(
        w.pop.mailbox_uids(),
        vec!["uid-1", "uid-2"],
        "nothing deleted"
    );
    // Next run: both arrive, once each.
    w.pop.update(|b| b.drop_during_retr = None);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert_eq!(
        strip_received(&w.smtp.delivered()[0].data),
        piped(&raw).as_slice()
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn s21_p31_a_non_stuffing_server_never_loses_the_server_copy_of_a_streamed_message() {
    // A server that does not dot-stuff: the message's lone `.` line near its end ends the reply early, and the
    // last line arrives as junk after it (P-31). When the junk is already there as the reply ends, the end of data
    // is never sent (exit 76); when it is still in flight, the truncated copy is shorter than LIST and is
    // delivered but kept (P-19, exit 1). Either way the server copy is never deleted.
    let raw = large(1, 1 << 20);
    let w = World::plain_with(vec![Msg::new("uid-1", raw)], |b| b.stuff_dots = false);
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    match out.code {
        76 => assert!(w.smtp.transactions().is_empty(), "end of data after junk"),
        1 => assert!(out.stderr.contains("possibly truncated"), "{}", out.all()),
        code => panic!("exit {code}: {}", out.all()),
    }
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
}

#[test]
fn c02_a_kill_in_the_middle_of_a_streamed_body_loses_nothing_and_duplicates_nothing() {
    let raw = large(1, 3 << 20);
    let w = World::plain(vec![
        Msg::new("uid-1", raw.clone()),
        Msg::new("uid-2", mail(2)),
    ]);
    let cfg = w.default_config();
    killed_mid_stream(&w, &cfg.path);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.delivered_subjects(), vec!["message 1", "message 2"]);
    assert_eq!(
        strip_received(&w.smtp.delivered()[0].data),
        piped(&raw).as_slice()
    );
    // The in-flight mark names the message as a possible duplicate, though the MTA has it once (as for C-02).
    assert_eq!(
        out.stderr.matches("possible duplicate").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn s17_s21_a_streamed_message_refused_for_its_sender_is_drained_and_the_poll_goes_on() {
    // The envelope is refused before any content: the rest of the RETR is read and dropped, so the next
    // message's reply is read in step, and the large message stays on the server for the next poll.
    let w = World::plain(vec![
        Msg::new("uid-1", large(1, 3 << 20)),
        Msg::new("uid-2", mail(2)),
    ]);
    w.smtp.update(|b| {
        b.rcpt_replies_by_sender = std::collections::HashMap::from([(
            "sender1@remote.test".to_string(),
            "450 4.1.8 <sender1@remote.test>: Sender address rejected: Domain not found"
                .to_string(),
        )])
    });
    let cfg = w.default_config();
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("refused for now"), "{}", out.stderr);
    assert_eq!(w.delivered_subjects(), vec!["message 2"]);
    // The delivered one is deleted by a second session that fetches nothing.
    assert_eq!(w.pop.mailbox_uids(), vec!["uid-1"]);
    w.next_run_delivers_each_once(&cfg.path, 2);
}
