//! Local destinations (issue 12) with real parts: popfetch fetching from the suite's Dovecot and delivering into
//! a Maildir itself, through procmail, and through Dovecot's own `dovecot-lda`. Each test reads back what the
//! destination wrote and compares it byte for byte with the original after the documented edits: popfetch's
//! `Received` field on top, LF line endings.

use super::*;

/// The case's bytes as a local destination gets them: popfetch's Received field (checked and removed), then the
/// original with LF line endings.
fn assert_ours_then_original(got: &[u8], original: &[u8], case: &str) {
    let (ours, rest) = next_field(got);
    assert!(
        field_named(ours, "Received") && contains(ours, b"popfetch"),
        "case {case}: no Received from popfetch first:\n{}",
        String::from_utf8_lossy(&got[..got.len().min(400)])
    );
    let want = to_lf(original);
    assert!(
        rest == want.as_slice(),
        "case {case}: {} bytes written, {} wanted; first difference at {:?}",
        rest.len(),
        want.len(),
        rest.iter().zip(&want).position(|(a, b)| a != b)
    );
}

/// The test cases (name, original bytes) and the messages a Maildir holds.
type Cases = (Vec<(String, Vec<u8>)>, Vec<Vec<u8>>);

/// Deliver [`content_messages`] from Dovecot with `extra` account keys; return the cases and what `dir` (a Maildir)
/// holds afterwards, after checking the run and that Dovecot was emptied.
fn deliver_all(s: &Servers, extra: &str, dir: &Path) -> Cases {
    let messages = content_messages();
    s.put(&messages.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    let run = s.run(&s.config(Tls::Implicit, &s.path("CA_FILE"), extra));
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
    assert!(s.delivered().is_empty(), "nothing goes through Postfix");
    let again = s.run(&s.config(Tls::Implicit, &s.path("CA_FILE"), extra));
    assert_eq!((again.code(), again.text()), (Some(0), String::new()));
    (messages, maildir_messages(dir))
}

/// The one message of `files` carrying `X-Case: case` (LF line endings).
pub(super) fn the_case<'a>(files: &'a [Vec<u8>], case: &str) -> &'a [u8] {
    let tag = format!("\nX-Case: {case}\n");
    let found: Vec<&Vec<u8>> = files
        .iter()
        .filter(|f| contains(f, tag.as_bytes()))
        .collect();
    assert_eq!(found.len(), 1, "case {case}: {} copies", found.len());
    found[0]
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn d12_maildir_gets_the_content_corpus_byte_exact() {
    let s = Servers::start("d12_maildir_gets_the_content_corpus_byte_exact");
    let root = s.dir.join("popfetch-maildir");
    let extra = format!(
        "delivery = \"maildir\"\nmaildir = {:?}",
        root.display().to_string()
    );
    let (messages, files) = deliver_all(&s, &extra, &root);
    assert_eq!(files.len(), messages.len());
    let head = format!(
        "Return-Path: <{}>\nDelivered-To: {}\n",
        s.get("SENDER"),
        s.get("TARGET")
    );
    for (case, original) in &messages {
        let got = the_case(&files, case);
        assert!(
            got.starts_with(head.as_bytes()),
            "case {case}: {:?}",
            &got[..80]
        );
        assert_ours_then_original(&got[head.len()..], original, case);
    }
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn d12_procmail_as_the_mda_writes_the_content_corpus_byte_exact() {
    let s = Servers::start("d12_procmail_as_the_mda_writes_the_content_corpus_byte_exact");
    let root = s.dir.join("procmail-maildir");
    let rc = s.dir.join("procmailrc");
    fs::write(
        &rc,
        format!(
            "DEFAULT={}/\nLOGFILE={}\n",
            root.display(),
            s.dir.join("procmail.log").display()
        ),
    )
    .expect("write procmailrc");
    let extra = format!(
        "delivery = \"mda\"\nmda = [\"/usr/bin/procmail\", \"-m\", {:?}]",
        rc.display().to_string()
    );
    let (messages, files) = deliver_all(&s, &extra, &root);
    assert_eq!(files.len(), messages.len());
    for (case, original) in &messages {
        assert_ours_then_original(the_case(&files, case), original, case);
    }
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn d12_dovecot_lda_as_the_mda_delivers_the_content_corpus_byte_exact() {
    let s = Servers::start("d12_dovecot_lda_as_the_mda_delivers_the_content_corpus_byte_exact");
    // dovecot-lda looks the user up in the suite's Dovecot userdb and writes as that user, into a Maildir of
    // its own (not the POP3 one popfetch fetches from).
    let root = s.dir.join("lda-maildir");
    fs::create_dir_all(&root).expect("mkdir");
    let (uid, gid) = (
        s.get("MAIL_UID").parse().expect("uid"),
        s.get("MAIL_GID").parse().expect("gid"),
    );
    std::os::unix::fs::chown(&root, Some(uid), Some(gid)).expect("chown");
    let extra = format!(
        "delivery = \"mda\"\nmda = [\"/usr/lib/dovecot/dovecot-lda\", \"-c\", {:?}, \"-d\", {:?}, \"-f\", \"%F\", \
         \"-o\", \"mail_location=maildir:{}\"]",
        s.get("DOVECOT_CONF"),
        s.get("POP_USER"),
        root.display()
    );
    let (messages, files) = deliver_all(&s, &extra, &root);
    assert_eq!(files.len(), messages.len());
    for (case, original) in &messages {
        assert_ours_then_original(the_case(&files, case), original, case);
    }
    assert!(
        s.dovecot_log().contains("lda(joe)") && s.dovecot_log().contains("saved mail to INBOX"),
        "{}",
        tail(&s.dovecot_log(), 10)
    );
}

/// `delivery = "lmtp"` to the suite's Dovecot LMTP at `lmtp`, into the second mailbox (`LMTP_TARGET`): each
/// message as Dovecot stores it is its Return-Path and Delivered-To, its own Received, popfetch's Received, then
/// the original with LF line endings.
fn lmtp_delivers(s: &Servers, lmtp: &str) {
    let root = s.path("LMTP_MAILDIR");
    let extra = format!(
        "delivery = \"lmtp\"\nlmtp = {lmtp:?}\ntarget = {:?}",
        s.get("LMTP_TARGET")
    );
    // `config` writes the suite's target; a second `target` line would be a duplicate key, so replace it.
    let config = s.config(Tls::Implicit, &s.path("CA_FILE"), &extra);
    let text = fs::read_to_string(&config).expect("read config");
    let first_target = format!("target = {:?}\n", s.get("TARGET"));
    fs::write(&config, text.replacen(&first_target, "", 1)).expect("write config");
    let messages = content_messages();
    s.put(&messages.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    let run = s.run(&config);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    assert!(
        run.text().contains("over LMTP") || run.text().contains("delivered to <lmtpjoe@"),
        "{}",
        run.text()
    );
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
    assert!(s.delivered().is_empty(), "nothing goes through Postfix");
    let files = maildir_messages(&root);
    assert_eq!(files.len(), messages.len(), "{}", s.context(&run));
    for (case, original) in &messages {
        let got = the_case(&files, case);
        let (rp, rest) = next_field(got);
        assert!(
            field_named(rp, "Return-Path"),
            "case {case}: {:?}",
            &got[..80]
        );
        let (dt, rest) = next_field(rest);
        assert_eq!(
            dt,
            format!("Delivered-To: {}\n", s.get("LMTP_TARGET")).as_bytes()
        );
        let (dovecot, rest) = next_field(rest);
        assert!(
            field_named(dovecot, "Received") && contains(dovecot, b"LMTP"),
            "case {case}"
        );
        assert_ours_then_original(rest, original, case);
    }
    let again = s.run(&config);
    assert_eq!((again.code(), again.text()), (Some(0), String::new()));
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn d12_lmtp_over_tcp_to_dovecot_delivers_the_content_corpus_byte_exact() {
    let s = Servers::start("d12_lmtp_over_tcp_to_dovecot_delivers_the_content_corpus_byte_exact");
    lmtp_delivers(&s, &format!("127.0.0.1:{}", s.get("LMTP_PORT")));
}

#[test]
#[ignore = "needs dovecot and postfix: run tests/interop/run.sh"]
fn d12_lmtp_over_a_unix_socket_to_dovecot_delivers_the_content_corpus_byte_exact() {
    let s = Servers::start(
        "d12_lmtp_over_a_unix_socket_to_dovecot_delivers_the_content_corpus_byte_exact",
    );
    lmtp_delivers(&s, &format!("unix:{}", s.get("LMTP_SOCKET")));
}
