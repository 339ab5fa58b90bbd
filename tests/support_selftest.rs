//! Tests of the fakes themselves (`tests/support`), driven by hand-written raw client bytes over real 127.0.0.1
//! sockets, so that popfetch's end-to-end tests rest on servers that are known to speak the protocols correctly.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use support::pop3::{STLS_JUNK, stuffed_with_terminator};
use support::*;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConnection, StreamOwned};

const T: Duration = Duration::from_secs(5);

/// A minimal line-oriented client over any stream, reading one byte at a time so it never consumes more than the
/// reply it asked for (needed before STLS).
struct Raw<S: Read + Write> {
    s: S,
}

impl<S: Read + Write> Raw<S> {
    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
        self.s.flush().unwrap();
    }

    fn line(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\n") {
            match self.s.read(&mut b) {
                Ok(1) => out.push(b[0]),
                _ => break,
            }
        }
        out
    }

    /// Read lines until a line that is exactly `.\r\n`; returns everything read (terminator included).
    fn multiline(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            assert!(
                !l.is_empty(),
                "EOF inside a multi-line response: {:?}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&l);
            if l == b".\r\n" {
                return out;
            }
        }
    }

    fn cmd(&mut self, c: &str) -> String {
        self.send(format!("{c}\r\n").as_bytes());
        String::from_utf8_lossy(&self.line()).into_owned()
    }

    fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.s.read_to_end(&mut out);
        out
    }
}

fn connect(port: u16) -> Raw<TcpStream> {
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

fn tls_client(pki: &TestPki, tcp: TcpStream) -> Raw<StreamOwned<ClientConnection, TcpStream>> {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(pki.client_config(), name).unwrap();
    Raw {
        s: StreamOwned::new(conn, tcp),
    }
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
fn pki_expired_and_self_signed_certs_are_rejected() {
    let pki = TestPki::new();
    for (cfg, want) in [
        (
            pki.issue(&["127.0.0.1"], Validity::Expired).server_config(),
            "certificate expired",
        ),
        (
            pki.issue(&["127.0.0.1"], Validity::NotYetValid)
                .server_config(),
            "not valid before",
        ),
        (
            TestPki::self_signed(&["127.0.0.1"]).server_config(),
            "UnknownIssuer",
        ),
    ] {
        let pop = FakePop3::start(vec![], Pop3Behavior::implicit(cfg));
        let tcp = TcpStream::connect(("127.0.0.1", pop.port())).unwrap();
        tcp.set_read_timeout(Some(T)).unwrap();
        let mut t = tls_client(&pki, tcp);
        let mut b = [0u8; 1];
        let err = t.s.read(&mut b).unwrap_err();
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    let leaf = pki.issue(&["127.0.0.1"], Validity::Current);
    assert_eq!(leaf.sha256_hex().len(), 64);
    assert!(
        std::fs::read_to_string(&pki.ca_path)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
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

// ---------------------------------------------------------------- SMTP

fn smtp_connect(port: u16) -> Raw<TcpStream> {
    let mut c = connect(port);
    assert_eq!(c.line(), b"220 fake.test ESMTP fake\r\n");
    c
}

/// Read a possibly multi-line SMTP reply.
fn smtp_reply(c: &mut Raw<TcpStream>) -> String {
    let mut out = String::new();
    loop {
        let l = String::from_utf8(c.line()).unwrap();
        out.push_str(&l);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return out;
        }
    }
}

fn smtp_cmd(c: &mut Raw<TcpStream>, cmd: &str) -> String {
    c.send(format!("{cmd}\r\n").as_bytes());
    smtp_reply(c)
}

fn smtp_send(c: &mut Raw<TcpStream>, from: &str, to: &str, stuffed: &[u8]) -> String {
    assert!(smtp_cmd(c, &format!("MAIL FROM:<{from}>")).starts_with("250 "));
    assert!(smtp_cmd(c, &format!("RCPT TO:<{to}>")).starts_with("250 "));
    assert!(smtp_cmd(c, "DATA").starts_with("354 "));
    c.send(stuffed);
    smtp_reply(c)
}

#[test]
fn smtp_delivers_one_message() {
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let mut c = smtp_connect(smtp.port());
    let ehlo = smtp_cmd(&mut c, "EHLO popfetch.test");
    assert_eq!(
        ehlo,
        "250-fake.test\r\n250-SIZE 0\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
    );
    let content = b"Subject: s\r\n\r\n.dot\r\nbody\r\n";
    let wire = support::smtp::smtp_stuffed(content);
    assert_eq!(wire, b"Subject: s\r\n\r\n..dot\r\nbody\r\n.\r\n");
    assert_eq!(
        smtp_send(&mut c, "sender@example.org", "alice@local.test", &wire),
        "250 2.0.0 Ok: queued\r\n"
    );
    assert_eq!(smtp_cmd(&mut c, "QUIT"), "221 2.0.0 Bye\r\n");
    assert!(c.read_to_end().is_empty());

    let d = smtp.delivered();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].mail_from, "sender@example.org");
    assert_eq!(d[0].rcpt_to, ["alice@local.test"]);
    assert_eq!(d[0].data_raw, b"Subject: s\r\n\r\n..dot\r\nbody\r\n");
    assert_eq!(d[0].data, content);
    assert_eq!(smtp.attempts(), 1);
    assert_eq!(smtp.connections(), 1);
    assert!(smtp.wait_until(T, |s| s.sessions()[0].finished));
    let t = &smtp.transcript()[0];
    assert!(t.starts_with(b"EHLO popfetch.test\r\nMAIL FROM:<sender@example.org>\r\n"));
    assert!(t.ends_with(b"body\r\n.\r\nQUIT\r\n"));
    assert!(smtp.violations().is_empty(), "{:?}", smtp.violations());
}

#[test]
fn smtp_451_reply_is_not_delivered() {
    let smtp = FakeSmtp::start(
        SmtpBehavior::default().reply_to_data(0, "451 4.3.0 Error: queue file write error"),
    );
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    let r = smtp_send(&mut c, "", "alice@local.test", b"a\r\n.\r\n");
    assert_eq!(r, "451 4.3.0 Error: queue file write error\r\n");
    let r = smtp_send(&mut c, "", "alice@local.test", b"b\r\n.\r\n");
    assert_eq!(r, "250 2.0.0 Ok: queued\r\n");
    assert_eq!(smtp.attempts(), 2);
    let d = smtp.delivered();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].index, d[0].data.as_slice(), d[0].mail_from.as_str()),
        (1, &b"b\r\n"[..], "")
    );
    assert!(!smtp.transactions()[0].accepted());
}

#[test]
fn smtp_bare_lf_and_cr_in_data_are_violations() {
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    let r = smtp_send(
        &mut c,
        "a@b.c",
        "alice@local.test",
        b"one\ntwo\rthree\r\n.\n\r\n.\r\n",
    );
    assert!(r.starts_with("250"));
    let v = smtp.violations();
    assert_eq!(
        v.iter().filter(|v| v.contains("bare LF")).count(),
        2,
        "{v:?}"
    );
    assert_eq!(
        v.iter().filter(|v| v.contains("bare CR")).count(),
        1,
        "{v:?}"
    );
    // `.\n` is content, not a terminator.
    assert_eq!(smtp.delivered()[0].data, b"one\ntwo\rthree\r\n\n\r\n");
}

#[test]
fn smtp_lockstep_and_long_lines() {
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    c.send(b"MAIL FROM:<a@b.c>\r\nRCPT TO:<alice@local.test>\r\n");
    assert!(smtp_reply(&mut c).starts_with("250"));
    assert!(smtp_reply(&mut c).starts_with("250"));
    let v = smtp.violations();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("before the reply to MAIL"));
    assert!(smtp_cmd(&mut c, "DATA").starts_with("354"));
    let mut data = vec![b'x'; 1200];
    data.extend_from_slice(b"\r\n.\r\n");
    c.send(&data);
    assert!(smtp_reply(&mut c).starts_with("250"));
    assert_eq!(smtp.long_lines().len(), 1);
    assert_eq!(smtp.violations().len(), 1, "a long line is not a violation");
}

#[test]
fn smtp_malformed_paths_and_sequence_errors() {
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let mut c = smtp_connect(smtp.port());
    assert!(smtp_cmd(&mut c, "MAIL FROM:<a@b.c>").starts_with("503"));
    smtp_cmd(&mut c, "EHLO x");
    assert!(smtp_cmd(&mut c, "RCPT TO:<x@y.z>").starts_with("503"));
    assert!(smtp_cmd(&mut c, "MAIL FROM:<a b@c>").starts_with("501"));
    assert!(smtp_cmd(&mut c, "MAIL FROM:<a@b.c> BODY=8BITMIME").starts_with("250"));
    assert!(smtp_cmd(&mut c, "DATA").starts_with("503"));
    assert!(smtp_cmd(&mut c, "RCPT TO:<x@y.z>").starts_with("250"));
    assert!(smtp_cmd(&mut c, "RSET").starts_with("250"));
    assert!(smtp_cmd(&mut c, "DATA").starts_with("503"));
    assert_eq!(smtp.violations().len(), 1, "{:?}", smtp.violations());
    assert!(smtp.violations()[0].contains("malformed MAIL"));
}

#[test]
fn smtp_faults_close_mid_data_and_after_eod() {
    let b = SmtpBehavior {
        close_after_data_bytes: Some(4),
        ..SmtpBehavior::default()
    };
    let smtp = FakeSmtp::start(b);
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    smtp_cmd(&mut c, "MAIL FROM:<>");
    smtp_cmd(&mut c, "RCPT TO:<alice@local.test>");
    smtp_cmd(&mut c, "DATA");
    c.send(b"line one\r\n");
    assert!(c.read_to_end().is_empty(), "closed without a reply");
    assert!(smtp.wait_until(T, |s| s.sessions()[0].finished));
    assert_eq!(smtp.sessions()[0].aborted_data, 1);
    assert_eq!(smtp.attempts(), 0);

    smtp.set_behavior(SmtpBehavior {
        close_after_eod: true,
        ..SmtpBehavior::default()
    });
    let mut c = smtp_connect(smtp.port());
    smtp_cmd(&mut c, "EHLO x");
    c.send(b"MAIL FROM:<>\r\n");
    smtp_reply(&mut c);
    smtp_cmd(&mut c, "RCPT TO:<alice@local.test>");
    smtp_cmd(&mut c, "DATA");
    c.send(b"x\r\n.\r\n");
    assert!(c.read_to_end().is_empty());
    assert_eq!(smtp.attempts(), 1);
    assert!(smtp.delivered().is_empty(), "no 2xx was sent");
    assert_eq!(smtp.transactions()[0].reply, None);
}

#[test]
fn smtp_helo_fallback_when_ehlo_refused() {
    let smtp = FakeSmtp::start(SmtpBehavior {
        ehlo_ok: false,
        ..SmtpBehavior::default()
    });
    let mut c = smtp_connect(smtp.port());
    assert!(smtp_cmd(&mut c, "EHLO x").starts_with("502"));
    assert_eq!(smtp_cmd(&mut c, "HELO x"), "250 fake.test\r\n");
    assert!(smtp_send(&mut c, "a@b.c", "alice@local.test", b"m\r\n.\r\n").starts_with("250"));
}

// ---------------------------------------------------------------- config and runner

#[test]
fn config_builder_writes_private_parseable_toml() {
    use std::os::unix::fs::PermissionsExt;
    let state = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::new(2525, state.path())
        .account(
            AccountCfg::new("main", 9950, "implicit")
                .ca_file(std::path::Path::new("/tmp/ca \"q\".pem")),
        )
        .account(
            AccountCfg::new("plain", 1100, "none")
                .keep(true)
                .extra("timeout", "5"),
        )
        .write();
    let mode = std::fs::metadata(&cfg.path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&cfg.path).unwrap();
    let v: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(v["smtp"]["port"].as_integer(), Some(2525));
    let accts = v["account"].as_array().unwrap();
    assert_eq!(accts[0]["ca_file"].as_str(), Some("/tmp/ca \"q\".pem"));
    assert_eq!(accts[0]["tls"].as_str(), Some("implicit"));
    assert!(accts[0].get("allow_plaintext_password").is_none());
    assert_eq!(accts[1]["allow_plaintext_password"].as_bool(), Some(true));
    assert_eq!(accts[1]["keep"].as_bool(), Some(true));
    assert_eq!(accts[1]["timeout"].as_integer(), Some(5));
    assert_eq!(v["state_dir"].as_str(), state.path().to_str());
}

#[test]
fn runner_kills_after_timeout_and_captures_output() {
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "echo out; echo err >&2; echo \"$RUST_LOG\"; sleep 30"]);
    let out = support::run::spawn_command(cmd, &[]).wait(Duration::from_millis(300));
    assert!(out.timed_out);
    assert_eq!(out.code, -1);
    assert_eq!(out.stdout, "out\n\n");
    assert_eq!(out.stderr, "err\n");
    assert!(out.elapsed < Duration::from_secs(10));
    assert!(popfetch_bin().exists());
}

#[test]
fn secret_helper_finds_plain_and_base64_forms() {
    let plain = Arc::new(b"log: s3cret-pa55".to_vec());
    let r = std::panic::catch_unwind(|| assert_no_secret("log", &plain, "alice", "s3cret-pa55"));
    assert!(r.is_err());
    let sasl = secret_forms("alice", "s3cret-pa55")[2].clone();
    let r = std::panic::catch_unwind(|| assert_no_secret("log", &sasl, "alice", "s3cret-pa55"));
    assert!(r.is_err());
    assert_no_secret("log", b"nothing to see", "alice", "s3cret-pa55");
}

#[test]
fn fakes_stop_on_drop_and_close_live_connections() {
    let pop = FakePop3::start(vec![], Pop3Behavior::plain());
    let smtp = FakeSmtp::start(SmtpBehavior::default());
    let (pp, sp) = (pop.port(), smtp.port());
    let mut c = connect(pp);
    c.line();
    let mut s = smtp_connect(sp);
    drop(pop);
    drop(smtp);
    assert!(c.read_to_end().is_empty(), "live POP3 connection closed");
    assert!(s.read_to_end().is_empty(), "live SMTP connection closed");
    assert!(TcpStream::connect(("127.0.0.1", pp)).is_err());
    assert!(TcpStream::connect(("127.0.0.1", sp)).is_err());
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
