//! The one `Received` field popfetch prepends (RFC 5321 §4.4) and its RFC 5322 §3.3 date.
//!
//! Every interpolated value may come from a hostile POP3 server (the host name from DNS or config, the UID from
//! UIDL), so each is reduced to a safe token before it is written (catalog H-15): no CR/LF (header injection), no
//! 8-bit bytes, nothing that would end a comment, a bracketed id or the `;` before the date.

use std::net::IpAddr;

/// What the `Received` field says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInfo {
    /// The POP3 server's host name as configured.
    pub server_host: String,
    /// The POP3 server's address, when connected.
    pub server_ip: Option<IpAddr>,
    /// This host's name.
    pub by_host: String,
    /// TLS (implicit or STLS) protected the POP3 session.
    pub encrypted: bool,
    /// The message's UIDL.
    pub uid: String,
    /// The RCPT TO address.
    pub target: String,
    /// When the message was fetched.
    pub unix_time: i64,
}

/// Longest token kept; RFC 1939 §7 caps a UID at 70 octets and RFC 1035 a host name at 255.
const MAX_TOKEN: usize = 255;
/// RFC 5322 §2.1.1: lines SHOULD be at most 78 characters.
const FOLD_AT: usize = 78;

/// Printable ASCII minus the characters that are structure in a `Received` field; others become `_`.
fn sanitize(value: &str) -> String {
    let mut out: String = value
        .bytes()
        .take(MAX_TOKEN)
        .map(|b| {
            if b.is_ascii_graphic() && !b";()<>\\\"[]".contains(&b) {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

/// e.g. `Received: from pop.example.jp (pop.example.jp [192.0.2.7])\r\n\tby mx.example.org with POP3S (popfetch 0.1.0)\r\n\tid <UID> for <target>; Sun, 22 Nov 2026 21:00:00 +0000\r\n`
/// (`POP3` when not encrypted; version from env!("CARGO_PKG_VERSION")). Every interpolated value is sanitised:
/// anything outside printable ASCII, and `;` `(` `)` `<` `>` `\` `"` in hosts/uid, replaced (catalog H-15). Fold so no line exceeds 78 chars where possible, never 998.
///
/// Replacements are `_` (also for SP, `[` and `]`); an empty value becomes `unknown`; each value is cut at 255
/// octets, which keeps every line far below 998. An IPv6 address is written as `IPv6:` address-literal
/// (RFC 5321 §4.1.3). The `from`, `by` and `id` clauses each start a line; a line is folded further at a space
/// when it would pass 78 characters.
pub fn received_field(info: &ReceivedInfo) -> Vec<u8> {
    let host = sanitize(&info.server_host);
    let tcp_info = match info.server_ip {
        Some(IpAddr::V4(ip)) => format!("({host} [{ip}])"),
        Some(IpAddr::V6(ip)) => format!("({host} [IPv6:{ip}])"),
        None => format!("({host})"),
    };
    let protocol = if info.encrypted { "POP3S" } else { "POP3" };
    let clauses: [Vec<String>; 3] = [
        vec!["Received:".into(), "from".into(), host.clone(), tcp_info],
        vec![
            "by".into(),
            sanitize(&info.by_host),
            "with".into(),
            protocol.into(),
            format!("(popfetch {})", env!("CARGO_PKG_VERSION")),
        ],
        // No `for` clause without one target: a multidrop message to several recipients (RFC 5321 §4.4 names
        // one; naming them all would tell each recipient who else got it).
        if info.target.is_empty() {
            vec![
                "id".into(),
                format!("<{}>;", sanitize(&info.uid)),
                rfc5322_date(info.unix_time),
            ]
        } else {
            vec![
                "id".into(),
                format!("<{}>", sanitize(&info.uid)),
                "for".into(),
                format!("<{}>;", sanitize(&info.target)),
                rfc5322_date(info.unix_time),
            ]
        },
    ];
    let mut out = String::new();
    for (i, clause) in clauses.iter().enumerate() {
        let mut line_len = 0;
        if i > 0 {
            out.push_str("\r\n\t");
            line_len = 8; // a TAB counts as up to 8 columns on a terminal
        }
        for (j, token) in clause.iter().enumerate() {
            if j > 0 {
                if line_len + 1 + token.len() > FOLD_AT {
                    out.push_str("\r\n\t");
                    line_len = 8;
                } else {
                    out.push(' ');
                    line_len += 1;
                }
            }
            out.push_str(token);
            line_len += token.len();
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// RFC 5322 §3.3 date in UTC, e.g. "Sun, 22 Nov 2026 21:00:00 +0000" (own civil-from-days, no chrono).
///
/// The day of the month is not zero-padded (`1*2DIGIT`). Times outside years 1..=9999 are clamped into them, so
/// the year always has four digits as RFC 5322 §3.3 requires.
pub fn rfc5322_date(unix_time: i64) -> String {
    const MIN: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = unix_time.clamp(MIN, MAX);
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let weekday = DAYS[(days + 4).rem_euclid(7) as usize]; // 1970-01-01 was a Thursday
    let (year, month, day) = civil_from_days(days);
    format!(
        "{weekday}, {day} {} {year:04} {:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Proleptic Gregorian (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (H. Hinnant's algorithm:
/// eras of 400 years = 146 097 days, years starting in March so the leap day falls last).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_date_known_answers() {
        for (t, want) in [
            (0, "Thu, 1 Jan 1970 00:00:00 +0000"),
            (-1, "Wed, 31 Dec 1969 23:59:59 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (951_827_696, "Tue, 29 Feb 2000 12:34:56 +0000"),
            (951_868_800, "Wed, 1 Mar 2000 00:00:00 +0000"),
            (1_795_381_200, "Sun, 22 Nov 2026 21:00:00 +0000"),
            (4_107_542_400, "Mon, 1 Mar 2100 00:00:00 +0000"),
            (i64::MAX, "Fri, 31 Dec 9999 23:59:59 +0000"),
            (i64::MIN, "Mon, 1 Jan 0001 00:00:00 +0000"),
        ] {
            assert_eq!(rfc5322_date(t), want, "{t}");
        }
    }

    fn info() -> ReceivedInfo {
        ReceivedInfo {
            server_host: "pop.example.jp".into(),
            server_ip: Some("192.0.2.7".parse().unwrap()),
            by_host: "mx.example.org".into(),
            encrypted: true,
            uid: "UID".into(),
            target: "target".into(),
            unix_time: 1_795_381_200,
        }
    }

    #[test]
    fn received_field_known_answer() {
        let want = format!(
            "Received: from pop.example.jp (pop.example.jp [192.0.2.7])\r\n\tby mx.example.org with POP3S (popfetch {})\r\n\tid <UID> for <target>; Sun, 22 Nov 2026 21:00:00 +0000\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(String::from_utf8(received_field(&info())).unwrap(), want);
        let plain = ReceivedInfo {
            encrypted: false,
            server_ip: None,
            ..info()
        };
        let got = String::from_utf8(received_field(&plain)).unwrap();
        assert!(got.starts_with(
            "Received: from pop.example.jp (pop.example.jp)\r\n\tby mx.example.org with POP3 ("
        ));
        let v6 = ReceivedInfo {
            server_ip: Some("2001:db8::1".parse().unwrap()),
            ..info()
        };
        assert!(
            String::from_utf8(received_field(&v6))
                .unwrap()
                .contains("(pop.example.jp [IPv6:2001:db8::1])")
        );
    }

    /// Every line of a field: ≤ `max` octets, printable ASCII or TAB, continuation lines start with TAB.
    fn assert_well_formed(field: &[u8], max: usize) {
        let text = std::str::from_utf8(field).expect("ASCII");
        let body = text.strip_suffix("\r\n").expect("ends in CRLF");
        for (i, line) in body.split("\r\n").enumerate() {
            assert!(line.len() <= max, "line too long: {line:?}");
            assert!(
                line.bytes()
                    .all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t'),
                "{line:?}"
            );
            assert!(
                line.bytes().any(|b| b != b' ' && b != b'\t'),
                "blank line in {text:?}"
            );
            assert_eq!(i == 0, !line.starts_with('\t'), "{line:?}");
        }
    }

    #[test]
    fn h15_hostile_values_are_sanitised() {
        let hostile = ReceivedInfo {
            server_host: "evil.test\r\nX-Injected: yes; (a) <b> \\ \"c\" [d]\u{e9}\0".into(),
            server_ip: None,
            by_host: "by\nhost".into(),
            encrypted: false,
            uid: "<uid>;\r\nBcc: victim@x.test".into(),
            target: "t@x.test>\r\nX: y".into(),
            unix_time: 0,
        };
        let field = received_field(&hostile);
        assert_well_formed(&field, 78);
        let text = String::from_utf8(field).unwrap();
        assert_eq!(text.matches(';').count(), 1, "{text}");
        assert!(
            text.contains("from evil.test__X-Injected:_yes___a___b_____c___d___"),
            "{text}"
        );
        assert!(
            text.contains("id <_uid____Bcc:_victim@x.test> for <t@x.test___X:_y>;"),
            "{text}"
        );
        assert!(!text.contains('\0') && !text.contains('\u{e9}'));
    }

    #[test]
    fn h15_long_values_fold_and_stay_below_998() {
        let long = ReceivedInfo {
            server_host: "h".repeat(5000),
            uid: "u".repeat(5000),
            by_host: String::new(),
            ..info()
        };
        let field = received_field(&long);
        assert_well_formed(&field, 998);
        let text = String::from_utf8(field).unwrap();
        assert!(text.contains(&format!(
            "from\r\n\t{}\r\n\t({} [192.0.2.7])",
            "h".repeat(255),
            "h".repeat(255)
        )));
        assert!(text.contains("by unknown with POP3S"));
        // Moderately long values fold at spaces and keep every line within 78.
        let medium = ReceivedInfo {
            server_host: "m".repeat(40),
            uid: "u".repeat(60),
            ..info()
        };
        assert_well_formed(&received_field(&medium), 78);
    }
}
