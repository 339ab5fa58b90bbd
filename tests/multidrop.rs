//! Multidrop (issue 15) end to end: the built binary against the scripted fake POP3 server and fake MTA. Each test
//! asserts the envelope the MTA received, the bytes of the message, what is left on the server, the state and the
//! exit status (catalog M-11..M-17). The real Postfix is in the interop suite (`tests/interop.rs`).

mod support;

use support::large::*;
use support::run::toml_str;
use support::world::*;
use support::*;

const A: &str = "alice@local.test";
const B: &str = "bob@local.test";

/// A message of a domain's catch-all mailbox, with the envelope fields `envelope` on top (as the ISP's delivery
/// adds them) and a `Delivered-To` of an earlier hop below the ISP's `Received`.
fn catchall(n: usize, envelope: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender{n}@remote.test>\r\n{envelope}Received: from mx.remote.test by mx.isp.test; \
         Mon, 1 Jan 2024 00:00:00 +0000\r\nDelivered-To: list@remote.test\r\nFrom: sender{n}@remote.test\r\n\
         To: team@local.test, carol@local.test\r\nSubject: message {n}\r\n\r\nbody of message {n}\r\n"
    )
    .into_bytes()
}

fn both(n: usize) -> Vec<u8> {
    catchall(n, &format!("Delivered-To: {A}\r\nDelivered-To: {B}\r\n"))
}

/// The world's account turned into a multidrop account with `table` as `[account.multidrop]` (inline).
fn multidrop(w: &World, table: &str) -> support::run::TestConfig {
    w.config(w.account().target("").extra("multidrop", table))
}

const LOCAL: &str = "{ domains = [\"local.test\"] }";

/// The RCPT TO addresses of each transaction that reached end of data, in order.
fn rcpts(w: &World) -> Vec<Vec<String>> {
    w.smtp
        .transactions()
        .iter()
        .map(|t| t.rcpt_to.clone())
        .collect()
}

fn state(w: &World) -> String {
    std::fs::read_to_string(w.state_file()).unwrap_or_default()
}

#[test]
fn m11_one_transaction_with_one_rcpt_per_recipient_and_their_delivered_to_removed() {
    let w = World::plain(vec![Msg::new("uid-1", both(1))]);
    let cfg = multidrop(&w, LOCAL);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        envelope_commands(&w.smtp),
        [
            "MAIL FROM:<sender1@remote.test>".to_owned(),
            format!("RCPT TO:<{A}>"),
            format!("RCPT TO:<{B}>"),
            "DATA".to_owned()
        ]
    );
    let t = &w.smtp.transactions()[0];
    // Exactly the fields naming a recipient went; the earlier hop's Delivered-To stays; no `for` clause.
    let want = String::from_utf8(both(1))
        .unwrap()
        .replace(&format!("Delivered-To: {A}\r\nDelivered-To: {B}\r\n"), "");
    assert_eq!(
        String::from_utf8_lossy(strip_received(&t.data)),
        want,
        "{}",
        out.all()
    );
    let received = String::from_utf8_lossy(&t.data[..t.data.len() - strip_received(&t.data).len()])
        .to_string();
    assert!(!received.contains(" for "), "{received}");
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(state(&w).contains("\nD uid-1 0\n"), "{}", state(&w));
    assert!(
        out.stderr
            .contains("removed Delivered-To: alice@local.test (names recipient alice@local.test)")
    );
}

#[test]
fn m12_several_addresses_in_one_header_mapped_deduplicated_never_to_or_cc() {
    let env = format!("X-Envelope-To: <Info@Local.test>, {B},\r\n {A}, bob@LOCAL.test\r\n");
    let w = World::plain(vec![Msg::new("uid-1", catchall(1, &env))]);
    let cfg = multidrop(
        &w,
        &format!(
            "{{ envelope_header = \"X-Envelope-To\", domains = [\"local.test\"], map = {{ \"info@local.test\" = {} }} }}",
            toml_str(A)
        ),
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // info@ is mapped to alice, who is also named: once each, in the order found; To/Cc never read.
    assert_eq!(rcpts(&w), [vec![A.to_owned(), B.to_owned()]]);
    assert!(
        out.stderr.contains(&format!(
            "recipients from X-Envelope-To: info@local.test -> {A} (mapped), {B}, {A} (duplicate), {B} (duplicate)"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn m13_a_recipient_outside_domains_is_dropped_and_logged() {
    let env = format!("Delivered-To: {A}\r\nDelivered-To: eve@elsewhere.test\r\n");
    let w = World::plain(vec![Msg::new("uid-1", catchall(1, &env))]);
    let out = run(&multidrop(&w, LOCAL).path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(rcpts(&w), [vec![A.to_owned()]]);
    assert!(
        out.stderr
            .contains("eve@elsewhere.test (dropped: outside domains)"),
        "{}",
        out.stderr
    );
    // The dropped address's field is not a loop for the local MTA: it stays.
    let t = &w.smtp.transactions()[0];
    assert!(String::from_utf8_lossy(&t.data).contains("Delivered-To: eve@elsewhere.test\r\n"));
}

#[test]
fn m14_no_envelope_header_goes_to_fallback_or_is_kept_and_reported() {
    // The only Delivered-To is below the ISP's Received: an earlier hop's, never a recipient.
    let msgs = vec![Msg::new("uid-1", catchall(1, ""))];
    let w = World::plain(msgs.clone());
    let out = run(&multidrop(&w, LOCAL).path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.smtp.transactions().len(), 0);
    assert_eq!(w.pop.mailbox_uids(), ["uid-1"]);
    assert!(out.stderr.contains("no usable recipient"), "{}", out.stderr);
    assert!(state(&w).contains("\nR uid-1 0 0 "), "{}", state(&w));
    // Journalled: not fetched again every poll (it waits, as any rejected message, for --retry-rejected).
    let again = run(&multidrop(&w, LOCAL).path, &["run"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(w.pop.retr_log().len(), 1);

    let w = World::plain(msgs);
    let cfg = multidrop(
        &w,
        "{ domains = [\"local.test\"], fallback = \"postmaster@local.test\" }",
    );
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(rcpts(&w), [vec!["postmaster@local.test".to_owned()]]);
    assert!(
        out.stderr.contains("to the fallback postmaster@local.test"),
        "{}",
        out.stderr
    );
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn m15_a_temporarily_refused_recipient_gets_it_on_the_next_poll_and_nobody_twice() {
    let w = World::plain(vec![Msg::new("uid-1", both(1))]);
    w.smtp.update(|b| {
        b.rcpt_replies
            .insert(B.into(), "450 4.2.0 <bob@local.test>: mailbox busy".into());
    });
    let cfg = multidrop(&w, LOCAL);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(rcpts(&w), [vec![A.to_owned()]]);
    assert_eq!(
        w.pop.mailbox_uids(),
        ["uid-1"],
        "kept until every recipient is settled"
    );
    assert!(w.pop.dele_log().is_empty());
    assert!(
        state(&w).contains(&format!("\nP uid-1 0 {A}\n")),
        "{}",
        state(&w)
    );
    assert!(
        out.stderr.contains("recipients still missing only"),
        "{}",
        out.stderr
    );

    w.smtp.update(|b| b.rcpt_replies.clear());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(rcpts(&w), [vec![A.to_owned()], vec![B.to_owned()]]);
    assert!(w.pop.mailbox_uids().is_empty());
    assert!(!out.stderr.contains("possible duplicate"), "{}", out.stderr);
}

#[test]
fn m16_a_permanently_refused_recipient_is_journalled_and_the_rest_served() {
    let w = World::plain(vec![Msg::new("uid-1", both(1))]);
    w.smtp.update(|b| {
        b.rcpt_replies.insert(
            B.into(),
            "550 5.1.1 <bob@local.test>: Recipient address rejected".into(),
        );
    });
    let out = run(&multidrop(&w, LOCAL).path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(rcpts(&w), [vec![A.to_owned()]]);
    assert!(
        w.pop.mailbox_uids().is_empty(),
        "every recipient is settled"
    );
    let s = state(&w);
    assert!(s.contains(&format!("\nX uid-1 0 {B} 550 ")), "{s}");
    assert!(s.contains("\nD uid-1 0\n"), "{s}");
    assert!(
        out.stderr.contains("refused for good for <bob@local.test>"),
        "{}",
        out.stderr
    );

    // A message whose every recipient is refused for good is that message's rejection, not a configuration
    // error: it waits on the server, and the poll goes on.
    w.pop.add_messages(vec![
        Msg::new("uid-2", catchall(2, &format!("Delivered-To: {B}\r\n"))),
        Msg::new("uid-3", catchall(3, &format!("Delivered-To: {A}\r\n"))),
    ]);
    let out = run(&multidrop(&w, LOCAL).path, &["run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), ["uid-2"]);
    assert!(state(&w).contains("\nR uid-2 0 550 "), "{}", state(&w));
    assert_eq!(w.delivered_subjects(), ["message 1", "message 3"]);
}

#[test]
fn m17_a_server_that_stops_mid_poll_after_some_recipients_were_served() {
    let msgs = vec![Msg::new("uid-1", both(1)), Msg::new("uid-2", both(2))];
    let w = World::plain_with(msgs, |b| b.drop_during_retr = Some((1, 20)));
    w.smtp.update(|b| {
        b.rcpt_replies
            .insert(B.into(), "452 4.2.2 <bob@local.test>: over quota".into());
    });
    let cfg = multidrop(&w, LOCAL);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 75, "{}", out.all());
    assert_eq!(rcpts(&w), [vec![A.to_owned()]]);
    assert_eq!(w.pop.mailbox_uids(), ["uid-1", "uid-2"]);

    w.pop.update(|b| b.drop_during_retr = None);
    w.smtp.update(|b| b.rcpt_replies.clear());
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // Message 1 to bob only, message 2 to both: each recipient got each message exactly once.
    assert_eq!(
        rcpts(&w),
        [
            vec![A.to_owned()],
            vec![B.to_owned()],
            vec![A.to_owned(), B.to_owned()]
        ]
    );
    let subjects: Vec<String> = w.delivered_subjects();
    assert_eq!(subjects, ["message 1", "message 1", "message 2"]);
    assert!(w.pop.mailbox_uids().is_empty());
}

#[test]
fn m18_dry_run_and_diff_show_recipients_found_mapped_and_dropped() {
    let env = format!(
        "Delivered-To: info@local.test\r\nDelivered-To: eve@elsewhere.test\r\nDelivered-To: {B}\r\n"
    );
    let w = World::plain(vec![Msg::new("uid-1", catchall(1, &env))]);
    let cfg = multidrop(
        &w,
        &format!(
            "{{ domains = [\"local.test\"], map = {{ \"info@local.test\" = {} }} }}",
            toml_str(A)
        ),
    );
    let out = run(&cfg.path, &["run", "--dry-run", "--diff"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let line = format!(
        "recipients from Delivered-To: info@local.test -> {A} (mapped), eve@elsewhere.test (dropped: outside \
         domains), {B}"
    );
    assert!(out.stdout.contains(&line), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("RCPT TO:<{A}> RCPT TO:<{B}>")),
        "{}",
        out.stdout
    );
    assert_eq!(w.smtp.connections(), 0);
    assert_eq!(w.pop.mailbox_uids(), ["uid-1"]);
}

/// Issue 11 point 2 for multidrop: a large message's recipients come from its held header block and its body is
/// streamed into the one transaction, so memory stays bounded; the bytes are those of a message held whole.
#[test]
fn m11_s21_a_50_mib_multidrop_message_streams_to_each_recipient_in_bounded_memory() {
    let body = large(1, 50 << 20);
    let mut raw = format!("Delivered-To: {B}\r\n").into_bytes();
    raw.extend_from_slice(&body);
    let peak = PeakMemory::default();
    let w = World::plain_with(vec![Msg::new("uid-1", raw)], |b| peak.install(b));
    let cfg = multidrop(&w, LOCAL);
    let out = run_measured(&cfg.path, &peak);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(rcpts(&w), vec![vec![B.to_owned(), A.to_owned()]]);
    // Both fields naming a recipient went, exactly as for a message held whole.
    assert!(strip_received(&w.smtp.transactions()[0].data) == piped(&body).as_slice());
    assert!(state(&w).contains("\nD uid-1 0\n"), "{}", state(&w));
    assert_bounded_and_done(&w, &peak);
}

/// Catalog P-20 for a streamed multidrop message: the POP3 server dies halfway through its RETR while its body
/// goes into DATA: no end of data, the MTA accepts nothing, nothing is deleted; the next run delivers it once.
#[test]
fn p20_a_multidrop_message_whose_retr_dies_mid_stream_is_never_accepted() {
    let (w, raw) = dying_world(mail(2));
    let cfg = multidrop(&w, LOCAL);
    let out = run(&cfg.path, &["run"]);
    assert!(w.smtp.transactions().is_empty(), "{}", out.all());
    assert!(!state(&w).contains("\nP uid-1"), "{}", state(&w));
    assert_kept_then_delivered(&w, &out, &cfg.path);
    let d = w.smtp.transactions();
    assert_eq!(d.len(), 2);
    assert!(strip_received(&d[0].data) == piped(&raw).as_slice());
    assert_eq!(d[0].rcpt_to, vec![A.to_owned()]);
}

/// Catalog C-02 for a streamed multidrop message: killed once the first 64 KiB of its body went into DATA. The MTA
/// discards the cut transaction; the next run delivers it once to each recipient and names it as a possible
/// duplicate (its in-flight mark), as for one target.
#[test]
fn c02_a_kill_inside_a_streamed_multidrop_body_loses_nothing_and_duplicates_nothing() {
    let body = large(1, 3 << 20);
    let mut raw = format!("Delivered-To: {B}\r\n").into_bytes();
    raw.extend_from_slice(&body);
    let w = World::plain(vec![Msg::new("uid-1", raw), Msg::new("uid-2", both(2))]);
    let cfg = multidrop(&w, LOCAL);
    killed_mid_stream(&w, &cfg.path);
    let out = run(&cfg.path, &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        rcpts(&w),
        vec![
            vec![B.to_owned(), A.to_owned()],
            vec![A.to_owned(), B.to_owned()]
        ]
    );
    assert!(strip_received(&w.smtp.transactions()[0].data) == piped(&body).as_slice());
    assert_eq!(
        out.stderr.matches("possible duplicate").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(w.pop.mailbox_uids().is_empty());
}
