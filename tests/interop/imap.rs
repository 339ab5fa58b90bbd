//! IMAP APPEND as the destination (issue 14) against the suite's real Dovecot IMAP: popfetch fetches the content
//! corpus from Dovecot's POP3 and APPENDs it to another user's INBOX over IMAPS (the suite's test CA) or STARTTLS,
//! then the test reads Dovecot's Maildir back (Dovecot stores LF line endings) and compares byte for byte.

use super::destinations::the_case;
use super::*;

/// `[account.imap]` for the suite's IMAP user over `tls` ("implicit" on IMAPS_PORT, "starttls" on IMAP_PORT).
fn imap_table(s: &Servers, tls: &str, extra: &str) -> String {
    let port = if tls == "implicit" {
        s.get("IMAPS_PORT")
    } else {
        s.get("IMAP_PORT")
    };
    format!(
        "delivery = \"imap\"\n\n[account.imap]\nhost = \"localhost\"\nport = {port}\ntls = {tls:?}\n\
         ca_file = {:?}\nuser = {:?}\npassword = {:?}\n{extra}",
        s.path("CA_FILE").display().to_string(),
        s.get("IMAP_USER"),
        s.get("IMAP_PASS"),
    )
}

#[test]
#[ignore = "needs dovecot (imapd) and postfix: run tests/interop/run.sh"]
fn i14_dovecot_imap_gets_the_content_corpus_byte_exact_over_imaps() {
    let s = Servers::start("i14_dovecot_imap_gets_the_content_corpus_byte_exact_over_imaps");
    let messages = content_messages();
    s.put(&messages.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    let config = s.config(
        Tls::Implicit,
        &s.path("CA_FILE"),
        &imap_table(&s, "implicit", ""),
    );
    let run = s.run(&config);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
    assert!(s.delivered().is_empty(), "nothing goes through Postfix");
    let again = s.run(&config);
    assert_eq!((again.code(), again.text()), (Some(0), String::new()));
    let files = maildir_messages(&s.path("IMAP_MAILDIR"));
    assert_eq!(files.len(), messages.len(), "{}", s.context(&run));
    for (case, original) in &messages {
        let got = the_case(&files, case);
        // popfetch's Received field first, then the original (Dovecot stores LF line endings).
        let (ours, rest) = next_field(got);
        assert!(
            field_named(ours, "Received") && contains(ours, b"popfetch"),
            "case {case}: no Received from popfetch first"
        );
        let want = to_lf(original);
        assert!(
            rest == want.as_slice(),
            "case {case}: {} bytes stored, {} wanted; first difference at {:?}",
            rest.len(),
            want.len(),
            rest.iter().zip(&want).position(|(a, b)| a != b)
        );
    }
    assert!(
        s.dovecot_log().contains("imap(ann)"),
        "{}",
        tail(&s.dovecot_log(), 10)
    );
}

#[test]
#[ignore = "needs dovecot (imapd) and postfix: run tests/interop/run.sh"]
fn i14_starttls_flags_and_a_missing_folder() {
    let s = Servers::start("i14_starttls_flags_and_a_missing_folder");
    s.put(&[
        simple("imap-1", "", "one\r\n"),
        simple("imap-2", "", "two\r\n"),
    ]);
    // A folder that does not exist: TRYCREATE, exit 78, nothing deleted from POP3, nothing created.
    let missing = s.config(
        Tls::Implicit,
        &s.path("CA_FILE"),
        &imap_table(&s, "starttls", "folder = \"NoSuchFolder\""),
    );
    let run = s.run(&missing);
    assert_eq!(run.code(), Some(78), "{}", s.context(&run));
    assert!(run.text().contains("NoSuchFolder"), "{}", run.text());
    assert_eq!(s.dovecot_left(), 2, "{}", s.context(&run));
    assert!(!s.path("IMAP_MAILDIR").join(".NoSuchFolder").exists());
    // STARTTLS on port 143 with \Seen: the messages land in cur/ with the S flag.
    let seen = s.config(
        Tls::Implicit,
        &s.path("CA_FILE"),
        &imap_table(&s, "starttls", "flags = [\"\\\\Seen\"]"),
    );
    let run = s.run(&seen);
    assert_eq!(run.code(), Some(0), "{}", s.context(&run));
    assert_eq!(s.dovecot_left(), 0, "{}", s.context(&run));
    let cur: Vec<String> = fs::read_dir(s.path("IMAP_MAILDIR").join("cur"))
        .expect("cur/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cur.len(), 2, "{cur:?}");
    assert!(cur.iter().all(|n| n.ends_with(":2,S")), "{cur:?}");
}
