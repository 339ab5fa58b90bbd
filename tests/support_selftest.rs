//! Tests of the fakes themselves (`tests/support`), driven by hand-written raw client bytes over real 127.0.0.1
//! sockets, so that popfetch's end-to-end tests rest on servers that are known to speak the protocols correctly.
//! The POP3 fake's tests are in `support_selftest/pop3.rs`, the MTA's in `support_selftest/smtp.rs`.

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

fn tls_client(pki: &TestPki, tcp: TcpStream) -> Raw<StreamOwned<ClientConnection, TcpStream>> {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(pki.client_config(), name).unwrap();
    Raw {
        s: StreamOwned::new(conn, tcp),
    }
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

// Config and runner helpers; the POP3 and SMTP fakes are tested in the modules at the end.

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

use pop3::connect;
use smtp::smtp_connect;

#[path = "support_selftest/pop3.rs"]
mod pop3;
#[path = "support_selftest/smtp.rs"]
mod smtp;
