//! Courier's POP3 server (Courier 1.0.16 from Debian 12) beside Dovecot (issue 18): the same corpus through
//! popfetch and the interop Postfix, over implicit TLS and STLS, verified with the test CA. `tests/interop/courier.sh`
//! unpacks and runs it in a private mount namespace; the Postfix, the CA and the server certificate are the ones
//! `servers.sh` made for this test.
//!
//! What Courier does that Dovecot does not: it advertises `UTF8` and, to a client that has not sent it, serves a
//! "Cannot display Unicode content" notice instead of a message with raw UTF-8 in its header; and it sends each
//! stored line end with a CR of its own, so a Maildir file stored with CRLF goes out as `\r\r\n` (docs/decisions.md).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{
    Run, Servers, Tls, assert_same_bytes, contains, content_messages, delivered_case,
    maildir_messages, simple, strip_added, to_lf,
};

const TARGET: &str = "joe@example.test";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/courier.sh")
}

/// A running Courier; `Drop` stops every process of its namespace and removes its directory (before the
/// `Servers` it lives in, which are declared first and so dropped last).
struct Courier {
    dir: PathBuf,
    env: HashMap<String, String>,
}

impl Courier {
    fn start(s: &Servers) -> Courier {
        let mut c = Courier {
            dir: s.dir.join("courier"),
            env: HashMap::new(),
        };
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&c.dir)
            .arg(s.dir.join("tls"))
            .output()
            .expect("run courier.sh");
        assert!(
            out.status.success(),
            "courier.sh start failed (run tests/interop/run.sh as root: .ci/interop-deps.sh unpacks Courier):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let env = fs::read_to_string(c.dir.join("env")).expect("courier.sh wrote no env");
        c.env = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c
    }

    fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from courier.sh env"))
    }

    fn maildir(&self) -> PathBuf {
        PathBuf::from(self.get("MAILDIR"))
    }

    /// Store messages in Courier's Maildir `new/` byte for byte, owned by the mail user, names sorting in order.
    fn put(&self, messages: &[Vec<u8>]) {
        let uid: u32 = self.get("MAIL_UID").parse().expect("MAIL_UID");
        let gid: u32 = self.get("MAIL_GID").parse().expect("MAIL_GID");
        for (i, message) in messages.iter().enumerate() {
            let name = format!("1700000000.M{i:06}P{}.interop", std::process::id());
            let tmp = self.maildir().join("tmp").join(&name);
            fs::write(&tmp, message).expect("write into Courier tmp/");
            std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).expect("chown message");
            fs::rename(&tmp, self.maildir().join("new").join(&name)).expect("move into new/");
        }
    }

    fn left(&self) -> usize {
        maildir_messages(&self.maildir()).len()
    }

    /// Courier's log for one listener (`POP3_LOG`: STLS, `POP3S_LOG`: implicit TLS).
    fn log(&self, which: &str) -> String {
        fs::read_to_string(self.get(which)).unwrap_or_default()
    }

    /// A popfetch config for the Courier account, delivering to the interop Postfix.
    fn config(&self, s: &Servers, tls: Tls, ca_file: &Path, extra: &str) -> PathBuf {
        s.config_for("courier", &self.env, tls, ca_file, extra)
    }

    /// `popfetch run` against Courier: never prints Courier's password either.
    fn run(&self, s: &Servers, config: &Path) -> Run {
        let run = s.run(config);
        assert!(
            !run.text().contains(self.get("POP_PASS")),
            "popfetch printed the POP3 password:\n{}",
            run.text()
        );
        run
    }

    fn context(&self, s: &Servers, run: &Run) -> String {
        format!(
            "{}\n--- courier (STLS) ---\n{}\n--- courier (implicit TLS) ---\n{}",
            s.context(run),
            self.log("POP3_LOG"),
            self.log("POP3S_LOG")
        )
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        if std::env::var("POPFETCH_KEEP_INTEROP_DIR").as_deref() == Ok("1") {
            return;
        }
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// Raw UTF-8 in the From, Subject and an unstructured field (RFC 6532): Courier serves it as stored only after
/// `UTF8`; before, it substitutes a notice.
fn utf8_header_message() -> Vec<u8> {
    "From: Jürgen Groß <juergen@example.org>\nTo: joe@example.test\nSubject: Grüße aus Köln, 日本語\n\
     Message-ID: <courier-utf8@example.org>\nX-Case: courier-utf8\nX-Note: ünïcödé ✓\nMIME-Version: 1.0\n\
     Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nBody: Grüße 📬\n"
        .as_bytes()
        .to_vec()
}

/// A Maildir file stored with CRLF (Courier itself stores LF): Courier adds its own CR to every line end and sends
/// `\r\r\n`. The folded fields are what broke when a stray CR counted as a line end of its own (issue 18).
fn crlf_stored_message() -> Vec<u8> {
    simple(
        "courier-crlf",
        "X-Folded: first line\r\n\tsecond line\r\n  third line\r\nReferences: <a@example.org>\r\n <b@example.org>\r\n",
        "CRLF stored\r\n.leading dot\r\n\r\nend\r\n",
    )
}

/// One POP3 session over implicit TLS (trusting only the suite's CA), by hand: log in, optionally send `UTF8`
/// first, then `LIST n` and `RETR n` for each `n`; returns `(LIST size, the RETR line, the raw RETR body)` per
/// message, the body dot-unstuffed, without its terminator. No DELE: the mailbox is left as it was.
fn raw_session(
    c: &Courier,
    ca_file: &Path,
    utf8: bool,
    msgs: &[u32],
) -> Vec<(u64, String, Vec<u8>)> {
    use rustls_pki_types::pem::PemObject;
    use std::io::{BufRead, BufReader, Write};
    use tokio_rustls::rustls::{ClientConnection, StreamOwned};
    type Io = BufReader<StreamOwned<ClientConnection, std::net::TcpStream>>;

    let ca = rustls_pki_types::CertificateDer::from_pem_file(ca_file).expect("read the CA");
    let cfg = super::pki::client_config_trusting(ca);
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let conn = ClientConnection::new(cfg, name).expect("TLS client");
    let port: u16 = c.get("POP3S_PORT").parse().expect("POP3S_PORT");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to Courier");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut io: Io = BufReader::new(StreamOwned::new(conn, tcp));
    fn line(io: &mut Io) -> Vec<u8> {
        let mut l = Vec::new();
        io.read_until(b'\n', &mut l).expect("read from Courier");
        l
    }
    fn cmd(io: &mut Io, text: &str) -> String {
        io.get_mut()
            .write_all(format!("{text}\r\n").as_bytes())
            .expect("write to Courier");
        let reply = line(io);
        assert!(
            reply.starts_with(b"+OK"),
            "{text:?}: {}",
            String::from_utf8_lossy(&reply)
        );
        String::from_utf8_lossy(&reply).trim_end().to_string()
    }
    assert!(line(&mut io).starts_with(b"+OK"), "no greeting");
    if utf8 {
        cmd(&mut io, "UTF8");
    }
    cmd(&mut io, &format!("USER {}", c.get("POP_USER")));
    cmd(&mut io, &format!("PASS {}", c.get("POP_PASS")));
    let mut out = Vec::new();
    for n in msgs {
        let list = cmd(&mut io, &format!("LIST {n}"));
        let size = list
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("LIST size");
        let retr = cmd(&mut io, &format!("RETR {n}"));
        let mut body = Vec::new();
        loop {
            let l = line(&mut io);
            if l == b".\r\n" || l.is_empty() {
                break;
            }
            // RFC 1939 §3: a line starting with "." was sent with one more.
            body.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
        }
        out.push((size, retr, body));
    }
    cmd(&mut io, "QUIT");
    out
}

/// The corpus of `p_content_arrives_once_byte_identical`, stored with LF as Courier stores mail, plus the two
/// messages only Courier makes interesting. Returns `(case, stored bytes)`; each must arrive as `to_lf(stored)`.
/// Without its 20 MiB message: popfetch moved it through Courier in about 2 s, but building and comparing it in the
/// unoptimised test binary costs some 13 s, and the Dovecot test already covers its size.
fn courier_corpus() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = content_messages()
        .into_iter()
        .filter(|(case, _)| case != "big")
        .map(|(case, m)| (case, to_lf(&m)))
        .collect();
    v.push(("courier-utf8".into(), utf8_header_message()));
    v.push(("courier-crlf".into(), crlf_stored_message()));
    v
}

/// `popfetch run` with `tls` and the `extra` account lines: exit 0, each message of `corpus` delivered once,
/// byte-exact, nothing bounced, `left` messages still on Courier; then a second run that prints nothing and
/// delivers nothing more. Returns the first run.
fn run_twice(
    s: &Servers,
    c: &Courier,
    tls: Tls,
    extra: &str,
    corpus: &[(String, Vec<u8>)],
    left: usize,
) -> Run {
    let config = c.config(s, tls, &s.path("CA_FILE"), extra);
    let run = c.run(s, &config);
    assert_eq!(run.code(), Some(0), "{}", c.context(s, &run));
    s.wait_queue();
    let delivered = s.delivered();
    assert_eq!(delivered.len(), corpus.len(), "{}", c.context(s, &run));
    for (case, stored) in corpus {
        let got = strip_added(delivered_case(&delivered, case), TARGET);
        assert_same_bytes(case, &got, &to_lf(stored));
    }
    assert!(s.bounces().is_empty(), "{}", c.context(s, &run));
    assert_eq!(c.left(), left, "{}", c.context(s, &run));

    let again = c.run(s, &config);
    assert_eq!(again.code(), Some(0), "{}", c.context(s, &again));
    assert_eq!(again.text(), "", "a second run is silent");
    s.wait_queue();
    assert_eq!(
        s.delivered().len(),
        corpus.len(),
        "{}",
        c.context(s, &again)
    );
    assert_eq!(c.left(), left, "{}", c.context(s, &again));
    run
}

/// The corpus over implicit TLS (couriertls in front of courierpop3login), `keep = false`: every message arrives
/// once, byte for byte (the raw UTF-8 header intact, the CRLF-stored message with its folded fields whole), all are
/// deleted, and a second run is silent.
#[test]
#[ignore = "needs dovecot, postfix and the unpacked courier-pop: run tests/interop/run.sh"]
fn i18_courier_corpus_over_implicit_tls_arrives_byte_exact_and_is_deleted() {
    let s =
        Servers::start("i18_courier_corpus_over_implicit_tls_arrives_byte_exact_and_is_deleted");
    let c = Courier::start(&s);
    let corpus = courier_corpus();
    c.put(&corpus.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    // keep = false (the default): everything is deleted.
    let run = run_twice(&s, &c, Tls::Implicit, "", &corpus, 0);
    let log = c.log("POP3S_LOG");
    assert!(
        log.contains("INFO: LOGIN, user=joe") && !c.log("POP3_LOG").contains("LOGIN,"),
        "no login on the implicit-TLS listener\n{}",
        c.context(&s, &run)
    );
}

/// A CA that did not sign Courier's certificate is refused before any credential, in both TLS modes. STLS with
/// `POP3_TLS_REQUIRED=1` (Courier refuses USER before STLS, so the login proves the upgrade), `keep = true`: the
/// two Courier cases arrive intact, nothing is deleted, and a second run is silent although Courier moved the
/// messages from `new/` to `cur/` at the first login (its UIDLs stay). Then, by hand, what the fakes of
/// `tests/server_quirks.rs` model:
/// without `UTF8` Courier substitutes a notice announced with a size larger than LIST's; with it, the message as
/// stored, and a CRLF-stored one as `\r\r\n`.
#[test]
#[ignore = "needs dovecot, postfix and the unpacked courier-pop: run tests/interop/run.sh"]
fn i18_courier_stls_keep_true_delivers_once_and_deletes_nothing() {
    let s = Servers::start("i18_courier_stls_keep_true_delivers_once_and_deletes_nothing");
    let c = Courier::start(&s);
    let corpus = vec![
        ("courier-utf8".to_string(), utf8_header_message()),
        ("courier-crlf".to_string(), crlf_stored_message()),
    ];
    c.put(&corpus.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    for tls in [Tls::Implicit, Tls::Stls] {
        let wrong = c.run(&s, &c.config(&s, tls, &s.path("WRONG_CA_FILE"), ""));
        assert_eq!(
            wrong.code(),
            Some(77),
            "tls = {}: {}",
            tls.name(),
            c.context(&s, &wrong)
        );
    }
    for which in ["POP3_LOG", "POP3S_LOG"] {
        assert!(
            !c.log(which).contains("LOGIN"),
            "credentials were sent: {}",
            c.log(which)
        );
    }

    let run = run_twice(&s, &c, Tls::Stls, "keep = true", &corpus, 2);
    assert!(
        c.log("POP3_LOG").contains("INFO: LOGIN, user=joe"),
        "no login on the STLS listener\n{}",
        c.context(&s, &run)
    );
    assert!(
        fs::read_dir(c.maildir().join("new"))
            .expect("new/")
            .next()
            .is_none(),
        "Courier did not move the messages to cur/"
    );

    // What the scripted fakes and the RETR/LIST rule (src/poller/retr_check.rs) assume of Courier, asked by hand.
    // Without UTF8: a notice instead of the message with raw UTF-8 headers, announced with its own larger size.
    let plain = raw_session(&c, &s.path("CA_FILE"), false, &[1]);
    let (listed, retr, body) = &plain[0];
    let announced: u64 = retr
        .strip_prefix("+OK ")
        .and_then(|r| r.strip_suffix(" octets follow."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{retr}"));
    assert!(
        announced > *listed && contains(body, b"Cannot display Unicode content"),
        "LIST {listed}, {retr}:\n{}",
        String::from_utf8_lossy(body)
    );
    // With UTF8: the message as stored, each LF sent as CRLF and counted so by LIST and the RETR line; so the
    // CRLF-stored message goes out with `\r\r\n`, in exactly the octets LIST gave.
    let utf8 = raw_session(&c, &s.path("CA_FILE"), true, &[1, 2]);
    let crlf = |m: &[u8]| -> Vec<u8> {
        m.iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect()
    };
    let (listed, retr, body) = &utf8[0];
    assert_eq!(retr, &format!("+OK {listed} octets follow."));
    assert_eq!(body, &crlf(&corpus[0].1));
    let (listed, retr, body) = &utf8[1];
    let stored = &corpus[1].1;
    let line_ends = stored.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(retr, &format!("+OK {listed} octets follow."));
    assert_eq!(
        *listed as usize,
        stored.len() + line_ends,
        "LIST counts each LF as CRLF"
    );
    assert_eq!(
        body,
        &crlf(stored),
        "each stored CRLF goes out as \\r\\r\\n"
    );
    assert_eq!(
        body.len(),
        *listed as usize,
        "RETR gives the octets LIST said"
    );
    assert!(contains(
        body,
        b"X-Folded: first line\r\r\n\tsecond line\r\r\n"
    ));
    assert_eq!(c.left(), 2, "the sessions by hand deleted nothing");
}
