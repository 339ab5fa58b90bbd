//! `.fetchmailrc` → the list of polls fetchmail would make, following fetchmail's grammar (`rcfile_y.y`, 6.3/6.4)
//! and its merging of the `defaults` entry (`fetchmail.c`): pure, no I/O. [`lex`](mod@lex) makes the tokens,
//! [`options`] reads the options; [`plan`] turns the result into a popfetch configuration.
//!
//! Grammar, restated: a file is a list of statements. `set …` sets a global. An entry is `poll NAME`, `skip NAME`
//! or `defaults`, then server options, then user descriptions: either options alone (one user, named by default)
//! or one or more blocks each opened by `user NAME` (or `user NAMES here`, `user NAME there`) and followed by that
//! user's options. A server option after the user options is the error fetchmail reports as "server option after
//! user options". A `defaults` entry must come first; each later entry takes from it every setting (and every
//! list) that it does not set itself.

use std::collections::BTreeMap;

use crate::import::RcError;
use lex::{Kind, Token, lex};
use options::{SET_FLAGS, SET_STR};

pub(crate) mod lex;
mod multidrop;
mod options;
pub(crate) mod plan;
mod why;

#[cfg(test)]
mod tests;

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Flag(bool),
    Num(i64),
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    /// `is`/`to`/`user … here` local names: `(name, mapped-to)`, `*` as the name `*`.
    Names(Vec<LocalName>),
    /// `envelope [SKIP] HEADER`
    Envelope(i64, Vec<u8>),
    /// A protocol or authentication type name.
    Word(&'static str),
}

/// One local name of `is`/`to`: the name and, for `server=local`, what it maps to.
pub(crate) type LocalName = (Vec<u8>, Option<Vec<u8>>);

/// A setting and the rc line it was written on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    pub val: Val,
    pub line: usize,
    /// Taken from the `defaults` entry.
    pub inherited: bool,
}

/// Settings by canonical keyword (`keep`, `password`, `localnames`, ...).
pub(crate) type Settings = BTreeMap<&'static str, Setting>;

/// A global `set` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Global {
    pub name: &'static str,
    pub val: Val,
    pub line: usize,
}

/// One mailbox fetchmail polls: an entry's server settings plus one user's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    /// The name after `poll` or `skip`.
    pub label: Vec<u8>,
    pub skip: bool,
    pub settings: Settings,
    /// Lines of the whole entry, and of this user's block within it.
    pub entry_lines: (usize, usize),
    pub user_lines: (usize, usize),
    /// Users in the same entry (1 for a single-user entry).
    pub users_in_entry: usize,
    /// Lines of the `defaults` entry, when one was merged in.
    pub defaults_lines: Option<(usize, usize)>,
}

/// A parsed rc file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Rc {
    pub globals: Vec<Global>,
    pub queries: Vec<Query>,
}

/// Server options (fetchmail's `serv_option`), by canonical keyword.
/// Parse a whole rc file.
///
/// # Errors
/// [`RcError`] with the line and column of the first token fetchmail's parser would also stop at.
pub(crate) fn parse(src: &[u8]) -> Result<Rc, RcError> {
    let tokens = lex(src)?;
    let end = end_position(src);
    let mut p = Parser {
        toks: &tokens,
        i: 0,
        end,
    };
    let mut rc = Rc::default();
    let mut defaults: Option<(Settings, (usize, usize))> = None;
    let mut seen_entry = false;
    while let Some(t) = p.peek() {
        match &t.kind {
            Kind::Kw("set") => rc.globals.push(p.set()?),
            Kind::Kw("poll" | "skip" | "defaults") => {
                let is_defaults = t.kind == Kind::Kw("defaults");
                let (line, col) = (t.line, t.col);
                let entry = p.entry()?;
                if is_defaults {
                    if seen_entry || defaults.is_some() {
                        return Err(RcError {
                            line,
                            col,
                            message: "a `defaults` entry must be the first entry, and there can be only one"
                                .into(),
                        });
                    }
                    let mut settings = entry.server;
                    if let Some(user) = entry.users.into_iter().next() {
                        settings.extend(user.settings);
                    }
                    defaults = Some((settings, entry.lines));
                } else {
                    rc.queries.extend(entry.into_queries(defaults.as_ref()));
                }
                seen_entry = true;
            }
            _ => {
                return Err(p.unexpected(t, "`poll`, `skip`, `defaults` or `set`"));
            }
        }
    }
    Ok(rc)
}

fn end_position(src: &[u8]) -> (usize, usize) {
    let line = 1 + src.iter().filter(|b| **b == b'\n').count();
    let start = src.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    (line, src.len() - start + 1)
}

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    end: (usize, usize),
}

/// One user block (or the implicit user of an entry without `user`).
struct UserBlock {
    settings: Settings,
    lines: (usize, usize),
}

struct Entry {
    label: Vec<u8>,
    skip: bool,
    server: Settings,
    users: Vec<UserBlock>,
    lines: (usize, usize),
}

impl Entry {
    fn into_queries(self, defaults: Option<&(Settings, (usize, usize))>) -> Vec<Query> {
        let mut blocks = self.users;
        if blocks.is_empty() {
            // `poll host` with server options only: one query for the default user.
            blocks.push(UserBlock {
                settings: Settings::new(),
                lines: self.lines,
            });
        }
        let n = blocks.len();
        blocks
            .into_iter()
            .map(|b| {
                let mut settings = self.server.clone();
                settings.extend(b.settings);
                let mut defaults_lines = None;
                if let Some((d, lines)) = defaults {
                    for (k, v) in d {
                        if !settings.contains_key(k) {
                            let mut v = v.clone();
                            v.inherited = true;
                            settings.insert(k, v);
                            defaults_lines = Some(*lines);
                        }
                    }
                }
                Query {
                    label: self.label.clone(),
                    skip: self.skip,
                    settings,
                    entry_lines: self.lines,
                    user_lines: b.lines,
                    users_in_entry: n,
                    defaults_lines,
                }
            })
            .collect()
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.i)
    }

    fn peek2(&self) -> Option<&'a Token> {
        self.toks.get(self.i + 1)
    }

    fn next(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.i);
        self.i += 1;
        t
    }

    fn last_line(&self) -> usize {
        self.toks
            .get(self.i.saturating_sub(1))
            .map_or(self.end.0, |t| t.line + t.text.matches('\n').count())
    }

    fn unexpected(&self, t: &Token, wanted: &str) -> RcError {
        RcError {
            line: t.line,
            col: t.col,
            message: format!("expected {wanted}, found `{}`", t.text.escape_debug()),
        }
    }

    fn eof(&self, wanted: &str) -> RcError {
        RcError {
            line: self.end.0,
            col: self.end.1,
            message: format!("expected {wanted}, found the end of the file"),
        }
    }

    fn expect_str(&mut self, after: &str) -> Result<Vec<u8>, RcError> {
        let wanted = format!("a string after `{after}`");
        match self.next() {
            Some(Token {
                kind: Kind::Str(s), ..
            }) => Ok(s.clone()),
            Some(t) => Err(self.unexpected(t, &wanted)),
            None => Err(self.eof(&wanted)),
        }
    }

    fn expect_num(&mut self, after: &str) -> Result<i64, RcError> {
        let wanted = format!("a number after `{after}`");
        match self.next() {
            Some(Token {
                kind: Kind::Num(n), ..
            }) => Ok(*n),
            Some(t) => Err(self.unexpected(t, &wanted)),
            None => Err(self.eof(&wanted)),
        }
    }

    /// One or more strings (`aka`, `folder`, `smtphost`, ...).
    fn str_list(&mut self, after: &str) -> Result<Vec<Vec<u8>>, RcError> {
        let mut out = vec![self.expect_str(after)?];
        while let Some(Token {
            kind: Kind::Str(s), ..
        }) = self.peek()
        {
            out.push(s.clone());
            self.i += 1;
        }
        Ok(out)
    }

    fn set(&mut self) -> Result<Global, RcError> {
        let set = self.next().map_or(0, |t| t.line);
        let mut on = true;
        if self.peek().map(|t| &t.kind) == Some(&Kind::Kw("no")) {
            self.i += 1;
            on = false;
        }
        let wanted = "a global option after `set` (daemon, logfile, idfile, pidfile, postmaster, syslog, ...)";
        let t = match self.next() {
            Some(t) => t,
            None => return Err(self.eof(wanted)),
        };
        let Kind::Kw(name) = t.kind else {
            return Err(self.unexpected(t, wanted));
        };
        if SET_FLAGS.contains(&name) {
            return Ok(Global {
                name,
                val: Val::Flag(on),
                line: set,
            });
        }
        if !on {
            return Err(self.unexpected(
                t,
                "bouncemail, spambounce, softbounce, syslog, invisible or showdots after `set no`",
            ));
        }
        // `optmap`: an optional `=`.
        if self.peek().map(|t| &t.kind) == Some(&Kind::Map) {
            self.i += 1;
        }
        let val = if name == "daemon" {
            // After `=` fetchmail's scanner is in the NAME state and makes the number a string; accept both.
            match self.next() {
                Some(Token {
                    kind: Kind::Num(n), ..
                }) => Val::Num(*n),
                Some(Token {
                    kind: Kind::Str(s), ..
                }) if !s.is_empty() && s.iter().all(u8::is_ascii_digit) => Val::Num(
                    std::str::from_utf8(s)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(i64::MAX),
                ),
                Some(t) => return Err(self.unexpected(t, "a number after `set daemon`")),
                None => return Err(self.eof("a number after `set daemon`")),
            }
        } else if SET_STR.contains(&name) {
            Val::Str(self.expect_str(&format!("set {name}"))?)
        } else {
            return Err(self.unexpected(t, wanted));
        };
        Ok(Global {
            name,
            val,
            line: set,
        })
    }

    fn entry(&mut self) -> Result<Entry, RcError> {
        let head = self
            .next()
            .expect("entry() is called on poll/skip/defaults");
        let first = head.line;
        let (label, skip) = match head.kind {
            Kind::Kw("defaults") => (b"defaults".to_vec(), false),
            Kind::Kw(k) => (self.expect_str(k)?, k == "skip"),
            _ => unreachable!("entry() is called on poll/skip/defaults"),
        };
        let mut server = Settings::new();
        while self.at_server_option() {
            self.server_option(&mut server)?;
        }
        let mut users = Vec::new();
        if self.at_user_option() {
            // Options without `user`: the entry's one user (fetchmail's `user1opts`).
            let start = self.peek().map_or(first, |t| t.line);
            let mut settings = Settings::new();
            while self.at_user_option() {
                self.user_option(&mut settings)?;
            }
            if let Some(t) = self.peek().filter(|t| t.kind == Kind::Kw("user")) {
                return Err(RcError {
                    line: t.line,
                    col: t.col,
                    message:
                        "`user` after user options: the options of a user come after its `user`"
                            .into(),
                });
            }
            users.push(UserBlock {
                settings,
                lines: (start, self.last_line()),
            });
        } else {
            while self.peek().map(|t| &t.kind) == Some(&Kind::Kw("user")) {
                let start = self.peek().map_or(first, |t| t.line);
                let mut settings = Settings::new();
                self.userdef(&mut settings)?;
                while self.at_user_option() {
                    self.user_option(&mut settings)?;
                }
                users.push(UserBlock {
                    settings,
                    lines: (start, self.last_line()),
                });
            }
        }
        if !users.is_empty()
            && self.at_server_option()
            && let Some(t) = self.peek()
        {
            return Err(RcError {
                line: t.line,
                col: t.col,
                message: format!(
                    "server option `{}` after user options (server options go right after `poll NAME`)",
                    t.text.escape_debug()
                ),
            });
        }
        if let Some(t) = self.peek()
            && !matches!(t.kind, Kind::Kw("poll" | "skip" | "defaults" | "set"))
        {
            return Err(self.unexpected(t, "a server or user option, `user`, or the next `poll`"));
        }
        Ok(Entry {
            label,
            skip,
            server,
            users,
            lines: (first, self.last_line()),
        })
    }
}
