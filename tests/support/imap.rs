//! `FakeImap`: a scripted IMAP server (RFC 9051 subset) for the APPEND destination (issue 14). It greets with a
//! chosen capability list, takes LOGIN or AUTHENTICATE PLAIN for one user, and answers each APPEND with the next
//! scripted reply, reading the literal first (or refusing before the continuation). With `bearer_token` it takes
//! AUTHENTICATE XOAUTH2 and OAUTHBEARER for that token, and answers any other token with the RFC 7628 §3.2.2
//! error challenge, then a tagged NO after the client's answer. It records every byte the client sent, the
//! literals it received, and protocol violations (a literal sent before the `+` of a synchronizing literal, a
//! wrong password, a wrong answer to the error challenge).

use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio_rustls::rustls::ServerConfig;

use super::wire::{Acceptor, Dir, Wire, lock};

/// How the fake behaves.
#[derive(Clone)]
pub struct ImapBehavior {
    /// Implicit TLS with this config; `None`: plain (used with `tls = "starttls"` and `STARTTLS` in `caps`).
    pub tls: Option<Arc<ServerConfig>>,
    /// For STARTTLS: the config to upgrade with.
    pub starttls: Option<Arc<ServerConfig>>,
    /// The capability list (without `CAPABILITY`), e.g. `IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR`.
    pub caps: String,
    pub user: String,
    pub password: String,
    /// Replies to the APPENDs in order, after the tag (`OK [APPENDUID 1 7] done`, `NO [TRYCREATE] no folder`);
    /// when they run out: `OK APPEND completed`. A reply starting with `!` is sent instead of the continuation
    /// of a synchronizing literal (the literal is never read); `!STALL` sends nothing at all; `BYE` answers the
    /// literal with an untagged BYE, `BYE-MID` sends it after half the literal.
    pub appends: Vec<String>,
    /// The access token AUTHENTICATE XOAUTH2 / OAUTHBEARER accepts (advertise the mechanisms in `caps`).
    pub bearer_token: Option<String>,
    /// A refused AUTHENTICATE's NO quotes what the client sent, as base64 and decoded (catalog T-20).
    pub echo_refused: bool,
}

impl ImapBehavior {
    pub fn new(tls: Option<Arc<ServerConfig>>, caps: &str, user: &str, password: &str) -> Self {
        ImapBehavior {
            tls,
            starttls: None,
            caps: caps.into(),
            user: user.into(),
            password: password.into(),
            appends: Vec::new(),
            bearer_token: None,
            echo_refused: false,
        }
    }
}

#[derive(Default)]
struct Log {
    client: Vec<u8>,
    literals: Vec<Vec<u8>>,
    violations: Vec<String>,
    next_append: usize,
}

pub struct FakeImap {
    acceptor: Acceptor,
    log: Arc<Mutex<Log>>,
}

impl FakeImap {
    pub fn start(b: ImapBehavior) -> FakeImap {
        let log = Arc::new(Mutex::new(Log::default()));
        let l = log.clone();
        let acceptor = Acceptor::start(move |tcp| serve(tcp, &b, &l));
        FakeImap { acceptor, log }
    }

    pub fn port(&self) -> u16 {
        self.acceptor.port()
    }

    /// Every byte clients sent (decrypted), all connections in order.
    pub fn client_bytes(&self) -> Vec<u8> {
        lock(&self.log).client.clone()
    }

    /// The literals of the APPENDs that were answered OK or NO after the literal was read.
    pub fn literals(&self) -> Vec<Vec<u8>> {
        lock(&self.log).literals.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.log).violations.clone()
    }
}

fn serve(tcp: TcpStream, b: &ImapBehavior, log: &Arc<Mutex<Log>>) {
    let rec = log.clone();
    let mut w = Wire::new(
        tcp,
        Box::new(move |dir, bytes| {
            if dir == Dir::Client {
                lock(&rec).client.extend_from_slice(bytes);
            }
        }),
    );
    if let Some(cfg) = &b.tls
        && w.upgrade(cfg.clone()).is_err()
    {
        return;
    }
    let _ = session(&mut w, b, log);
    w.close();
}

fn session(w: &mut Wire, b: &ImapBehavior, log: &Arc<Mutex<Log>>) -> Option<()> {
    let violation = |v: String| lock(log).violations.push(v);
    w.send(format!("* OK [CAPABILITY {}] fake imap ready\r\n", b.caps).as_bytes())
        .ok()?;
    loop {
        let line = w.read_line(64 * 1024).ok()?;
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let mut words = text.splitn(3, ' ');
        let (tag, verb, rest) = (
            words.next()?.to_string(),
            words.next().unwrap_or("").to_ascii_uppercase(),
            words.next().unwrap_or("").to_string(),
        );
        match verb.as_str() {
            "CAPABILITY" => w
                .send(format!("* CAPABILITY {}\r\n{tag} OK done\r\n", b.caps).as_bytes())
                .ok()?,
            "STARTTLS" => {
                w.send(format!("{tag} OK begin tls\r\n").as_bytes()).ok()?;
                w.upgrade(b.starttls.clone()?).ok()?;
            }
            "LOGIN" => {
                let want = format!("{} {}", quoted(&b.user), quoted(&b.password));
                let ok = rest == want;
                if !ok {
                    violation("LOGIN with a wrong user or password".into());
                }
                w.send(login_reply(&tag, ok, &b.caps).as_bytes()).ok()?;
            }
            "AUTHENTICATE" => {
                let mut parts = rest.split(' ');
                let mech = parts.next().unwrap_or("").to_ascii_uppercase();
                let payload = match parts.next() {
                    Some(ir) => ir.to_string(),
                    None => {
                        w.send(b"+ \r\n").ok()?;
                        String::from_utf8_lossy(&w.read_line(64 * 1024).ok()?)
                            .trim_end()
                            .to_string()
                    }
                };
                let ok = if mech == "PLAIN" {
                    let want = B64.encode(format!("\0{}\0{}", b.user, b.password));
                    let ok = payload == want;
                    if !ok {
                        violation("AUTHENTICATE PLAIN with a wrong payload".into());
                    }
                    ok
                } else {
                    bearer(w, b, &mech, &payload, &violation)?
                };
                let reply = if !ok && b.echo_refused {
                    let raw = B64.decode(&payload).unwrap_or_default();
                    let raw = String::from_utf8_lossy(&raw).replace(['\x01', '\0'], " ");
                    format!("{tag} NO [AUTHENTICATIONFAILED] refused {payload} ({raw})\r\n")
                } else {
                    login_reply(&tag, ok, &b.caps)
                };
                w.send(reply.as_bytes()).ok()?;
            }
            "APPEND" => {
                let (n, sync) = literal_size(&text)?;
                let reply = {
                    let mut l = lock(log);
                    let i = l.next_append;
                    l.next_append += 1;
                    b.appends
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| "OK APPEND completed".into())
                };
                if sync {
                    w.poll_pending();
                    if !w.buffered().is_empty() {
                        violation("literal data sent before the continuation".into());
                    }
                    if reply == "!STALL" {
                        // Never send the continuation: read until the client gives up.
                        w.stall();
                        return None;
                    }
                    if let Some(refusal) = reply.strip_prefix('!') {
                        w.send(format!("{tag} {refusal}\r\n").as_bytes()).ok()?;
                        continue;
                    }
                    w.send(b"+ go ahead\r\n").ok()?;
                }
                if reply == "BYE-MID" {
                    // Read half the literal, then say BYE and close.
                    w.read_exact(n / 2).ok()?;
                    w.send(b"* BYE shutting down\r\n").ok()?;
                    return None;
                }
                let literal = w.read_exact(n).ok()?;
                let end = w.read_line(1024).ok()?;
                if end != b"\r\n" {
                    violation(format!("APPEND not ended by CRLF: {end:?}"));
                }
                lock(log).literals.push(literal);
                if reply == "BYE" {
                    w.send(b"* BYE going away\r\n").ok()?;
                    return None;
                }
                w.send(format!("{tag} {}\r\n", reply.trim_start_matches('!')).as_bytes())
                    .ok()?;
            }
            "LOGOUT" => {
                w.send(format!("* BYE bye\r\n{tag} OK logged out\r\n").as_bytes())
                    .ok()?;
                return Some(());
            }
            _ => w.send(format!("{tag} BAD unknown\r\n").as_bytes()).ok()?,
        }
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// XOAUTH2 or OAUTHBEARER: true when the payload carries the expected token for the user in the layout of the
/// mechanism; otherwise the error challenge is sent and the client's answer checked (%x01 for OAUTHBEARER, an
/// empty response for XOAUTH2).
fn bearer(
    w: &mut Wire,
    b: &ImapBehavior,
    mech: &str,
    payload: &str,
    violation: &dyn Fn(String),
) -> Option<bool> {
    let token = b.bearer_token.as_deref().unwrap_or("");
    let raw = String::from_utf8(B64.decode(payload).unwrap_or_default()).unwrap_or_default();
    let (ok, ack) = match mech {
        "XOAUTH2" => (
            raw == format!("user={}\x01auth=Bearer {token}\x01\x01", b.user),
            "",
        ),
        "OAUTHBEARER" => (
            raw.starts_with(&format!("n,a={},\x01host=", b.user))
                && raw.ends_with(&format!("\x01auth=Bearer {token}\x01\x01")),
            "AQ==",
        ),
        _ => {
            violation(format!("AUTHENTICATE {mech}"));
            return Some(false);
        }
    };
    if ok {
        return Some(true);
    }
    let challenge =
        r#"{"status":"invalid_token","schemes":"bearer","scope":"https://mail.example.test/"}"#;
    w.send(format!("+ {}\r\n", B64.encode(challenge)).as_bytes())
        .ok()?;
    let answer = w.read_line(1024).ok()?;
    if answer != format!("{ack}\r\n").as_bytes() {
        violation(format!("{mech} error challenge answered with {answer:?}"));
    }
    Some(false)
}

fn login_reply(tag: &str, ok: bool, caps: &str) -> String {
    if ok {
        format!("{tag} OK [CAPABILITY {caps}] logged in\r\n")
    } else {
        format!("{tag} NO [AUTHENTICATIONFAILED] invalid credentials\r\n")
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `{N}` or `{N+}` at the end of an APPEND line: the size and whether it is synchronizing.
fn literal_size(line: &str) -> Option<(usize, bool)> {
    let inner = line.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    let spec = &inner[open + 1..];
    match spec.strip_suffix('+') {
        Some(n) => Some((n.parse().ok()?, false)),
        None => Some((spec.parse().ok()?, true)),
    }
}
