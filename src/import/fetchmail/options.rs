//! The options of a fetchmail entry: which keywords are server options and which are user options (fetchmail's
//! `serv_option` and `user_option`), and how each reads its argument.

use super::{LocalName, Parser, Setting, Settings, Val};
use crate::import::RcError;
use crate::import::fetchmail::lex::{Kind, Token};

pub(super) const SERVER: &[&str] = &[
    "aka",
    "via",
    "localdomains",
    "protocol",
    "principal",
    "esmtpname",
    "esmtppassword",
    "uidl",
    "checkalias",
    "service",
    "port",
    "interval",
    "auth",
    "timeout",
    "envelope",
    "qvirtual",
    "interface",
    "monitor",
    "plugin",
    "plugout",
    "dns",
    "tracepolls",
    "bad-header",
];
/// What may follow `no` among the server options.
pub(super) const SERVER_NO: &[&str] = &["uidl", "checkalias", "dns", "envelope", "tracepolls"];
/// Flags a user option sets or (after `no`) clears.
pub(super) const USER_FLAGS: &[&str] = &[
    "keep",
    "flush",
    "limitflush",
    "fetchall",
    "rewrite",
    "forcecr",
    "stripcr",
    "pass8bits",
    "dropstatus",
    "dropdelivered",
    "mimedecode",
    "idle",
    "ssl",
    "sslcertck",
    "lmtp",
];
/// User options taking one string.
pub(super) const USER_STR: &[&str] = &[
    "password",
    "passwordfile",
    "smtpaddress",
    "smtpname",
    "mda",
    "bsmtp",
    "preconnect",
    "postconnect",
    "sslkey",
    "sslcert",
    "sslproto",
    "sslcertfile",
    "sslcertpath",
    "sslcommonname",
    "sslfingerprint",
    "properties",
];
/// User options taking one number.
pub(super) const USER_NUM: &[&str] = &[
    "limit",
    "warnings",
    "fetchlimit",
    "fetchsizelimit",
    "fastuidl",
    "batchlimit",
    "expunge",
];
/// User options taking a list of strings.
pub(super) const USER_LIST: &[&str] = &["folder", "smtphost", "fetchdomains"];

/// `set` flags (`set [no] X`).
pub(super) const SET_FLAGS: &[&str] = &[
    "bouncemail",
    "spambounce",
    "softbounce",
    "syslog",
    "invisible",
    "showdots",
];
/// `set X [=] STRING`
pub(super) const SET_STR: &[&str] = &["logfile", "idfile", "pidfile", "postmaster", "properties"];

/// A setting's key and value, as an option makes it.
type KeyVal = (&'static str, Val);

impl Parser<'_> {
    pub(super) fn at_server_option(&self) -> bool {
        self.at_option(SERVER_NO, |k| SERVER.contains(&k))
    }

    pub(super) fn at_user_option(&self) -> bool {
        self.at_option(USER_FLAGS, |k| {
            ["to", "is", "antispam"].contains(&k)
                || USER_FLAGS.contains(&k)
                || USER_STR.contains(&k)
                || USER_NUM.contains(&k)
                || USER_LIST.contains(&k)
        })
    }

    /// An option is next: `no` and one of `flags`, or a keyword that is `option`.
    fn at_option(&self, flags: &[&str], option: impl Fn(&str) -> bool) -> bool {
        match self.peek().map(|t| &t.kind) {
            Some(Kind::Kw("no")) => {
                matches!(self.peek2().map(|t| &t.kind), Some(Kind::Kw(k)) if flags.contains(k))
            }
            Some(Kind::Kw(k)) => option(k),
            _ => false,
        }
    }

    /// The option that [`Parser::at_server_option`] or [`Parser::at_user_option`] found next: `no FLAG` clears the
    /// flag, any other keyword is read by `read` into its setting's key and value; the setting is made at the
    /// keyword's line.
    fn option(
        &mut self,
        s: &mut Settings,
        read: fn(&mut Self, &'static str) -> Result<KeyVal, RcError>,
    ) -> Result<(), RcError> {
        let t = self.next().expect("checked by at_option");
        let Kind::Kw(k) = t.kind else {
            unreachable!("checked by at_option")
        };
        let (key, val) = if k == "no" {
            let Some(Token {
                kind: Kind::Kw(what),
                ..
            }) = self.next()
            else {
                unreachable!("checked by at_option")
            };
            (*what, Val::Flag(false))
        } else {
            read(self, k)?
        };
        set(s, key, val, t.line);
        Ok(())
    }

    pub(super) fn server_option(&mut self, s: &mut Settings) -> Result<(), RcError> {
        self.option(s, Self::server_value)
    }

    /// The setting a server option `k` makes, reading its argument.
    fn server_value(&mut self, k: &'static str) -> Result<KeyVal, RcError> {
        Ok(match k {
            "uidl" | "checkalias" | "dns" | "tracepolls" => (k, Val::Flag(true)),
            "aka" | "localdomains" => (k, Val::List(self.str_list(k)?)),
            "protocol" => match self.next() {
                Some(Token {
                    kind: Kind::Proto(p),
                    ..
                }) => (k, Val::Word(p)),
                Some(t) => {
                    return Err(self.unexpected(
                        t,
                        "a protocol name (pop3, imap, apop, ...) after `protocol`",
                    ));
                }
                None => return Err(self.eof("a protocol name after `protocol`")),
            },
            "auth" => match self.next() {
                Some(Token {
                    kind: Kind::AuthType(a),
                    ..
                }) => (k, Val::Word(a)),
                Some(t) => {
                    return Err(self.unexpected(
                        t,
                        "an authentication type (any, password, cram-md5, ...) after `auth`",
                    ));
                }
                None => return Err(self.eof("an authentication type after `auth`")),
            },
            "service" => match self.next() {
                Some(Token {
                    kind: Kind::Num(n), ..
                }) => ("service", Val::Str(n.to_string().into_bytes())),
                Some(Token {
                    kind: Kind::Str(v), ..
                }) => ("service", Val::Str(v.clone())),
                Some(t) => {
                    return Err(self.unexpected(t, "a service name or port number after `service`"));
                }
                None => return Err(self.eof("a service name or port number after `service`")),
            },
            "port" => (
                "service",
                Val::Str(self.expect_num(k)?.to_string().into_bytes()),
            ),
            "interval" | "timeout" => (k, Val::Num(self.expect_num(k)?)),
            "envelope" => {
                let skip = match self.peek().map(|t| &t.kind) {
                    Some(Kind::Num(n)) => {
                        let n = *n;
                        self.i += 1;
                        n
                    }
                    _ => 0,
                };
                (k, Val::Envelope(skip, self.expect_str(k)?))
            }
            "bad-header" => match self.next() {
                Some(Token {
                    kind: Kind::Kw(w @ ("accept" | "reject")),
                    ..
                }) => (k, Val::Word(w)),
                Some(t) => {
                    return Err(self.unexpected(t, "`accept` or `reject` after `bad-header`"));
                }
                None => return Err(self.eof("`accept` or `reject` after `bad-header`")),
            },
            _ => (k, Val::Str(self.expect_str(k)?)),
        })
    }

    /// `user NAME` | `user NAMES here` | `user NAME there`.
    pub(super) fn userdef(&mut self, s: &mut Settings) -> Result<(), RcError> {
        let user = self.next().expect("checked by the caller");
        let names = self.mapping_list("user")?;
        let here = self.peek().map(|t| &t.kind) == Some(&Kind::Kw("here"));
        let there = self.peek().map(|t| &t.kind) == Some(&Kind::Kw("there"));
        if here {
            self.i += 1;
            set(s, "localnames", Val::Names(names), user.line);
            return Ok(());
        }
        match names.as_slice() {
            [(name, None)] if name != b"*" => {
                if there {
                    self.i += 1;
                }
                set(s, "user", Val::Str(name.clone()), user.line);
                Ok(())
            }
            _ => Err(RcError {
                line: user.line,
                col: user.col,
                message: "several names after `user` need `here` after them (they are local names)"
                    .into(),
            }),
        }
    }

    /// `STRING`, `*` or `STRING = STRING`, one or more.
    pub(super) fn mapping_list(&mut self, after: &str) -> Result<Vec<LocalName>, RcError> {
        let mut out = Vec::new();
        loop {
            match self.peek().map(|t| &t.kind) {
                Some(Kind::Str(name)) => {
                    self.i += 1;
                    if self.peek().map(|t| &t.kind) == Some(&Kind::Map) {
                        self.i += 1;
                        let to = self.expect_str("=")?;
                        out.push((name.clone(), Some(to)));
                    } else {
                        out.push((name.clone(), None));
                    }
                }
                Some(Kind::Wild) => {
                    self.i += 1;
                    out.push((b"*".to_vec(), None));
                }
                _ => break,
            }
        }
        if out.is_empty() {
            let wanted = format!("a name after `{after}`");
            return Err(match self.peek() {
                Some(t) => self.unexpected(t, &wanted),
                None => self.eof(&wanted),
            });
        }
        Ok(out)
    }

    pub(super) fn user_option(&mut self, s: &mut Settings) -> Result<(), RcError> {
        self.option(s, Self::user_value)
    }

    /// The setting a user option `k` makes, reading its argument.
    fn user_value(&mut self, k: &'static str) -> Result<KeyVal, RcError> {
        Ok(match k {
            "is" | "to" => {
                let names = self.mapping_list(k)?;
                match self.peek().map(|t| &t.kind) {
                    Some(Kind::Kw("here")) => {
                        self.i += 1;
                        ("localnames", Val::Names(names))
                    }
                    // `is NAME there`: the remote user name.
                    Some(Kind::Kw("there"))
                        if k == "is" && names.len() == 1 && names[0].1.is_none() =>
                    {
                        self.i += 1;
                        ("user", Val::Str(names[0].0.clone()))
                    }
                    _ => ("localnames", Val::Names(names)),
                }
            }
            "antispam" => {
                let mut nums = vec![self.expect_num(k)?];
                while let Some(Token {
                    kind: Kind::Num(n), ..
                }) = self.peek()
                {
                    nums.push(*n);
                    self.i += 1;
                }
                (
                    k,
                    Val::List(nums.iter().map(|n| n.to_string().into_bytes()).collect()),
                )
            }
            _ if USER_FLAGS.contains(&k) => (k, Val::Flag(true)),
            _ if USER_NUM.contains(&k) => (k, Val::Num(self.expect_num(k)?)),
            _ if USER_LIST.contains(&k) => (k, Val::List(self.str_list(k)?)),
            _ => (k, Val::Str(self.expect_str(k)?)),
        })
    }
}

/// Set `key` to `val`, given at `line` of this entry (not inherited from `defaults`).
fn set(s: &mut Settings, key: &'static str, val: Val, line: usize) {
    s.insert(
        key,
        Setting {
            val,
            line,
            inherited: false,
        },
    );
}
