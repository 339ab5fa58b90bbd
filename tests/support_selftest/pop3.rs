//! The fake POP3 server: login, UIDL/RETR/TOP with dot-stuffing, DELE and QUIT, faults, STLS and implicit TLS,
//! pipelining and lock-step, AUTH PLAIN and APOP, persistent mailboxes.

use super::*;

pub(super) fn connect(port: u16) -> Raw<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    Raw { s }
}

fn login(c: &mut Raw<impl Read + Write>) {
    assert!(c.line().starts_with(b"+OK fake ready <"));
    assert_eq!(c.cmd("USER alice"), "+OK\r\n");
    assert_eq!(c.cmd("PASS s3cret-pa55"), "+OK Logged in.\r\n");
}

fn stuffed_msg() -> Msg {
    Msg::new(
        "uid-dots",
        &b"Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n"[..],
    )
}

#[test]
fn pop3_login_uidl_retr_stuffs_dots_on_the_wire() {
    let pop = FakePop3::start(
        vec![stuffed_msg(), Msg::new("uid-2", &b"x\r\n"[..])],
        Pop3Behavior::plain(),
    );
    let mut c = connect(pop.port());
    login(&mut c);
    c.send(b"CAPA\r\n");
    let capa = String::from_utf8(c.multiline()).unwrap();
    assert!(capa.starts_with("+OK"));
    for cap in [
        "\r\nUSER\r\n",
        "\r\nUIDL\r\n",
        "\r\nTOP\r\n",
        "\r\nRESP-CODES\r\n",
    ] {
        assert!(capa.contains(cap), "{cap:?} missing from {capa:?}");
    }
    assert!(!capa.contains("STLS") && !capa.contains("PIPELINING"));
    c.send(b"UIDL\r\n");
    assert_eq!(c.multiline(), b"+OK\r\n1 uid-dots\r\n2 uid-2\r\n.\r\n");
    c.send(b"LIST\r\n");
    assert_eq!(c.multiline(), b"+OK\r\n1 41\r\n2 3\r\n.\r\n");
    assert_eq!(c.cmd("STAT"), "+OK 2 44\r\n");
    c.send(b"RETR 1\r\n");
    let retr = c.multiline();
    assert_eq!(
        retr,
        b"+OK 41 octets\r\nSubject: dots\r\n\r\n..hidden\r\n...two\r\n..\r\nend\r\n.\r\n".to_vec()
    );
    assert_eq!(c.cmd("RETR 9"), "-ERR no such message\r\n");
    assert_eq!(c.cmd("QUIT"), "+OK Logging out.\r\n");
    assert!(c.read_to_end().is_empty());

    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    let s = &pop.sessions()[0];
    assert_eq!(
        s.client_bytes,
        b"USER alice\r\nPASS s3cret-pa55\r\nCAPA\r\nUIDL\r\nLIST\r\nSTAT\r\nRETR 1\r\nRETR 9\r\nQUIT\r\n"
    );
    assert_eq!(
        s.commands[1], "PASS s3cret-pa55",
        "PASS kept raw for secret checks"
    );
    assert_eq!(s.retr_count, 1);
    assert!(s.quit && s.authenticated);
    assert_eq!(pop.retr_log(), ["uid-dots"]);
    assert!(pop.dele_log().is_empty());
    assert_eq!(pop.mailbox_uids(), ["uid-dots", "uid-2"]);
    assert!(pop.violations().is_empty(), "{:?}", pop.violations());
}

#[test]
fn pop3_retr_terminator_rules() {
    // RFC 1939 §3: CRLF added only when missing; an empty message is the bare terminator.
    assert_eq!(stuffed_with_terminator(b"a\r\n", true), b"a\r\n.\r\n");
    assert_eq!(stuffed_with_terminator(b"a", true), b"a\r\n.\r\n");
    assert_eq!(stuffed_with_terminator(b"", true), b".\r\n");
    // A dot after a bare LF does not start a line.
    assert_eq!(
        stuffed_with_terminator(b"a\n.b\r\n.c", true),
        b"a\n.b\r\n..c\r\n.\r\n"
    );
    let pop = FakePop3::start(
        vec![
            Msg::new("u", &b"no final newline"[..]),
            Msg::new("e", Vec::new()),
        ],
        Default::default(),
    );
    let mut c = connect(pop.port());
    login(&mut c);
    c.send(b"RETR 1\r\n");
    assert_eq!(c.multiline(), b"+OK 16 octets\r\nno final newline\r\n.\r\n");
    c.send(b"RETR 2\r\n");
    assert_eq!(c.multiline(), b"+OK 0 octets\r\n.\r\n");
    c.send(b"TOP 1 0\r\n");
    assert_eq!(c.multiline(), b"+OK\r\nno final newline\r\n.\r\n");
}

#[test]
fn pop3_top_sends_header_and_k_body_lines() {
    let m = Msg::new("t", &b"A: 1\r\nB: 2\r\n\r\nl1\r\n.l2\r\nl3\r\n"[..]);
    let pop = FakePop3::start(vec![m], Pop3Behavior::plain());
    let mut c = connect(pop.port());
    login(&mut c);
    c.send(b"TOP 1 2\r\n");
    assert_eq!(
        c.multiline(),
        b"+OK\r\nA: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n"
    );
}

#[test]
fn pop3_dele_then_quit_commits() {
    let msgs = vec![
        Msg::new("a", &b"1\r\n"[..]),
        Msg::new("b", &b"2\r\n"[..]),
        Msg::new("c", &b"3\r\n"[..]),
    ];
    let pop = FakePop3::start(msgs, Pop3Behavior::plain());
    let mut c = connect(pop.port());
    login(&mut c);
    assert_eq!(c.cmd("DELE 2"), "+OK message 2 deleted\r\n");
    assert_eq!(c.cmd("DELE 2"), "-ERR no such message\r\n");
    c.send(b"UIDL\r\n");
    assert_eq!(c.multiline(), b"+OK\r\n1 a\r\n3 c\r\n.\r\n");
    assert_eq!(
        pop.mailbox_uids(),
        ["a", "b", "c"],
        "DELE alone changes nothing"
    );
    assert_eq!(c.cmd("QUIT"), "+OK Logging out, 1 messages deleted.\r\n");
    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    assert_eq!(pop.mailbox_uids(), ["a", "c"]);
    assert_eq!(pop.dele_log(), ["b"]);

    // A new session numbers the remaining messages afresh.
    let mut c = connect(pop.port());
    login(&mut c);
    c.send(b"UIDL\r\n");
    assert_eq!(c.multiline(), b"+OK\r\n1 a\r\n2 c\r\n.\r\n");
    assert_eq!(c.cmd("DELE 1"), "+OK message 1 deleted\r\n");
    assert_eq!(c.cmd("RSET"), "+OK\r\n");
    assert_eq!(c.cmd("QUIT"), "+OK Logging out.\r\n");
    assert!(pop.wait_until(T, |p| p.sessions().len() == 2 && p.sessions()[1].finished));
    assert_eq!(pop.mailbox_uids(), ["a", "c"]);
}

#[test]
fn pop3_dele_without_quit_commits_nothing() {
    let pop = FakePop3::start(
        vec![Msg::new("a", &b"1\r\n"[..]), Msg::new("b", &b"2\r\n"[..])],
        Pop3Behavior::plain(),
    );
    let mut c = connect(pop.port());
    login(&mut c);
    assert_eq!(c.cmd("DELE 1"), "+OK message 1 deleted\r\n");
    assert_eq!(c.cmd("DELE 2"), "+OK message 2 deleted\r\n");
    drop(c);
    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    let s = &pop.sessions()[0];
    assert!(!s.quit);
    assert_eq!(s.marked, ["a", "b"]);
    assert_eq!(pop.mailbox_uids(), ["a", "b"]);
    assert!(pop.dele_log().is_empty());
}

#[test]
fn pop3_transaction_commands_need_authentication() {
    let pop = FakePop3::start(vec![Msg::new("a", &b"1\r\n"[..])], Pop3Behavior::plain());
    let mut c = connect(pop.port());
    c.line();
    assert_eq!(c.cmd("UIDL"), "-ERR not authenticated\r\n");
    assert_eq!(c.cmd("PASS x"), "-ERR No username given.\r\n");
    assert_eq!(c.cmd("USER alice"), "+OK\r\n");
    assert_eq!(
        c.cmd("PASS wrong"),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(c.cmd("RETR 1"), "-ERR not authenticated\r\n");
    assert_eq!(c.cmd("QUIT"), "+OK Logging out.\r\n");
    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    assert!(!pop.sessions()[0].authenticated);
}

#[test]
fn pop3_drop_during_retr_sends_exact_prefix_then_closes() {
    let b = Pop3Behavior {
        drop_during_retr: Some((1, 20)),
        ..Pop3Behavior::plain()
    };
    let msgs = vec![
        Msg::new("a", &b"first\r\n"[..]),
        Msg::new("b", &b"0123456789abcdefghij\r\n"[..]),
    ];
    let pop = FakePop3::start(msgs, b);
    let mut c = connect(pop.port());
    login(&mut c);
    c.send(b"RETR 1\r\n");
    assert_eq!(c.multiline(), b"+OK 7 octets\r\nfirst\r\n.\r\n");
    assert_eq!(c.cmd("DELE 1"), "+OK message 1 deleted\r\n");
    c.send(b"RETR 2\r\n");
    assert_eq!(c.read_to_end(), b"+OK 22 octets\r\n01234");
    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    assert_eq!(pop.retr_log(), ["a"], "an interrupted RETR is not logged");
    assert_eq!(
        pop.mailbox_uids(),
        ["a", "b"],
        "the dropped session committed nothing"
    );
    assert!(
        pop.sessions()[0]
            .error
            .as_deref()
            .unwrap()
            .contains("dropped")
    );

    // Behaviour changes apply to the next connection.
    pop.update(|b| b.drop_during_retr = None);
    let mut c = connect(pop.port());
    login(&mut c);
    c.send(b"RETR 2\r\n");
    assert_eq!(
        c.multiline(),
        b"+OK 22 octets\r\n0123456789abcdefghij\r\n.\r\n"
    );
}

#[test]
fn pop3_stall_after_retr_ok_sends_status_line_only() {
    let b = Pop3Behavior {
        stall_after_retr_ok: true,
        ..Pop3Behavior::plain()
    };
    let pop = FakePop3::start(vec![Msg::new("a", &b"body\r\n"[..])], b);
    let mut c = connect(pop.port());
    login(&mut c);
    c.send(b"RETR 1\r\n");
    assert_eq!(c.line(), b"+OK 6 octets\r\n");
    c.s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    let r = c.s.read(&mut buf);
    assert!(r.is_err(), "expected silence, got {r:?}");
    drop(c);
    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    assert!(pop.retr_log().is_empty());
}

#[test]
fn pop3_stls_upgrade_with_client_trusting_test_ca() {
    let pki = TestPki::new();
    let pop = FakePop3::start(
        vec![stuffed_msg()],
        Pop3Behavior::stls(pki.default_server_config()),
    );
    let mut c = connect(pop.port());
    assert!(c.line().starts_with(b"+OK fake ready"));
    c.send(b"CAPA\r\n");
    assert!(
        String::from_utf8(c.multiline())
            .unwrap()
            .contains("\r\nSTLS\r\n")
    );
    assert_eq!(c.cmd("STLS"), "+OK Begin TLS negotiation\r\n");
    let mut t = tls_client(&pki, c.s);
    t.send(b"CAPA\r\n");
    let capa = String::from_utf8(t.multiline()).unwrap();
    assert!(
        !capa.contains("STLS"),
        "STLS must not be offered inside TLS: {capa}"
    );
    assert_eq!(t.cmd("STLS"), "-ERR STLS not available\r\n");
    assert_eq!(t.cmd("USER alice"), "+OK\r\n");
    assert_eq!(t.cmd("PASS s3cret-pa55"), "+OK Logged in.\r\n");
    t.send(b"RETR 1\r\n");
    assert!(t.multiline().ends_with(b"..\r\nend\r\n.\r\n"));
    assert_eq!(t.cmd("QUIT"), "+OK Logging out.\r\n");
    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    let s = &pop.sessions()[0];
    assert_eq!(s.bytes_before_tls(), b"CAPA\r\nSTLS\r\n");
    assert_eq!(
        s.client_bytes,
        b"CAPA\r\nSTLS\r\nCAPA\r\nSTLS\r\nUSER alice\r\nPASS s3cret-pa55\r\nRETR 1\r\nQUIT\r\n",
        "decrypted bytes recorded after the handshake"
    );
    assert!(pop.violations().is_empty(), "{:?}", pop.violations());
}

#[test]
fn pop3_stls_junk_after_ok_is_sent_in_the_clear() {
    let pki = TestPki::new();
    let b = Pop3Behavior {
        stls_junk_after_ok: true,
        ..Pop3Behavior::stls(pki.default_server_config())
    };
    let pop = FakePop3::start(vec![], b);
    let mut c = connect(pop.port());
    c.line();
    assert_eq!(c.cmd("STLS"), "+OK Begin TLS negotiation\r\n");
    assert_eq!(c.line(), STLS_JUNK);
}

#[test]
fn pop3_implicit_tls_and_wrong_name_rejected_by_client() {
    let pki = TestPki::new();
    let pop = FakePop3::start(
        vec![Msg::new("a", &b"x\r\n"[..])],
        Pop3Behavior::implicit(pki.default_server_config()),
    );
    let tcp = TcpStream::connect(("127.0.0.1", pop.port())).unwrap();
    tcp.set_read_timeout(Some(T)).unwrap();
    let mut t = tls_client(&pki, tcp);
    login(&mut t);
    t.send(b"UIDL\r\n");
    assert_eq!(t.multiline(), b"+OK\r\n1 a\r\n.\r\n");
    drop(t);
    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    assert_eq!(pop.sessions()[0].tls_at, Some(0));

    // A certificate for another name fails verification in a client trusting the CA.
    pop.set_behavior(Pop3Behavior::implicit(
        pki.server_config(&["wrong.example"]),
    ));
    let tcp = TcpStream::connect(("127.0.0.1", pop.port())).unwrap();
    tcp.set_read_timeout(Some(T)).unwrap();
    let mut t = tls_client(&pki, tcp);
    let mut b = [0u8; 1];
    let err = t.s.read(&mut b).unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");
    assert!(pop.wait_until(T, |p| p.sessions().len() == 2 && p.sessions()[1].finished));
    assert!(
        pop.sessions()[1].error.is_some(),
        "handshake failure recorded"
    );
}

#[test]
fn pop3_lockstep_violation_recorded_without_pipelining() {
    let pop = FakePop3::start(vec![Msg::new("a", &b"1\r\n"[..])], Pop3Behavior::plain());
    let mut c = connect(pop.port());
    c.line();
    c.send(b"USER alice\r\nPASS s3cret-pa55\r\n");
    assert_eq!(c.line(), b"+OK\r\n");
    assert_eq!(c.line(), b"+OK Logged in.\r\n");
    let v = pop.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("before the reply to USER"), "{v:?}");
    assert!(
        !v[0].contains("s3cret"),
        "violations never quote arguments: {v:?}"
    );
}

#[test]
fn pop3_pipelining_advertised_allows_batches() {
    let b = Pop3Behavior {
        pipelining: true,
        ..Pop3Behavior::plain()
    };
    let pop = FakePop3::start(
        vec![Msg::new("a", &b"1\r\n"[..]), Msg::new("b", &b"2\r\n"[..])],
        b,
    );
    let mut c = connect(pop.port());
    c.line();
    c.send(b"CAPA\r\n");
    assert!(
        String::from_utf8(c.multiline())
            .unwrap()
            .contains("\r\nPIPELINING\r\n")
    );
    c.send(b"USER alice\r\nPASS s3cret-pa55\r\nRETR 1\r\nRETR 2\r\n");
    assert_eq!(c.line(), b"+OK\r\n");
    assert_eq!(c.line(), b"+OK Logged in.\r\n");
    assert_eq!(c.multiline(), b"+OK 3 octets\r\n1\r\n.\r\n");
    assert_eq!(c.multiline(), b"+OK 3 octets\r\n2\r\n.\r\n");
    assert!(pop.violations().is_empty(), "{:?}", pop.violations());
}

#[test]
fn pop3_auth_plain_initial_response_and_continuation() {
    use base64::Engine;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let b = Pop3Behavior {
        sasl_plain: true,
        ..Pop3Behavior::plain()
    };
    let pop = FakePop3::start(vec![], b);

    let mut c = connect(pop.port());
    c.line();
    c.send(b"CAPA\r\n");
    assert!(
        String::from_utf8(c.multiline())
            .unwrap()
            .contains("\r\nSASL PLAIN\r\n")
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0nope"))),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0s3cret-pa55"))),
        "+OK Logged in.\r\n"
    );

    let mut c = connect(pop.port());
    c.line();
    assert_eq!(c.cmd("AUTH PLAIN"), "+ \r\n");
    assert_eq!(
        c.cmd(&b64(b"alice\0alice\0s3cret-pa55")),
        "+OK Logged in.\r\n"
    );
    c.cmd("QUIT");
    assert!(pop.wait_until(T, |p| p.sessions().len() == 2 && p.sessions()[1].finished));
    assert_eq!(
        pop.sessions()[1].commands[1],
        b64(b"alice\0alice\0s3cret-pa55"),
        "continuation recorded"
    );
    assert!(pop.sessions()[1].authenticated);
}

#[test]
fn pop3_err_on_pass_and_plaintext_refusal() {
    let b = Pop3Behavior {
        err_on_pass: Some("-ERR [IN-USE] locked".into()),
        ..Pop3Behavior::plain()
    };
    let pop = FakePop3::start(vec![], b);
    let mut c = connect(pop.port());
    c.line();
    c.cmd("USER alice");
    assert_eq!(c.cmd("PASS s3cret-pa55"), "-ERR [IN-USE] locked\r\n");

    pop.set_behavior(Pop3Behavior {
        require_tls_for_auth: true,
        ..Pop3Behavior::plain()
    });
    let mut c = connect(pop.port());
    c.line();
    assert!(
        c.cmd("USER alice")
            .starts_with("-ERR [AUTH] Plaintext authentication disallowed")
    );
}

#[test]
fn pop3_apop_digest_checked() {
    use md5::{Digest, Md5};
    let b = Pop3Behavior {
        apop: true,
        ..Pop3Behavior::plain()
    };
    let pop = FakePop3::start(vec![], b);
    let mut c = connect(pop.port());
    c.line();
    let hex: String = Md5::digest(b"<123.456@fake.test>s3cret-pa55")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        c.cmd("APOP alice 00000000000000000000000000000000"),
        "-ERR [AUTH] Authentication failed.\r\n"
    );
    assert_eq!(c.cmd(&format!("APOP alice {hex}")), "+OK Logged in.\r\n");
}

#[test]
fn pop3_state_persists_and_add_messages() {
    let pop = FakePop3::start(vec![Msg::new("a", &b"1\r\n"[..])], Pop3Behavior::plain());
    pop.add_messages(vec![Msg::new("b", &b"2\r\n"[..])]);
    let mut c = connect(pop.port());
    login(&mut c);
    c.send(b"UIDL\r\n");
    assert_eq!(c.multiline(), b"+OK\r\n1 a\r\n2 b\r\n.\r\n");
    // Messages added after login are not in this session's snapshot.
    pop.add_messages(vec![Msg::new("c", &b"3\r\n"[..])]);
    assert_eq!(c.cmd("UIDL 3"), "-ERR no such message\r\n");
    c.cmd("DELE 1");
    assert!(pop.wait_command("dele 1", T));
    c.cmd("QUIT");
    assert!(pop.wait_until(T, |p| p.sessions()[0].finished));
    assert_eq!(pop.mailbox_uids(), ["b", "c"]);
}

#[test]
fn pop3_write_chunks_deliver_the_same_bytes_in_pieces() {
    let b = Pop3Behavior {
        write_chunks: Some((1, Duration::from_millis(2))),
        ..Pop3Behavior::plain()
    };
    let pop = FakePop3::start(vec![stuffed_msg()], b);
    let mut c = connect(pop.port());
    login(&mut c);
    let started = std::time::Instant::now();
    c.send(b"RETR 1\r\n");
    let retr = c.multiline();
    assert_eq!(
        retr,
        b"+OK 41 octets\r\nSubject: dots\r\n\r\n..hidden\r\n...two\r\n..\r\nend\r\n.\r\n".to_vec()
    );
    // One pause between each of the 62 one-byte writes.
    assert!(
        started.elapsed() >= Duration::from_millis(2 * 61),
        "{:?}",
        started.elapsed()
    );
}
