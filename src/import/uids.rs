//! The UID files of other fetchers → the UIDs of one account. Pure; bytes in, because these files hold whatever
//! the servers sent.
//!
//! - fetchmail's `.fetchids`: one `USER@HOST UID` line per seen message. Read the way fetchmail reads it
//!   (`uid.c`): the user@host part ends at the first space after the first `@` and splits at its last `@`; the UID
//!   starts after the spaces and ends at the next space, tab or LF. User and host compare case-insensitively.
//! - getmail's `oldmail-SERVER-PORT-USER`: `UID NUL TIMESTAMP` lines, one file per account; getmail stores a `/`
//!   in a UID as `-`.
//! - mpop's `uidls`: `#` comments; a line ` N HOST USER` opens a list of N UIDs, one per line.
//!
//! A UID is recorded exactly as its bytes are. popfetch's UIDL parser accepts only 0x21..=0x7E (RFC 1939 §7), so a
//! UID with any other byte can never be listed: it is counted as unusable, never altered to fit.

use std::collections::BTreeSet;

use super::RcError;

/// What a UID file holds for one account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Found {
    /// The account's UIDs, in file order, without repeats.
    pub uids: Vec<String>,
    /// UIDs with bytes outside 0x21..=0x7E.
    pub unusable: usize,
    /// `user@host` (or `user host`) of the other accounts in the file.
    pub others: BTreeSet<String>,
}

impl Found {
    fn push(&mut self, uid: &[u8]) {
        if uid.is_empty() {
            return;
        }
        if !uid.iter().all(|b| (0x21..=0x7E).contains(b)) {
            self.unusable += 1;
            return;
        }
        let uid = String::from_utf8_lossy(uid).into_owned();
        if !self.uids.contains(&uid) {
            self.uids.push(uid);
        }
    }
}

/// Numbered lines; the empty piece after a final LF is not a line.
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    text.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(move |_| !text.is_empty())
}

/// fetchmail's `.fetchids` lines for `user` at `host`.
pub(crate) fn fetchids(text: &[u8], host: &str, user: &str) -> Found {
    let mut found = Found::default();
    for (_, line) in lines(text) {
        let start = line
            .iter()
            .position(|b| *b != b' ' && *b != b'\t')
            .unwrap_or(line.len());
        let line = &line[start..];
        if line.first() == Some(&b'#') {
            continue;
        }
        let Some(at) = line.iter().position(|b| *b == b'@') else {
            continue;
        };
        let Some(space) = line[at..].iter().position(|b| *b == b' ').map(|p| p + at) else {
            continue;
        };
        let mut end = space;
        while end > 0 && matches!(line[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        let userhost = &line[..end];
        let Some(last_at) = userhost.iter().rposition(|b| *b == b'@') else {
            continue;
        };
        let (u, h) = (&userhost[..last_at], &userhost[last_at + 1..]);
        let rest = &line[space..];
        let id_start = rest.iter().position(|b| *b != b' ').unwrap_or(rest.len());
        let rest = &rest[id_start..];
        let id_end = rest
            .iter()
            .position(|b| matches!(b, b' ' | b'\t' | b'\n'))
            .unwrap_or(rest.len());
        if h.eq_ignore_ascii_case(host.as_bytes()) && u.eq_ignore_ascii_case(user.as_bytes()) {
            found.push(&rest[..id_end]);
        } else {
            found
                .others
                .insert(String::from_utf8_lossy(userhost).escape_debug().to_string());
        }
    }
    found
}

/// getmail's oldmail file (one account per file): `UID NUL TIMESTAMP` lines; other lines are skipped, as getmail
/// skips them. The pre-4.22 form `VALIDITY/MAILBOX/UID` keeps `VALIDITY/UID`, as getmail does.
pub(crate) fn getmail_oldmail(text: &[u8]) -> Found {
    let mut found = Found::default();
    for (_, line) in lines(text) {
        let line = line.trim_ascii();
        let Some(nul) = line.iter().position(|b| *b == 0) else {
            continue;
        };
        let (uid, stamp) = (&line[..nul], &line[nul + 1..]);
        if stamp.is_empty() || !stamp.iter().all(u8::is_ascii_digit) {
            continue;
        }
        let parts: Vec<&[u8]> = uid.split(|b| *b == b'/').collect();
        if let [validity, _mailbox, uid] = parts.as_slice() {
            found.push(&[*validity, b"/", *uid].concat());
        } else {
            found.push(uid);
        }
    }
    found
}

/// The name getmail gives the oldmail file of `user` at `host:port`: `oldmail-SERVER-PORT-USER` with every run of
/// `/ \ : ; < > |` replaced by `-` (getmail's `STRIP_CHAR_RE`).
pub(crate) fn getmail_oldmail_name(host: &str, port: u16, user: &str) -> String {
    let raw = format!("oldmail-{host}-{port}-{user}");
    let mut out = String::new();
    let mut in_run = false;
    for c in raw.chars() {
        if "/\\:;<>|".contains(c) {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

/// The server's own spelling of the UIDs getmail stored: getmail writes each `/` of a UID as `-`, so a listed UID
/// with a `/` whose getmail spelling was imported is the one to record (with `--connect`).
pub(crate) fn getmail_server_spelling(imported: &[String], listing: &[String]) -> Vec<String> {
    listing
        .iter()
        .filter(|u| u.contains('/') && imported.contains(&u.replace('/', "-")))
        .cloned()
        .collect()
}

/// mpop's `uidls` file: the list of `user` at `host` (exact comparison, as mpop does).
///
/// # Errors
/// [`RcError`] for a list header without a number, host and user, or a list shorter than its count.
pub(crate) fn mpop_uidls(text: &[u8], host: &str, user: &str) -> Result<Found, RcError> {
    let mut found = Found::default();
    let mut open: Option<(usize, usize, bool)> = None; // (header line, UIDs left, ours)
    let mut last = 0;
    for (n, line) in lines(text) {
        last = n;
        if line.first() == Some(&b'#') || (line.is_empty() && open.is_none()) {
            continue;
        }
        if let Some((_, left, ours)) = open.as_mut() {
            if line.first() == Some(&b' ') {
                return Err(RcError {
                    line: n,
                    col: 1,
                    message: "a new list starts before the previous one has all its UIDs".into(),
                });
            }
            if *ours {
                found.push(line);
            }
            *left -= 1;
            if *left == 0 {
                open = None;
            }
            continue;
        }
        let bad = |message: &str| RcError {
            line: n,
            col: 1,
            message: message.into(),
        };
        let Some(header) = line.strip_prefix(b" ") else {
            return Err(bad("expected a list header ` COUNT HOST USER`"));
        };
        let fields: Vec<&[u8]> = header.splitn(3, |b| *b == b' ').collect();
        let [count, h, u] = fields.as_slice() else {
            return Err(bad("expected a list header ` COUNT HOST USER`"));
        };
        let count: usize = std::str::from_utf8(count)
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|c| *c > 0)
            .ok_or_else(|| bad("the UID count of a list is not a positive number"))?;
        let ours = *h == host.as_bytes() && *u == user.as_bytes();
        if !ours {
            found.others.insert(format!(
                "{}@{}",
                String::from_utf8_lossy(u).escape_debug(),
                String::from_utf8_lossy(h).escape_debug()
            ));
        }
        open = Some((n, count, ours));
    }
    if let Some((header, _, _)) = open {
        return Err(RcError {
            line: last,
            col: 1,
            message: format!("the list opened on line {header} has fewer UIDs than its count"),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetchids_like_fetchmail() {
        let text = b"# fetchmail ids\n\
            joe@pop.example.jp <a@b.c>\n\
            JOE@POP.Example.JP  0000001a5f00aa01\r\n\
            lotus user@pop.example.jp UIDWITHSPACEUSER\n\
            ann@pop.example.jp 17\n\
            joe@other.example 99\n\
            joe@pop.example.jp caf\xc3\xa9\n\
            joe@pop.example.jp %41\"quoted\"\tjunk\n\
            joe@pop.example.jp <a@b.c>\n\
            no-at-sign line\n";
        let f = fetchids(text, "pop.example.jp", "joe");
        // The CRLF line's UID keeps its CR, as fetchmail reads it: unusable, never silently trimmed.
        assert_eq!(f.uids, ["<a@b.c>", "%41\"quoted\""]);
        assert_eq!(f.unusable, 2);
        assert_eq!(
            f.others.iter().map(String::as_str).collect::<Vec<_>>(),
            [
                "ann@pop.example.jp",
                "joe@other.example",
                "lotus user@pop.example.jp"
            ]
        );
    }

    #[test]
    fn getmail_oldmail_lines() {
        let f = getmail_oldmail(b"0000000158a5d9d3\x001700000000\nUID2\x001700000001\r\n12/INBOX/7\x001\nbroken\n\x00\n");
        assert_eq!(f.uids, ["0000000158a5d9d3", "UID2", "12/7"]);
    }

    #[test]
    fn getmail_file_names() {
        assert_eq!(
            getmail_oldmail_name("pop.example.jp", 995, "joe"),
            "oldmail-pop.example.jp-995-joe"
        );
        assert_eq!(
            getmail_oldmail_name("::1", 110, "a/b|c"),
            "oldmail--1-110-a-b-c"
        );
    }

    #[test]
    fn getmail_slashes_map_back_to_the_server_spelling() {
        let imported = vec!["a-b-c".to_string(), "plain".to_string()];
        let listing = vec!["a/b/c".to_string(), "plain".to_string(), "x/y".to_string()];
        assert_eq!(getmail_server_spelling(&imported, &listing), ["a/b/c"]);
    }

    #[test]
    fn mpop_lists() {
        let text = b"# This file was generated by mpop version 1.4.18.\n#\n 2 pop.example.jp joe\nA1\nA2\n 1 pop.example.jp ann\nB1\n";
        let f = mpop_uidls(text, "pop.example.jp", "joe").unwrap();
        assert_eq!(f.uids, ["A1", "A2"]);
        assert!(f.others.contains("ann@pop.example.jp"));
        let e = mpop_uidls(b" 3 h u\nA\n", "h", "u").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(mpop_uidls(b"A\n", "h", "u").is_err());
    }
}
