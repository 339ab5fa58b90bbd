//! The tokens of a `.fetchmailrc`, as fetchmail's own flex scanner (`rcfile_l.l`, 6.3/6.4) produces them: pure,
//! over bytes (an rc file may hold Latin-1 passwords), every token with its line and column.
//!
//! The scanner's rules, restated (never copied) so that a file means here what it means to fetchmail:
//! - flex takes the longest match and, between equal lengths, the rule listed first. A word is a maximal run of
//!   bytes other than `= ; : ,` space, tab, CR and LF. A keyword is recognised only when it is the *whole* word
//!   (`keepalive` is a string), and a number only when the whole word is `-?[0-9]+`.
//! - Quoted strings (`"…"` or `'…'`, no escape for the quote itself) may span lines. A word that runs on past the
//!   closing quote (`"a"b`) is longer, so it wins and keeps its quotes, as in fetchmail.
//! - `user`, `pass`, `is`, `to` and `=` switch to the NAME state: the next word is a string even when it spells a
//!   keyword (`user keep`). `auth` switches to AUTH, where `password` is an authentication type.
//! - `nokeep`, `nofetchall`, … are `no` followed by the rest, scanned again (fetchmail's `yyless(2)`).
//! - Noise: `with and has wants options` and the characters `; : ,`. `#` starts a comment up to the end of the
//!   line; a backslash right before a line end joins lines.
//! - String escapes (fetchmail's `escapes()`): `\n \t \b \r`, `\xHH` (at most two hex digits), `\0ooo` (octal,
//!   the 0 counts as one of at most three digits), `\ddd` (decimal, at most three digits, reduced modulo 256),
//!   backslash-newline is dropped, any other `\c` is `c`. A resulting NUL ends the string, as it does in C.
//!
//! Deliberate difference: a quote that is never closed is an error here (fetchmail would read it as part of a
//! word, which is never what the writer meant), and a comment on the last line needs no line end.

use crate::import::RcError;

/// What a token is. Keywords carry their canonical spelling (`username` → `user`, `server` → `poll`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Kw(&'static str),
    Str(Vec<u8>),
    Num(i64),
    /// `*`
    Wild,
    /// `=` (fetchmail's MAP)
    Map,
    /// A protocol name (`pop3`, `IMAP`, ...), lower-cased.
    Proto(&'static str),
    /// An authentication type after `auth` (`password`, `cram-md5`, ...), canonical.
    AuthType(&'static str),
}

/// One token and where it starts (1-based line and column, columns in bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub line: usize,
    pub col: usize,
    /// The source bytes of the token, for error messages.
    pub text: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    Name,
    Auth,
}

/// Keyword spellings and their canonical names. Order does not matter: a keyword must be the whole word.
const KEYWORDS: &[(&str, &str)] = &[
    ("set", "set"),
    ("logfile", "logfile"),
    ("idfile", "idfile"),
    ("pidfile", "pidfile"),
    ("daemon", "daemon"),
    ("syslog", "syslog"),
    ("invisible", "invisible"),
    ("showdots", "showdots"),
    ("postmaster", "postmaster"),
    ("bouncemail", "bouncemail"),
    ("spambounce", "spambounce"),
    ("softbounce", "softbounce"),
    ("warnings", "warnings"),
    ("tracepolls", "tracepolls"),
    ("defaults", "defaults"),
    ("server", "poll"),
    ("poll", "poll"),
    ("skip", "skip"),
    ("via", "via"),
    ("aka", "aka"),
    ("local", "localdomains"),
    ("localdomains", "localdomains"),
    ("proto", "protocol"),
    ("protocol", "protocol"),
    ("service", "service"),
    ("port", "port"),
    ("interval", "interval"),
    ("timeout", "timeout"),
    ("envelope", "envelope"),
    ("qvirtual", "qvirtual"),
    ("principal", "principal"),
    ("esmtpname", "esmtpname"),
    ("esmtppassword", "esmtppassword"),
    ("bad-header", "bad-header"),
    ("accept", "accept"),
    ("reject", "reject"),
    ("folder", "folder"),
    ("folders", "folder"),
    ("smtp", "smtphost"),
    ("smtphost", "smtphost"),
    ("fetchdomains", "fetchdomains"),
    ("smtpaddress", "smtpaddress"),
    ("smtpname", "smtpname"),
    ("antispam", "antispam"),
    ("mda", "mda"),
    ("bsmtp", "bsmtp"),
    ("lmtp", "lmtp"),
    ("pre", "preconnect"),
    ("preconnect", "preconnect"),
    ("post", "postconnect"),
    ("postconnect", "postconnect"),
    ("interface", "interface"),
    ("monitor", "monitor"),
    ("plugin", "plugin"),
    ("plugout", "plugout"),
    ("batchlimit", "batchlimit"),
    ("fetchlimit", "fetchlimit"),
    ("fetchsizelimit", "fetchsizelimit"),
    ("fastuidl", "fastuidl"),
    ("expunge", "expunge"),
    ("properties", "properties"),
    ("here", "here"),
    ("there", "there"),
    ("no", "no"),
    ("keep", "keep"),
    ("flush", "flush"),
    ("limitflush", "limitflush"),
    ("fetchall", "fetchall"),
    ("rewrite", "rewrite"),
    ("forcecr", "forcecr"),
    ("stripcr", "stripcr"),
    ("pass8", "pass8bits"),
    ("pass8bits", "pass8bits"),
    ("dropstatus", "dropstatus"),
    ("dropdelivered", "dropdelivered"),
    ("mimedec", "mimedecode"),
    ("mimedecode", "mimedecode"),
    ("idle", "idle"),
    ("dns", "dns"),
    ("uidl", "uidl"),
    ("ssl", "ssl"),
    ("sslkey", "sslkey"),
    ("sslcert", "sslcert"),
    ("sslproto", "sslproto"),
    ("sslcertck", "sslcertck"),
    ("sslcertfile", "sslcertfile"),
    ("sslcertpath", "sslcertpath"),
    ("sslcommonname", "sslcommonname"),
    ("sslfingerprint", "sslfingerprint"),
    ("checkalias", "checkalias"),
    ("limit", "limit"),
    // fetchmail 6.5's password file.
    ("passwordfile", "passwordfile"),
];

/// Keywords that also switch the scanner's state.
const TO_NAME: &[(&str, &str)] = &[
    ("user", "user"),
    ("username", "user"),
    ("is", "is"),
    ("to", "to"),
];
const PASSWORD: &[&str] = &["pass", "password"];
const AUTH: &[&str] = &["auth", "authenticate", "preauth", "preauthenticate"];
const AUTH_TYPES: &[(&str, &str)] = &[
    ("any", "any"),
    ("gssapi", "gssapi"),
    ("kerberos4", "kerberos_v4"),
    ("kerberos_v4", "kerberos_v4"),
    ("kerberos5", "kerberos_v5"),
    ("kerberos_v5", "kerberos_v5"),
    ("kerberos", "kerberos_v4"),
    ("ssh", "ssh"),
    ("external", "external"),
    ("otp", "otp"),
    ("opie", "otp"),
    ("cram", "cram-md5"),
    ("cram-md5", "cram-md5"),
    ("msn", "msn"),
    ("ntlm", "ntlm"),
];
const PROTOS: &[&str] = &[
    "auto", "pop2", "sdps", "pop3", "imap", "apop", "rpop", "etrn", "odmr", "kpop",
];
const NOISE: &[&str] = &["with", "and", "has", "wants", "options"];
/// `noX` words scanned as `no` + `X` (`nosslcertck` is accepted as well: fetchmail 6.4 documents `no sslcertck`).
const NO_WORDS: &[&str] = &[
    "nobouncemail",
    "nouidl",
    "nocheckalias",
    "nodns",
    "noenvelope",
    "nokeep",
    "noflush",
    "nolimitflush",
    "nofetchall",
    "norewrite",
    "noforcecr",
    "nostripcr",
    "nopass8",
    "nopass8bits",
    "nodropstatus",
    "nodropdelivered",
    "nomimedec",
    "nomimedecode",
    "nospambounce",
    "noidle",
    "nosslcertck",
];

fn is_word_byte(b: u8) -> bool {
    !matches!(b, b'=' | b';' | b':' | b',' | b' ' | b'\t' | b'\r' | b'\n')
}

fn lookup<'a>(table: &[(&str, &'a str)], word: &str) -> Option<&'a str> {
    table.iter().find(|(w, _)| *w == word).map(|(_, c)| *c)
}

/// Scan a whole rc file.
///
/// # Errors
/// [`RcError`] with line and column for a quoted string that is never closed.
pub(crate) fn lex(src: &[u8]) -> Result<Vec<Token>, RcError> {
    let mut out = Vec::new();
    let mut state = State::Initial;
    let mut i = 0;
    let mut line = 1;
    let mut line_start = 0;
    while i < src.len() {
        let b = src[i];
        let col = i - line_start + 1;
        match b {
            b' ' | b'\t' | b'\r' | b';' | b':' | b',' => {
                i += 1;
                continue;
            }
            b'\n' => {
                i += 1;
                line += 1;
                line_start = i;
                continue;
            }
            b'\\' if src.get(i + 1) == Some(&b'\n') => {
                i += 2;
                line += 1;
                line_start = i;
                continue;
            }
            b'#' => {
                while i < src.len() && src[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'=' => {
                out.push(Token {
                    kind: Kind::Map,
                    line,
                    col,
                    text: "=".into(),
                });
                state = State::Name;
                i += 1;
                continue;
            }
            _ => {}
        }
        let word_len = src[i..].iter().take_while(|b| is_word_byte(**b)).count();
        let quoted_len = if b == b'"' || b == b'\'' {
            match src[i + 1..].iter().position(|c| *c == b) {
                Some(p) => Some(p + 2),
                None => {
                    return Err(RcError {
                        line,
                        col,
                        message: "quoted string is never closed".into(),
                    });
                }
            }
        } else {
            None
        };
        let (len, kind) = match quoted_len {
            Some(q) if q >= word_len => {
                state = State::Initial;
                (q, Kind::Str(escapes(&src[i + 1..i + q - 1])))
            }
            _ => {
                let word = &src[i..i + word_len];
                (word_len, classify(word, &mut state))
            }
        };
        let text = String::from_utf8_lossy(&src[i..i + len]).into_owned();
        // A `noX` word: emit `no`, then scan `X` again from the same place.
        if kind == Kind::Kw("no") && len > 2 {
            out.push(Token {
                kind,
                line,
                col,
                text: "no".into(),
            });
            i += 2;
            continue;
        }
        if !(matches!(&kind, Kind::Kw(k) if NOISE.contains(k))) {
            out.push(Token {
                kind,
                line,
                col,
                text,
            });
        }
        // Quoted strings may span lines.
        for (k, c) in src[i..i + len].iter().enumerate() {
            if *c == b'\n' {
                line += 1;
                line_start = i + k + 1;
            }
        }
        i += len;
    }
    Ok(out)
}

/// What a whole unquoted word is, given (and updating) the scanner state.
fn classify(word: &[u8], state: &mut State) -> Kind {
    // `*` is listed before the NAME rule in fetchmail's scanner, so it wins even in the NAME state.
    if word == b"*" {
        *state = State::Initial;
        return Kind::Wild;
    }
    if *state == State::Name {
        *state = State::Initial;
        return Kind::Str(escapes(word));
    }
    let Ok(w) = std::str::from_utf8(word) else {
        return Kind::Str(escapes(word));
    };
    if *state == State::Auth && w == "password" {
        *state = State::Initial;
        return Kind::AuthType("password");
    }
    if let Some(t) = lookup(AUTH_TYPES, w) {
        *state = State::Initial;
        return Kind::AuthType(t);
    }
    if AUTH.contains(&w) {
        *state = State::Auth;
        return Kind::Kw("auth");
    }
    if let Some(k) = lookup(TO_NAME, w) {
        *state = State::Name;
        return Kind::Kw(k);
    }
    // `pass(word)?` is active in the INITIAL and NAME states only (not AUTH, where `pass` is a plain string).
    if PASSWORD.contains(&w) && *state == State::Initial {
        *state = State::Name;
        return Kind::Kw("password");
    }
    if NO_WORDS.contains(&w) {
        return Kind::Kw("no");
    }
    if let Some(n) = NOISE.iter().find(|n| **n == w) {
        return Kind::Kw(n);
    }
    if let Some(k) = lookup(KEYWORDS, w) {
        return Kind::Kw(k);
    }
    // Protocol names are recognised all lower-case or all upper-case, nothing in between (`(pop3)|(POP3)`).
    let lower = w.to_ascii_lowercase();
    if let Some(p) = PROTOS.iter().find(|p| **p == lower)
        && (w == lower || w == lower.to_ascii_uppercase())
    {
        return Kind::Proto(p);
    }
    let digits = w.strip_prefix('-').unwrap_or(w);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // atoi() semantics for absurd lengths: saturate rather than fail.
        return Kind::Num(w.parse().unwrap_or(if w.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        }));
    }
    Kind::Str(escapes(word))
}

/// fetchmail's `escapes()` (module docs), on bytes.
pub(crate) fn escapes(s: &[u8]) -> Vec<u8> {
    fn digit(b: u8, radix: u32) -> Option<u32> {
        char::from(b).to_digit(radix)
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&n) = s.get(i + 1) else {
            // A backslash at the very end is dropped.
            break;
        };
        i += 1;
        let value: u32 = match n {
            b'x' | b'X' => {
                i += 1;
                let mut v = 0;
                let mut count = 0;
                while count < 2 {
                    match s.get(i).and_then(|b| digit(*b, 16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                            count += 1;
                        }
                        None => break,
                    }
                }
                v
            }
            b'0' => numeric(s, &mut i, 8),
            b'1'..=b'9' => numeric(s, &mut i, 10),
            b'\n' => {
                i += 1;
                continue;
            }
            b'n' => {
                i += 1;
                u32::from(b'\n')
            }
            b't' => {
                i += 1;
                u32::from(b'\t')
            }
            b'b' => {
                i += 1;
                0x08
            }
            b'r' => {
                i += 1;
                u32::from(b'\r')
            }
            other => {
                i += 1;
                u32::from(other)
            }
        };
        // C stores the value in a char: modulo 256.
        out.push((value & 0xFF) as u8);
    }
    // C strings end at the first NUL an escape produced.
    if let Some(nul) = out.iter().position(|b| *b == 0) {
        out.truncate(nul);
    }
    out
}

/// Up to three digits of `radix` starting at `s[*i]` (the leading `0` of an octal escape is one of them).
fn numeric(s: &[u8], i: &mut usize, radix: u32) -> u32 {
    let mut v = 0;
    let mut count = 0;
    while count < 3 {
        match s.get(*i).and_then(|b| char::from(*b).to_digit(radix)) {
            Some(d) => {
                v = v * radix + d;
                *i += 1;
                count += 1;
            }
            None => break,
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Kind> {
        lex(src.as_bytes())
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    fn s(v: &str) -> Kind {
        Kind::Str(v.as_bytes().to_vec())
    }

    #[test]
    fn escapes_follow_fetchmail() {
        assert_eq!(escapes(br"a\tb\nc\rd\be"), b"a\tb\nc\rd\x08e");
        assert_eq!(escapes(br"\x41\x4a4"), b"AJ4");
        // Octal: the leading 0 is one of the three digits, so `\0101` is 0o010 then `1` (the man page's `\0ooo`
        // says four; fetchmail's code reads three); `\0x` is a NUL, which ends the string.
        assert_eq!(escapes(br"\012"), b"\n");
        assert_eq!(escapes(br"\0101\0x"), b"\x081");
        // Decimal: \233 is 0xE9 (the man page's example), reduced modulo 256 above 255.
        assert_eq!(escapes(br"\233"), b"\xE9");
        assert_eq!(escapes(br"\300"), &[44u8][..]);
        assert_eq!(escapes(br#"\q\\\"z"#), br#"q\"z"#);
        assert_eq!(escapes(b"ab\\\ncd"), b"abcd");
        assert_eq!(escapes(br"end\"), b"end");
        // A NUL ends the C string.
        assert_eq!(escapes(br"ab\x00cd"), b"ab");
        assert_eq!(escapes(br"ab\xZZ"), b"ab");
    }

    #[test]
    fn keywords_only_as_whole_words_and_name_state() {
        assert_eq!(
            kinds("poll keepalive user keep pass password keep"),
            [
                Kind::Kw("poll"),
                s("keepalive"),
                Kind::Kw("user"),
                s("keep"),
                Kind::Kw("password"),
                s("password"),
                Kind::Kw("keep"),
            ]
        );
        assert_eq!(
            kinds("auth password pass x"),
            [
                Kind::Kw("auth"),
                Kind::AuthType("password"),
                Kind::Kw("password"),
                s("x")
            ]
        );
        assert_eq!(
            kinds("nokeep no fetchall nosslcertck"),
            [
                Kind::Kw("no"),
                Kind::Kw("keep"),
                Kind::Kw("no"),
                Kind::Kw("fetchall"),
                Kind::Kw("no"),
                Kind::Kw("sslcertck"),
            ]
        );
    }

    #[test]
    fn numbers_protocols_noise_and_punctuation() {
        assert_eq!(
            kinds("port 995, proto POP3; with and has wants options: limit -1 user 123 x12"),
            [
                Kind::Kw("port"),
                Kind::Num(995),
                Kind::Kw("protocol"),
                Kind::Proto("pop3"),
                Kind::Kw("limit"),
                Kind::Num(-1),
                Kind::Kw("user"),
                s("123"),
                s("x12"),
            ]
        );
        assert_eq!(kinds("Pop3"), [s("Pop3")]);
    }

    #[test]
    fn quotes_comments_and_positions() {
        let toks =
            lex(b"poll a # comment\n  user 'it''s' pass \"two\nlines\" is x=y *\n#last").unwrap();
        let got: Vec<(Kind, usize, usize)> =
            toks.into_iter().map(|t| (t.kind, t.line, t.col)).collect();
        assert_eq!(
            got,
            [
                (Kind::Kw("poll"), 1, 1),
                (s("a"), 1, 6),
                (Kind::Kw("user"), 2, 3),
                // `'it''s'` is one word (7 bytes), longer than the quoted `'it'`: fetchmail keeps it whole.
                (s("'it''s'"), 2, 8),
                (Kind::Kw("password"), 2, 16),
                (s("two\nlines"), 2, 21),
                (Kind::Kw("is"), 3, 8),
                (s("x"), 3, 11),
                (Kind::Map, 3, 12),
                (s("y"), 3, 13),
                (Kind::Wild, 3, 15),
            ]
        );
        // A word that runs past the closing quote is longer, so it wins and keeps its quotes.
        assert_eq!(kinds("\"a\"b"), [s("\"a\"b")]);
    }

    #[test]
    fn unterminated_quote_is_an_error_with_position() {
        let e = lex(b"poll a\n  password \"abc\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 12));
    }
}
