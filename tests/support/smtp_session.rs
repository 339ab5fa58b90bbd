//! The protocol side of the fake SMTP server: one connection from the 220 greeting to QUIT (RFC 5321 §3–§4), with
//! the replies and faults selected in [`SmtpBehavior`].

use std::net::TcpStream;

use super::record::Recorded;
use super::smtp::{Delivered, Shared, SmtpBehavior, SmtpSession};
use super::wire::{LineError, Wire, command_body, escape, lock, verb_arg};

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets; the fake reads up to this bound.
const MAX_COMMAND: usize = 4096;
/// Bound for one DATA line and for the whole content of one transaction.
const MAX_DATA_LINE: usize = 128 << 20;
const MAX_DATA: usize = 512 << 20;
/// RFC 5321 §4.5.3.1.6 text line limit, CRLF included.
const TEXT_LINE_LIMIT: usize = 1000;

#[derive(Default)]
struct Txn {
    mail_from: Option<(String, Vec<String>)>,
    rcpt_to: Vec<String>,
}

struct Conn {
    wire: Wire,
    state: Shared,
    idx: usize,
    b: SmtpBehavior,
    txn: Txn,
}

enum Next {
    Continue,
    End,
}

pub(crate) fn serve(tcp: TcpStream, state: Shared) {
    let (idx, b, wire) = super::record::open(tcp, &state);
    let mut conn = Conn {
        wire,
        state,
        idx,
        b,
        txn: Txn::default(),
    };
    let outcome = conn.run();
    conn.wire.close();
    lock(&conn.state).end(idx, outcome);
}

/// The path between `<` and `>` after `prefix` (case-insensitive, e.g. `FROM:`), and the parameters after it.
/// The path must hold none of SP, CR, LF, NUL, `<`, `>` (design invariant 6).
fn parse_path(arg: &str, prefix: &str) -> Option<(String, Vec<String>)> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].strip_prefix('<')?;
    let end = rest.find('>')?;
    let path = &rest[..end];
    if path
        .bytes()
        .any(|b| matches!(b, b' ' | b'\r' | b'\n' | 0 | b'<' | b'>'))
    {
        return None;
    }
    let params = rest[end + 1..]
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect();
    if !rest[end + 1..].is_empty() && !rest[end + 1..].starts_with(' ') {
        return None;
    }
    Some((path.to_string(), params))
}

impl Conn {
    fn run(&mut self) -> Result<(), String> {
        let greeting = match &self.b.greeting_from_connection {
            Some((from, g)) if self.idx >= *from => format!("{g}\r\n"),
            _ => format!("{}\r\n", self.b.greeting),
        };
        self.wire
            .send(greeting.as_bytes())
            .map_err(|e| e.to_string())?;
        loop {
            let line = match self.wire.read_line(MAX_COMMAND) {
                Ok(l) => l,
                Err(LineError::Eof) => return Ok(()),
                Err(LineError::TooLong) => {
                    self.violation(format!("command line longer than {MAX_COMMAND} octets"));
                    let _ = self.wire.send(b"500 5.5.0 Error: line too long\r\n");
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

    /// Transactions that reached end-of-DATA on this connection.
    fn done_here(&self) -> usize {
        lock(&self.state)
            .transactions
            .iter()
            .filter(|t| t.connection == self.idx)
            .count()
    }

    fn violation(&self, what: String) {
        lock(&self.state)
            .violations
            .push(format!("smtp session {}: {what}", self.idx));
    }

    fn session(&self, f: impl FnOnce(&mut SmtpSession)) {
        f(&mut lock(&self.state).sessions[self.idx]);
    }

    fn check_lockstep(&mut self, verb: &str, always: bool) {
        if !self.b.enforce_lockstep || (self.b.pipelining && !always) {
            return;
        }
        if let Some(ahead) = self.wire.sent_ahead() {
            self.violation(format!("client sent {ahead} before the reply to {verb}"));
        }
    }

    fn reply(&mut self, verb: &str, text: &str) -> std::io::Result<()> {
        self.check_lockstep(verb, false);
        self.wire.send(format!("{text}\r\n").as_bytes())
    }

    fn command(&mut self, raw: &[u8]) -> std::io::Result<Next> {
        let (body, bad_ending) = command_body(raw);
        if let Some(v) = bad_ending {
            self.violation(v);
        }
        if body.contains(&b'\r') || body.contains(&0) {
            self.violation(format!(
                "CR or NUL inside a command line: {:?}",
                escape(raw)
            ));
        }
        let line = String::from_utf8_lossy(body).into_owned();
        self.session(|s| s.commands.push(line.clone()));
        let (verb, arg) = verb_arg(&line);
        let has_helo = lock(&self.state).sessions[self.idx].helo.is_some();
        if let Some(limit) = self.b.shutdown_after
            && self.done_here() >= limit
        {
            self.session(|s| s.error = Some("fault: 421 shutdown".into()));
            self.wire.send(b"421 4.3.2 Service shutting down\r\n")?;
            return Ok(Next::End);
        }
        match verb.as_str() {
            "EHLO" if !self.b.ehlo_ok => {
                self.reply("EHLO", "502 5.5.2 Error: command not recognized")?
            }
            "EHLO" => {
                self.txn = Txn::default();
                self.session(|s| s.helo = Some(arg.clone()));
                let keywords = self.b.ehlo_keywords.clone().unwrap_or_else(|| {
                    let mut k: Vec<String> = Vec::new();
                    if self.b.pipelining {
                        k.push("PIPELINING".into());
                    }
                    k.extend(["SIZE 0", "ENHANCEDSTATUSCODES", "8BITMIME"].map(String::from));
                    k
                });
                let mut text = String::from("250");
                text.push(if keywords.is_empty() { ' ' } else { '-' });
                text.push_str("fake.test");
                for (i, k) in keywords.iter().enumerate() {
                    text.push_str(if i + 1 == keywords.len() {
                        "\r\n250 "
                    } else {
                        "\r\n250-"
                    });
                    text.push_str(k);
                }
                self.reply("EHLO", &text)?;
            }
            "HELO" => {
                self.txn = Txn::default();
                self.session(|s| s.helo = Some(arg.clone()));
                self.reply("HELO", "250 fake.test")?;
            }
            "MAIL" if !has_helo => self.reply("MAIL", "503 5.5.1 Error: send HELO/EHLO first")?,
            "MAIL" if self.txn.mail_from.is_some() => {
                self.reply("MAIL", "503 5.5.1 Error: nested MAIL command")?
            }
            "MAIL"
                if self
                    .b
                    .max_mails
                    .as_ref()
                    .is_some_and(|(n, _)| self.done_here() >= *n) =>
            {
                let reply = self.b.max_mails.clone().map(|(_, r)| r).unwrap_or_default();
                self.reply("MAIL", &reply)?
            }
            "MAIL" => match parse_path(&arg, "FROM:") {
                None => {
                    self.violation(format!("malformed MAIL line: {:?}", escape(body)));
                    self.reply("MAIL", "501 5.5.4 Syntax: MAIL FROM:<address>")?;
                }
                Some(path) => {
                    let reply = self
                        .b
                        .mail_reply
                        .clone()
                        .unwrap_or_else(|| "250 2.1.0 Ok".into());
                    if reply.starts_with('2') {
                        self.txn.mail_from = Some(path);
                    }
                    self.reply("MAIL", &reply)?;
                }
            },
            "RCPT" if self.txn.mail_from.is_none() => {
                self.reply("RCPT", "503 5.5.1 Error: need MAIL command")?
            }
            "RCPT" => match parse_path(&arg, "TO:") {
                None => {
                    self.violation(format!("malformed RCPT line: {:?}", escape(body)));
                    self.reply("RCPT", "501 5.5.4 Syntax: RCPT TO:<address>")?;
                }
                Some((addr, _)) => {
                    let sender = self.txn.mail_from.as_ref().map(|(p, _)| p.as_str());
                    let reply = sender
                        .and_then(|s| self.b.rcpt_replies_by_sender.get(s))
                        .or_else(|| self.b.rcpt_replies.get(&addr))
                        .cloned()
                        .unwrap_or_else(|| "250 2.1.5 Ok".into());
                    if reply.starts_with('2') {
                        self.txn.rcpt_to.push(addr);
                    }
                    self.reply("RCPT", &reply)?;
                }
            },
            "DATA" if self.txn.rcpt_to.is_empty() => {
                self.reply("DATA", "503 5.5.1 Error: need RCPT command")?
            }
            "DATA" if !arg.is_empty() => self.reply("DATA", "501 5.5.4 Syntax: DATA")?,
            "DATA" => return self.data(),
            "RSET" => {
                self.txn = Txn::default();
                self.reply("RSET", "250 2.0.0 Ok")?;
            }
            "NOOP" => self.reply("NOOP", "250 2.0.0 Ok")?,
            "VRFY" => self.reply("VRFY", "502 5.5.1 VRFY command is disabled")?,
            "QUIT" => {
                self.session(|s| s.quit = true);
                self.reply("QUIT", "221 2.0.0 Bye")?;
                return Ok(Next::End);
            }
            _ => self.reply("unknown command", "502 5.5.2 Error: command not recognized")?,
        }
        Ok(Next::Continue)
    }

    fn data(&mut self) -> std::io::Result<Next> {
        // RFC 2920 §3.1: even with PIPELINING the client waits for the 354.
        self.check_lockstep("DATA", true);
        if let Some(r) = self
            .b
            .data_cmd_reply
            .clone()
            .filter(|r| !r.starts_with("354"))
        {
            self.txn = Txn::default();
            self.wire.send(format!("{r}\r\n").as_bytes())?;
            return Ok(Next::Continue);
        }
        self.wire.send(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
        let mut raw = Vec::new();
        let mut data = Vec::new();
        loop {
            let line = match self.wire.read_line(MAX_DATA_LINE) {
                Ok(l) => l,
                Err(e) => {
                    self.session(|s| s.aborted_data += 1);
                    return match e {
                        LineError::Io(e) => Err(e),
                        LineError::Eof => Ok(Next::End),
                        LineError::TooLong => {
                            self.violation(format!("DATA line longer than {MAX_DATA_LINE} octets"));
                            Ok(Next::End)
                        }
                    };
                }
            };
            if line == b".\r\n" {
                break;
            }
            self.inspect_data_line(raw.len(), &line);
            raw.extend_from_slice(&line);
            data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
            let cut = self
                .b
                .close_after_data_bytes
                .is_some_and(|n| raw.len() >= n);
            if cut || raw.len() > MAX_DATA {
                self.session(|s| {
                    s.aborted_data += 1;
                    s.error = Some(format!("fault: closed after {} DATA octets", raw.len()));
                });
                return Ok(Next::End);
            }
        }
        self.end_of_data(raw, data)
    }

    /// Invariant 6: CRLF only. A LF not preceded by CR, or a CR not followed by LF, is a violation. `offset` is the
    /// line's position in the DATA stream.
    fn inspect_data_line(&mut self, offset: usize, line: &[u8]) {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if line.ends_with(b"\n") && !body.ends_with(b"\r") {
            self.violation(format!(
                "bare LF in DATA at octet {}",
                offset + line.len() - 1
            ));
        }
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if let Some(p) = body.iter().position(|&b| b == b'\r') {
            self.violation(format!("bare CR in DATA at octet {}", offset + p));
        }
        if line.len() > TEXT_LINE_LIMIT {
            let note = format!("DATA line of {} octets at octet {offset}", line.len());
            lock(&self.state).long_lines.push(note);
        }
    }

    fn end_of_data(&mut self, data_raw: Vec<u8>, data: Vec<u8>) -> std::io::Result<Next> {
        self.check_lockstep("end-of-DATA", true);
        let txn = std::mem::take(&mut self.txn);
        let (mail_from, mail_params) = txn.mail_from.unwrap_or_default();
        // Recorded before the reply goes out, so a test hook sees the message as soon as the client can.
        let reply = {
            let mut st = lock(&self.state);
            let index = st.transactions.len();
            let reply = match self.b.close_after_eod {
                true => None,
                false => Some(
                    self.b
                        .data_replies
                        .get(&index)
                        .unwrap_or(&self.b.default_data_reply)
                        .clone(),
                ),
            };
            st.transactions.push(Delivered {
                index,
                connection: self.idx,
                mail_from,
                mail_params,
                rcpt_to: txn.rcpt_to,
                data_raw,
                data,
                reply: reply.clone(),
            });
            reply
        };
        if let Some(d) = self.b.delay_eod_reply {
            std::thread::sleep(d);
        }
        match reply {
            Some(r) => {
                self.wire.send(format!("{r}\r\n").as_bytes())?;
                Ok(Next::Continue)
            }
            None => {
                self.session(|s| {
                    s.error = Some("fault: closed after end-of-DATA without a reply".into())
                });
                Ok(Next::End)
            }
        }
    }
}
