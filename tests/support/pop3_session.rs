//! The protocol side of the fake POP3 server: one connection from greeting to QUIT (RFC 1939 §4–§6), with the
//! faults selected in [`Pop3Behavior`]. State shared with `FakePop3` is touched only under its lock, briefly.

use std::net::TcpStream;

use base64::Engine;
use md5::{Digest, Md5};

use super::pop3::{Msg, Pop3Behavior, Pop3Tls, STLS_JUNK, Shared, stuffed_with_terminator};
use super::pop3_content::{courier_notice, has_8bit_header, top};
use super::record::Recorded;
use super::wire::{LineError, Wire, command_body, escape, lock, verb_arg};

/// RFC 2449 §4: a command line is at most 255 octets including CRLF. The fake reads up to this bound and treats
/// longer lines as a violation, closing the connection.
const MAX_COMMAND: usize = 255;
/// Read bound used for lines, so an over-long line is still recognised as such.
const READ_LIMIT: usize = 4096;

enum Phase {
    Authorization {
        user: Option<String>,
    },
    Transaction {
        snapshot: Vec<Msg>,
        deleted: Vec<bool>,
    },
}

impl Phase {
    /// The UIDs marked by DELE in this session.
    fn marked(&self) -> Vec<String> {
        match self {
            Phase::Transaction { snapshot, deleted } => snapshot
                .iter()
                .zip(deleted)
                .filter(|(_, d)| **d)
                .map(|(m, _)| m.uid.clone())
                .collect(),
            Phase::Authorization { .. } => Vec::new(),
        }
    }
}

/// How a command handler wants the session to go on.
enum Next {
    Continue,
    End,
}

struct Conn {
    wire: Wire,
    state: Shared,
    idx: usize,
    b: Pop3Behavior,
    phase: Phase,
    /// The port the client connected to (OAUTHBEARER names it).
    port: u16,
    /// The client sent `UTF8` and the fake accepted it (`courier_utf8`).
    utf8: bool,
}

pub(crate) fn serve(tcp: TcpStream, state: Shared) {
    let port = tcp.local_addr().map_or(0, |a| a.port());
    let (idx, b, wire) = super::record::open(tcp, &state);
    let mut conn = Conn {
        wire,
        state,
        idx,
        b,
        phase: Phase::Authorization { user: None },
        port,
        utf8: false,
    };
    let outcome = conn.run();
    conn.wire.close();
    let marked = conn.phase.marked();
    let mut st = lock(&conn.state);
    st.sessions[idx].marked = marked;
    st.end(idx, outcome);
}

#[path = "pop3_login.rs"]
mod login;

impl Conn {
    fn run(&mut self) -> Result<(), String> {
        if let Pop3Tls::Implicit(cfg) = &self.b.tls {
            self.wire.upgrade(cfg.clone()).map_err(|e| e.to_string())?;
            lock(&self.state).sessions[self.idx].tls_at = Some(0);
        }
        let greeting = match &self.b.greeting_raw {
            Some(raw) => raw.clone(),
            None => format!("{}\r\n", self.b.greeting).into_bytes(),
        };
        self.wire.send(&greeting).map_err(|e| e.to_string())?;
        if self.b.close_after_greeting {
            self.session(|s| s.error = Some("fault: closed after the greeting".into()));
            return Ok(());
        }
        loop {
            let line = match self.wire.read_line(READ_LIMIT) {
                Ok(line) => line,
                Err(LineError::Eof) => return Ok(()),
                Err(LineError::TooLong) => {
                    self.violation(format!("command line longer than {READ_LIMIT} octets"));
                    let _ = self.reply_raw("-ERR line too long\r\n");
                    return Err("line too long".into());
                }
                Err(LineError::Io(e)) => return Err(e.to_string()),
            };
            match self.command(&line) {
                Ok(Next::Continue) => {}
                Ok(Next::End) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    fn violation(&self, what: String) {
        lock(&self.state)
            .violations
            .push(format!("pop3 session {}: {what}", self.idx));
    }

    fn session<R>(&self, f: impl FnOnce(&mut super::pop3::Session) -> R) -> R {
        f(&mut lock(&self.state).sessions[self.idx])
    }

    /// Check lockstep, then send. `verb` names the command being answered (never its arguments: they may hold
    /// secrets).
    fn reply(&mut self, verb: &str, text: &str) -> std::io::Result<()> {
        self.check_lockstep(verb);
        self.reply_raw(text)
    }

    fn reply_raw(&mut self, text: &str) -> std::io::Result<()> {
        self.reply_bytes(text.as_bytes())
    }

    fn reply_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(d) = self.b.reply_delay {
            std::thread::sleep(d);
        }
        match self.b.write_chunks {
            Some((size, pause)) => {
                for (i, chunk) in bytes.chunks(size.max(1)).enumerate() {
                    if i > 0 {
                        std::thread::sleep(pause);
                    }
                    self.wire.send(chunk)?;
                }
                Ok(())
            }
            None => self.wire.send(bytes),
        }
    }

    fn check_lockstep(&mut self, verb: &str) {
        if !self.b.enforce_lockstep || self.b.pipelining {
            return;
        }
        if let Some(ahead) = self.wire.sent_ahead() {
            self.violation(format!(
                "client sent {ahead} before the reply to {verb} (no PIPELINING)"
            ));
        }
    }

    fn command(&mut self, raw: &[u8]) -> std::io::Result<Next> {
        let (body, bad_ending) = command_body(raw);
        if let Some(v) = bad_ending {
            self.violation(v);
        }
        if raw.len() > MAX_COMMAND {
            self.violation(format!(
                "command line of {} octets exceeds 255 (RFC 2449 §4)",
                raw.len()
            ));
        }
        let line = String::from_utf8_lossy(body).into_owned();
        self.session(|s| s.commands.push(line.clone()));
        if let Some(sc) = self.scripted(&line) {
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            self.check_lockstep(&verb);
            self.reply_bytes(&sc.reply)?;
            if sc.close {
                self.session(|s| {
                    s.error = Some(format!("fault: closed after the scripted reply to {verb}"))
                });
                return Ok(Next::End);
            }
            return Ok(Next::Continue);
        }
        let (verb, arg) = verb_arg(&line);
        let authorized = matches!(self.phase, Phase::Transaction { .. });
        match verb.as_str() {
            "CAPA" => {
                let text = self.capa();
                self.reply("CAPA", &text)?;
            }
            "QUIT" => {
                self.quit()?;
                return Ok(Next::End);
            }
            "NOOP" if authorized => self.reply("NOOP", "+OK\r\n")?,
            // RFC 6856 §2: valid in the AUTHORIZATION state only.
            "UTF8" if self.b.courier_utf8 && !authorized => {
                self.utf8 = true;
                self.reply("UTF8", "+OK UTF8 enabled\r\n")?
            }
            "STLS" => return self.stls(),
            "USER" | "PASS" | "AUTH" | "APOP" if authorized => {
                self.reply(&verb, "-ERR already authenticated\r\n")?
            }
            "USER" => self.user(&arg)?,
            "PASS" => self.pass(&arg)?,
            "AUTH" => self.auth(&arg)?,
            "APOP" => self.apop(&arg)?,
            "STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" if authorized => {
                return self.transaction(&verb, &arg);
            }
            "STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP" => {
                self.reply(&verb, "-ERR not authenticated\r\n")?
            }
            _ => self.reply("unknown command", "-ERR unknown command\r\n")?,
        }
        Ok(Next::Continue)
    }

    /// The first scripted reply whose command prefix matches `line` (case-insensitive).
    fn scripted(&self, line: &str) -> Option<super::pop3::Scripted> {
        self.b
            .script
            .iter()
            .find(|sc| {
                line.len() >= sc.command.len()
                    && line.as_bytes()[..sc.command.len()]
                        .eq_ignore_ascii_case(sc.command.as_bytes())
            })
            .cloned()
    }

    fn capa(&self) -> String {
        let lines = match &self.b.capa {
            Some(lines) => lines.clone(),
            None => {
                let mut v: Vec<String> = Vec::new();
                if self.b.user_pass {
                    v.push("USER".into());
                }
                v.extend(["UIDL", "TOP", "RESP-CODES", "AUTH-RESP-CODE"].map(String::from));
                v.push(
                    if self.b.expire_retrieved {
                        "EXPIRE 0"
                    } else {
                        "EXPIRE NEVER"
                    }
                    .into(),
                );
                if self.b.pipelining {
                    v.push("PIPELINING".into());
                }
                if self.b.advertise_stls && !self.wire.is_tls() {
                    v.push("STLS".into());
                }
                let mut sasl: Vec<&str> = Vec::new();
                if self.b.sasl_plain {
                    sasl.push("PLAIN");
                }
                if self.b.bearer_token.is_some() {
                    sasl.extend(["XOAUTH2", "OAUTHBEARER"]);
                }
                if !sasl.is_empty() {
                    v.push(format!("SASL {}", sasl.join(" ")));
                }
                if self.b.courier_utf8 {
                    v.push("UTF8 USER".into());
                }
                v.push("IMPLEMENTATION popfetch-fake".into());
                v
            }
        };
        let mut out = String::from("+OK Capability list follows\r\n");
        for l in lines {
            out.push_str(&l);
            out.push_str("\r\n");
        }
        out.push_str(".\r\n");
        out
    }

    fn stls(&mut self) -> std::io::Result<Next> {
        let cfg = match (&self.b.tls, &self.phase) {
            _ if self.wire.is_tls() => None,
            (Pop3Tls::Stls(cfg), Phase::Authorization { .. }) => Some(cfg.clone()),
            _ => None,
        };
        let Some(cfg) = cfg else {
            self.reply("STLS", "-ERR STLS not available\r\n")?;
            return Ok(Next::Continue);
        };
        // RFC 2595 §4: the client must send nothing after STLS until the handshake; checked whatever the lockstep
        // setting, since this is where command injection lives.
        if let Some(ahead) = self.wire.sent_ahead() {
            self.violation(format!("client sent {ahead} after STLS before its reply"));
        }
        let mut out = b"+OK Begin TLS negotiation\r\n".to_vec();
        if self.b.stls_junk_after_ok {
            out.extend_from_slice(STLS_JUNK);
        }
        self.reply_bytes(&out)?;
        let pending = self.wire.buffered().len();
        self.session(|s| s.tls_at = Some(s.client_bytes.len() - pending));
        self.wire.upgrade(cfg)?;
        // RFC 2595 §4: state from before TLS is forgotten.
        self.phase = Phase::Authorization { user: None };
        Ok(Next::Continue)
    }

    fn quit(&mut self) -> std::io::Result<()> {
        if let Some(hook) = &self.b.on_quit {
            hook();
        }
        let mut committed = self.phase.marked();
        {
            // RFC 1939 §6: the UPDATE state removes the marked messages; with `EXPIRE 0` the retrieved ones too.
            let mut st = lock(&self.state);
            if self.b.expire_retrieved {
                for uid in st.sessions[self.idx].retrieved.clone() {
                    if !committed.contains(&uid) {
                        committed.push(uid);
                    }
                }
            }
            st.mailbox.retain(|m| !committed.contains(&m.uid));
            st.dele_log.extend(committed.iter().cloned());
            st.sessions[self.idx].quit = true;
        }
        let text = if committed.is_empty() {
            "+OK Logging out.\r\n".to_string()
        } else {
            format!("+OK Logging out, {} messages deleted.\r\n", committed.len())
        };
        self.reply("QUIT", &text)
    }

    fn transaction(&mut self, verb: &str, arg: &str) -> std::io::Result<Next> {
        let Phase::Transaction { snapshot, deleted } = &mut self.phase else {
            return Ok(Next::Continue);
        };
        let text: Vec<u8> = match verb {
            "STAT" => {
                let (n, size) = (0..snapshot.len())
                    .filter(|&i| !deleted[i])
                    .fold((0, 0), |(n, s), i| {
                        (n + 1, s + listed_size(&self.b, &snapshot[i]))
                    });
                format!("+OK {n} {size}\r\n").into_bytes()
            }
            "LIST" | "UIDL" => {
                let item = |i: usize| {
                    if verb == "LIST" {
                        format!("{} {}", i + 1, listed_size(&self.b, &snapshot[i]))
                    } else {
                        format!("{} {}", i + 1, snapshot[i].uid)
                    }
                };
                if arg.is_empty() {
                    let mut out = String::from("+OK\r\n");
                    for i in (0..snapshot.len()).filter(|&i| !deleted[i]) {
                        out.push_str(&item(i));
                        out.push_str("\r\n");
                    }
                    out.push_str(".\r\n");
                    out.into_bytes()
                } else {
                    match pick(deleted, arg) {
                        Some(i) => format!("+OK {}\r\n", item(i)).into_bytes(),
                        None => b"-ERR no such message\r\n".to_vec(),
                    }
                }
            }
            "RETR" => match pick(deleted, arg) {
                Some(i) => {
                    let msg = snapshot[i].clone();
                    return self.retr(i, &msg);
                }
                None => b"-ERR no such message\r\n".to_vec(),
            },
            "TOP" => {
                let mut it = arg.split(' ');
                match (
                    it.next().and_then(|a| pick(deleted, a)),
                    it.next().and_then(|k| k.parse::<usize>().ok()),
                ) {
                    (Some(i), Some(k)) => {
                        let mut out = b"+OK\r\n".to_vec();
                        out.extend(stuffed_with_terminator(
                            &top(&snapshot[i].bytes, k),
                            self.b.stuff_dots,
                        ));
                        out
                    }
                    _ => b"-ERR no such message\r\n".to_vec(),
                }
            }
            "DELE" => match pick(deleted, arg) {
                Some(i) => {
                    deleted[i] = true;
                    format!("+OK message {} deleted\r\n", i + 1).into_bytes()
                }
                None => b"-ERR no such message\r\n".to_vec(),
            },
            "RSET" => {
                deleted.iter_mut().for_each(|d| *d = false);
                b"+OK\r\n".to_vec()
            }
            _ => b"-ERR unknown command\r\n".to_vec(),
        };
        self.check_lockstep(verb);
        self.reply_bytes(&text)?;
        Ok(Next::Continue)
    }

    fn retr(&mut self, i: usize, msg: &Msg) -> std::io::Result<Next> {
        // The announced size is LIST's, as Dovecot and Courier do (also for a server that counts LF as one octet).
        let listed = listed_size(&self.b, msg);
        let (status, content) = if self.b.courier_utf8 && !self.utf8 && has_8bit_header(&msg.bytes)
        {
            let (announced, notice) = courier_notice(&msg.bytes, listed);
            (format!("+OK {announced} octets follow.\r\n"), notice)
        } else {
            (format!("+OK {listed} octets\r\n"), msg.bytes.clone())
        };
        let mut full = status.clone().into_bytes();
        full.extend(stuffed_with_terminator(&content, self.b.stuff_dots));
        self.check_lockstep("RETR");
        if let Some((n, k)) = self.b.drop_during_retr.filter(|(n, _)| *n == i) {
            let _ = n;
            self.reply_bytes(&full[..k.min(full.len())])?;
            self.session(|s| {
                s.error = Some(format!("fault: dropped after {k} bytes of RETR {}", i + 1))
            });
            return Ok(Next::End);
        }
        let stall_at = match self.b.stall_during_retr.filter(|(n, _)| *n == i) {
            Some((_, k)) => Some(k.min(full.len())),
            None if self.b.stall_after_retr_ok => Some(status.len()),
            None => None,
        };
        if let Some(k) = stall_at {
            self.reply_bytes(&full[..k])?;
            self.session(|s| {
                s.error = Some(format!("fault: stalled after {k} bytes of RETR {}", i + 1))
            });
            self.wire.stall();
            return Ok(Next::End);
        }
        self.reply_bytes(&full)?;
        let mut st = lock(&self.state);
        st.retr_log.push(msg.uid.clone());
        st.sessions[self.idx].retr_count += 1;
        st.sessions[self.idx].retrieved.push(msg.uid.clone());
        Ok(Next::Continue)
    }
}

/// The size LIST and STAT report for `msg`: its length unless `list_sizes` overrides it.
fn listed_size(b: &Pop3Behavior, msg: &Msg) -> usize {
    b.list_sizes
        .get(&msg.uid)
        .map_or(msg.bytes.len(), |&n| n as usize)
}

/// Resolve a message-number argument against the session's numbering (deleted messages do not resolve).
fn pick(deleted: &[bool], arg: &str) -> Option<usize> {
    let n: usize = arg.parse().ok()?;
    (n >= 1 && n <= deleted.len() && !deleted[n - 1]).then_some(n - 1)
}
