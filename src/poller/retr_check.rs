//! Does what RETR gave match what LIST announced? A pure judgement, so the rule is tested on its own
//! (docs/decisions.md, "A RETR that does not match LIST"; catalog P-19).
//!
//! What real servers do:
//! - **Dovecot** counts sizes with CRLF line endings, except with `pop3_fast_size_lookups`, where LIST counts each
//!   LF as one octet: RETR then gives up to one octet per line more than LIST. Its RETR line announces the LIST
//!   size (`+OK 1234 octets`).
//! - **Courier** counts CRLF (`calcsize` in pop3dserver.c) and announces the size in its RETR line
//!   (`+OK 2237 octets follow.`). A client that has not sent `UTF8` gets, for a message with raw UTF-8 in its
//!   header, a "Cannot display Unicode content" notice wrapping the original, announced with a larger size
//!   (`+OK 2944 octets follow.` where LIST said 2237).
//! - **GNU mailutils** pop3d adds an `X-UIDL` field to a message without one when the UIDL is first computed
//!   (`mu_message_get_uidl`), in the in-memory header; LIST (`mu_message_size` + `mu_message_lines`, header
//!   included) and RETR both serialise that header, and popfetch always asks UIDL before LIST, so the two agree.
//!   Its RETR line is a bare `+OK`.
//!
//! So: fewer octets than LIST may be a truncation; a RETR line that announces a size other than LIST's says
//! the server is sending something else than the listed message; and more octets than LIST plus one per line
//! (plus a final CRLF a server may add) is growth no line-ending count explains. Any of these keeps the server
//! copy: it may be the only faithful one.

/// What a RETR says about the message it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RetrCheck {
    /// Consistent with LIST: deliver and delete as usual.
    Consistent,
    /// Deliver (nothing is lost either way) but never delete the server copy; the text says why.
    Keep(String),
}

/// Judge one retrieved message (`raw`: dot-unstuffed, before any normalisation) against its LIST size and the
/// size its RETR line announced, if any.
pub(crate) fn check(listed: u64, announced: Option<u64>, raw: &[u8]) -> RetrCheck {
    let line_ends = crate::bytes::count_lf(raw);
    check_counts(listed, announced, raw.len() as u64, line_ends)
}

/// [`check`] from counts a streamed RETR keeps while the message passes through (issue 11): `got` octets, of
/// which `line_ends` are LF, dot-unstuffed and before any normalisation.
pub(crate) fn check_counts(
    listed: u64,
    announced: Option<u64>,
    got: u64,
    line_ends: u64,
) -> RetrCheck {
    if got < listed {
        return RetrCheck::Keep(format!(
            "RETR gave {got} octets but LIST said {listed}: possibly truncated"
        ));
    }
    if let Some(a) = announced
        && a != listed
    {
        return RetrCheck::Keep(format!(
            "the server announced {a} octets for RETR but LIST said {listed}: it sent something other than the \
             listed message (Courier substitutes a notice for a message it will not serve as stored)"
        ));
    }
    // A server counting LF as one octet undercounts by one per line; one that adds a missing final CRLF by two.
    if got > listed.saturating_add(line_ends).saturating_add(2) {
        return RetrCheck::Keep(format!(
            "RETR gave {got} octets but LIST said {listed}, more than line-ending counting explains: the server \
             altered the message"
        ));
    }
    RetrCheck::Consistent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keeps(listed: u64, announced: Option<u64>, raw: &[u8]) -> bool {
        matches!(check(listed, announced, raw), RetrCheck::Keep(_))
    }

    #[test]
    fn p19_exact_and_lf_counting_sizes_are_consistent() {
        let m = b"Subject: a\r\n\r\nline\r\nline\r\n";
        let n = m.len() as u64;
        assert_eq!(check(n, Some(n), m), RetrCheck::Consistent);
        assert_eq!(check(n, None, m), RetrCheck::Consistent);
        // Dovecot with pop3_fast_size_lookups: LIST counts each LF as one octet, RETR announces the LIST size.
        assert_eq!(check(n - 4, Some(n - 4), m), RetrCheck::Consistent);
        // A server that appends the missing final CRLF.
        let bare = b"Subject: a\r\n\r\nno end";
        assert_eq!(
            check(bare.len() as u64, None, b"Subject: a\r\n\r\nno end\r\n"),
            RetrCheck::Consistent
        );
    }

    #[test]
    fn p19_shorter_than_list_is_kept() {
        let m = b"Subject: a\r\n\r\nbody\r\n";
        assert!(keeps(m.len() as u64 + 1, None, m));
        assert!(keeps(1000, Some(1000), m));
    }

    #[test]
    fn i18_courier_substitution_is_kept_by_its_announced_size() {
        // Courier without UTF8: LIST 2237, RETR "+OK 2944 octets follow." and a notice of about that size.
        let notice = vec![b'x'; 2944];
        assert!(keeps(2237, Some(2944), &notice));
        // Even when the notice happens to be short enough for the line-ending tolerance.
        let mut lines = b"a\r\n".repeat(800);
        lines.truncate(2300);
        assert!(keeps(2237, Some(2944), &lines));
    }

    #[test]
    fn i18_unexplained_growth_is_kept_without_an_announcement() {
        let m = b"Subject: a\r\n\r\nbody\r\n"; // 3 line endings
        let n = m.len() as u64;
        assert!(!keeps(n - 5, None, m));
        assert!(keeps(n - 6, None, m));
        // An added header line on a small message (an over-long RETR) is more than the tolerance.
        let grown = b"X-Added: by the server, not counted in LIST\r\nSubject: a\r\n\r\nbody\r\n";
        assert!(keeps(n, None, grown));
    }

    #[test]
    fn i18_mailutils_x_uidl_counted_in_list_is_consistent() {
        // GNU mailutils: the X-UIDL it adds is in the header LIST measures, and RETR says a bare "+OK".
        let m = b"X-UIDL: 9f2c3a.1700000000.1\nSubject: a\n\nbody\n";
        let on_wire = b"X-UIDL: 9f2c3a.1700000000.1\r\nSubject: a\r\n\r\nbody\r\n";
        assert_eq!(
            check((m.len() + 4) as u64, None, on_wire),
            RetrCheck::Consistent
        );
    }
}
