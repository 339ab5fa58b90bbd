//! Table tests for the codec, named after test-catalog.md ids. Every body vector is also fed at every split point
//! and in chunks of 1..=N bytes (P-04).

use super::*;

const MAX: u64 = 16 << 20;

/// Feed `input` to a fresh decoder in the given chunk sizes, the way the client does (append, feed, drop what was
/// consumed). Returns the body and how many input bytes the body used, or `None` if it never completed.
fn decode_in_chunks(
    input: &[u8],
    sizes: &mut dyn Iterator<Item = usize>,
    lf: bool,
) -> Option<(Vec<u8>, usize)> {
    let mut d = BodyDecoder::new(MAX, lf);
    let mut buf: Vec<u8> = Vec::new();
    let mut given = 0;
    let mut used = 0;
    while given < input.len() {
        let n = sizes
            .next()
            .unwrap_or(input.len())
            .max(1)
            .min(input.len() - given);
        buf.extend_from_slice(&input[given..given + n]);
        given += n;
        let (c, done) = d.feed(&buf).expect("no error");
        used += c;
        buf.drain(..c);
        if done {
            return Some((d.into_body(), used));
        }
        assert!(buf.is_empty(), "an unfinished decoder consumes everything");
    }
    None
}

/// Check one vector whole, at every split point, and in every chunk size.
fn check_body(input: &[u8], want: Option<(&[u8], usize)>, lf: bool) {
    let want = want.map(|(b, n)| (b.to_vec(), n));
    let whole = parse_multiline(input, MAX, lf).unwrap();
    assert_eq!(
        whole,
        want,
        "whole input {:?}",
        String::from_utf8_lossy(input)
    );
    for split in 0..=input.len() {
        let mut sizes = [split, input.len()].into_iter();
        assert_eq!(
            decode_in_chunks(input, &mut sizes, lf),
            want,
            "split at {split}"
        );
    }
    for size in 1..=input.len().max(1) {
        let mut sizes = std::iter::repeat(size);
        assert_eq!(
            decode_in_chunks(input, &mut sizes, lf),
            want,
            "chunk size {size}"
        );
    }
}

#[test]
fn p01_dot_unstuffing() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"..\r\n.\r\n", b".\r\n"),
        (b"...x\r\n.\r\n", b"..x\r\n"),
        (b"..x\r\n.\r\n", b".x\r\n"),
        (b".. \r\n.\r\n", b". \r\n"),
        (b"a.b.\r\n..\r\nc..\r\n.\r\n", b"a.b.\r\n.\r\nc..\r\n"),
        (
            b"Subject: x\r\n\r\n..\r\n...\r\nend\r\n.\r\n",
            b"Subject: x\r\n\r\n.\r\n..\r\nend\r\n",
        ),
    ];
    for (input, want) in cases {
        check_body(input, Some((want, input.len())), false);
    }
}

#[test]
fn p02_only_dot_crlf_terminates() {
    // Content lines that merely start with a dot lose that dot and do not terminate.
    check_body(
        b". \r\n.\t\r\n.x\r\n.\r\n",
        Some((b" \r\n\t\r\nx\r\n", 15)),
        false,
    );
    // `.` CR X: stuffing, the CR stays.
    check_body(b".\rx\r\n.\r\n", Some((b"\rx\r\n", 8)), false);
    // CRLF mode: a bare-LF `.` line is content, so the reply is not over yet.
    check_body(b"a\r\n.\nb\r\n", None, false);
    check_body(b"a\r\n.\nb\r\n.\r\n", Some((b"a\r\n\nb\r\n", 11)), false);
    // `.` CR then silence: incomplete, never a terminator.
    check_body(b"a\r\n.\r", None, false);
    // A bare LF inside a CRLF-mode line does not start a new line: `\n.\r\n` ends nothing.
    check_body(b"a\n.\r\n", None, false);
}

#[test]
fn p02_bare_lf_server_terminator_in_lf_mode() {
    check_body(b"a\n..b\n.\n", Some((b"a\n.b\n", 8)), true);
    check_body(b"a\r\n.\r\n", Some((b"a\r\n", 6)), true);
    check_body(b".\n", Some((b"", 2)), true);
}

#[test]
fn p03_bytes_after_the_terminator_are_left_unconsumed() {
    // The last content line keeps its CRLF; anything after the terminator is the caller's (P-05 check).
    check_body(
        b"text.\r\n.\r\n+OK extra\r\n",
        Some((b"text.\r\n", 10)),
        false,
    );
    // Missing final CRLF on the last line: `text.\r\n` is content and no terminator has been seen.
    check_body(b"text\r\n.", None, false);
}

#[test]
fn p04_split_inside_terminator_and_crlf() {
    let input = b"line one\r\n..two\r\n\r\n.\r\n";
    check_body(
        input,
        Some((b"line one\r\n.two\r\n\r\n", input.len())),
        false,
    );
}

#[test]
fn p04_status_line_split_anywhere() {
    let line = b"+OK [SYS/TEMP] later\r\n";
    for split in 0..line.len() {
        let mut buf = line[..split].to_vec();
        let mut from = 0;
        assert_eq!(
            find_line_end(&buf, from, 512).unwrap(),
            None,
            "split {split}"
        );
        from = buf.len();
        buf.extend_from_slice(&line[split..]);
        assert_eq!(find_line_end(&buf, from, 512).unwrap(), Some(line.len()));
    }
    let (st, used) = parse_status_line(line, 512).unwrap().unwrap();
    assert_eq!(used, line.len());
    assert!(st.ok && !st.bare_lf);
    assert_eq!(st.code, Some(RespCode::SysTemp));
}

#[test]
fn p24_empty_body_and_empty_listings() {
    check_body(b".\r\n", Some((b"", 3)), false);
    assert_eq!(parse_uidl(b"", 512).unwrap(), vec![]);
    assert_eq!(parse_list(b"", 512).unwrap(), vec![]);
    assert_eq!(
        parse_capabilities(b"", 512).unwrap(),
        Capabilities::default()
    );
}

#[test]
fn p22_p23_eight_bit_and_nul_bytes_pass_unchanged() {
    let input = b"Subject: caf\xe9\r\n\r\n\xff\xfe\x00\r\n\x00.\r\n.\r\n";
    check_body(
        input,
        Some((
            b"Subject: caf\xe9\r\n\r\n\xff\xfe\x00\r\n\x00.\r\n",
            input.len(),
        )),
        false,
    );
}

#[test]
fn p19_body_length_counts_crlf_after_unstuffing() {
    let (body, _) = parse_multiline(b"ab\r\n..\r\n.\r\n", MAX, false)
        .unwrap()
        .unwrap();
    assert_eq!(body.len(), 7);
}

#[test]
fn body_over_the_limit_is_an_error_not_a_truncation() {
    let mut d = BodyDecoder::new(10, false);
    assert_eq!(
        d.feed(b"0123456789\r\n"),
        Err(CodecError::TooLarge { limit: 10 })
    );
    let mut d = BodyDecoder::new(12, false);
    assert_eq!(d.feed(b"0123456789\r\n.\r\n"), Ok((15, true)));
    // A single endless line is caught too, without waiting for its end.
    let mut d = BodyDecoder::new(1000, false);
    assert!(d.feed(&[b'x'; 600]).is_ok());
    assert_eq!(
        d.feed(&[b'x'; 600]),
        Err(CodecError::TooLarge { limit: 1000 })
    );
}

#[test]
fn body_decoding_is_linear_on_large_input() {
    // 8 MiB in 4 KiB reads: a rescanning decoder would do ~8 GB of work here.
    let line = b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n";
    let mut input = Vec::new();
    while input.len() < 8 << 20 {
        input.extend_from_slice(line);
    }
    let body_len = input.len();
    input.extend_from_slice(b".\r\n");
    let start = std::time::Instant::now();
    let mut sizes = std::iter::repeat(4096);
    let (body, used) = decode_in_chunks(&input, &mut sizes, false).unwrap();
    assert_eq!((body.len(), used), (body_len, input.len()));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn p08_status_indicators() {
    let good: &[(&[u8], bool, &[u8])] = &[
        (b"-ERR\r\n", false, b""),
        (b"-ERR  x\r\n", false, b" x"),
        (b"+OK\r\n", true, b""),
        (b"+OK   \r\n", true, b"  "),
        (b"-err x\r\n", false, b"x"),
        (b"+ok\r\n", true, b""),
        (b"+OK 2 messages\r\n", true, b"2 messages"),
    ];
    for (line, ok, text) in good {
        let st = parse_status(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!((st.ok, st.text.as_slice()), (*ok, *text), "{line:?}");
    }
    for bad in [
        &b"+OKAY\r\n"[..],
        b"-ERRx\r\n",
        b"* OK IMAP ready\r\n",
        b"\r\n",
        b"+OK\tx\r\n",
        b"\x16\x03\x01\r\n",
    ] {
        assert!(
            matches!(parse_status(bad), Err(CodecError::BadStatus { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn bare_lf_status_line_is_accepted_and_noted() {
    let (st, used) = parse_status_line(b"+OK hi\nrest", 512).unwrap().unwrap();
    assert!(st.ok && st.bare_lf);
    assert_eq!((st.text.as_slice(), used), (&b"hi"[..], 7));
}

#[test]
fn p06_overlong_status_line() {
    assert_eq!(
        parse_status_line(&[b'+'; 600], 512),
        Err(CodecError::LineTooLong { limit: 512 })
    );
    assert_eq!(parse_status_line(&[b'+'; 100], 512), Ok(None));
    // Exactly at the bound with its LF: fine.
    let mut line = b"+OK ".to_vec();
    line.resize(510, b'a');
    line.extend_from_slice(b"\r\n");
    assert!(parse_status_line(&line, 512).unwrap().is_some());
    // A 64 KiB CAPA or UIDL line is refused.
    let long = [b'A'; 70_000];
    assert!(matches!(
        parse_capabilities(&long, 65_536),
        Err(CodecError::LineTooLong { .. })
    ));
    let mut uidl = b"1 ".to_vec();
    uidl.extend_from_slice(&long);
    assert!(matches!(
        parse_uidl(&uidl, 65_536),
        Err(CodecError::LineTooLong { .. })
    ));
}

#[test]
fn p09_p11_response_codes() {
    let cases: &[(&[u8], Option<RespCode>)] = &[
        (b"-ERR [IN-USE] locked\r\n", Some(RespCode::InUse)),
        (b"-ERR [in-use] locked\r\n", Some(RespCode::InUse)),
        (b"-ERR [IN-USE/FOO] locked\r\n", Some(RespCode::InUse)),
        (b"-ERR [LOGIN-DELAY] wait\r\n", Some(RespCode::LoginDelay)),
        (b"-ERR [SYS/TEMP] try later\r\n", Some(RespCode::SysTemp)),
        (b"-ERR [sys/perm/disk] gone\r\n", Some(RespCode::SysPerm)),
        (b"-ERR [AUTH] bad password\r\n", Some(RespCode::Auth)),
        (
            b"-ERR [XYZZY] what\r\n",
            Some(RespCode::Other("XYZZY".into())),
        ),
        (b"-ERR [SYS] what\r\n", Some(RespCode::Other("SYS".into()))),
        (b"-ERR locked [IN-USE]\r\n", None),
        (b"-ERR [IN-USE locked\r\n", None),
        (b"-ERR []\r\n", None),
        (b"-ERR\r\n", None),
    ];
    for (line, want) in cases {
        assert_eq!(&parse_status(line).unwrap().code, want, "{line:?}");
    }
}

#[test]
fn auth_continuation_lines() {
    assert_eq!(
        parse_auth_line(b"+ \r\n", 512).unwrap(),
        Some((AuthLine::Continue(vec![]), 4))
    );
    assert_eq!(
        parse_auth_line(b"+\r\n", 512).unwrap(),
        Some((AuthLine::Continue(vec![]), 3))
    );
    assert_eq!(
        parse_auth_line(b"+ YWJj\r\n", 512).unwrap(),
        Some((AuthLine::Continue(b"YWJj".to_vec()), 8))
    );
    let Some((AuthLine::Status(st), _)) = parse_auth_line(b"+OK welcome\r\n", 512).unwrap() else {
        panic!()
    };
    assert!(st.ok);
    assert!(parse_auth_line(b"+x\r\n", 512).is_err());
    assert_eq!(parse_auth_line(b"+ YW", 512).unwrap(), None);
}

#[test]
fn p13_capabilities_are_parsed_tolerantly() {
    let body = b"CAPA\r\nTOP\r\nuser\r\nSASL PLAIN scram-sha-1-plus SCRAM-SHA-256\r\nEXPIRE 30 USER\r\n\
LOGIN-DELAY 900 USER\r\nRESP-CODES\r\nPIPELINING\r\nIMPLEMENTATION \x1b[31mevil\r\nUIDL\r\n\r\n  \r\nSTLS\r\n";
    let caps = parse_capabilities(body, 512).unwrap();
    assert!(caps.top && caps.user && caps.uidl && caps.pipelining && caps.resp_codes && caps.stls);
    assert_eq!(caps.sasl, ["PLAIN", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256"]);
    assert_eq!(caps.login_delay, Some(900));
    assert!(!caps.expire_zero, "EXPIRE 30 USER keeps mail 30 days");
    // Raw lines: the client shows them through `crate::untrusted` (escaped and scrubbed).
    assert!(caps.raw.iter().any(|l| l == b"IMPLEMENTATION \x1b[31mevil"));
    // A minimal list: nothing assumed.
    let caps = parse_capabilities(b"UIDL\r\n", 512).unwrap();
    assert!(caps.uidl && !caps.stls && !caps.user && !caps.pipelining && caps.sasl.is_empty());
    assert!(!caps.utf8 && caps.login_delay.is_none());
    for (line, delay) in [
        (&b"LOGIN-DELAY 0\r\n"[..], Some(0)),
        (b"login-delay 60", Some(60)),
        (b"LOGIN-DELAY", None),
        (b"LOGIN-DELAY -5 USER", None),
        (b"LOGIN-DELAY 99999999999999999999999", None),
    ] {
        assert_eq!(
            parse_capabilities(line, 512).unwrap().login_delay,
            delay,
            "{line:?}"
        );
    }
    for (line, zero) in [
        (&b"EXPIRE 0\r\n"[..], true),
        (b"expire 0 USER", true),
        (b"EXPIRE NEVER", false),
        (b"EXPIRE 00", true),
        (b"EXPIRE 1", false),
        (b"EXPIRE", false),
    ] {
        assert_eq!(
            parse_capabilities(line, 512).unwrap().expire_zero,
            zero,
            "{line:?}"
        );
    }
    // RFC 6856 §2, with and without its USER argument, any case.
    for line in [&b"UTF8\r\n"[..], b"UTF8 USER\r\n", b"utf8 user\r\n"] {
        assert!(parse_capabilities(line, 512).unwrap().utf8, "{line:?}");
    }
    assert!(!parse_capabilities(b"UTF8X\r\n", 512).unwrap().utf8);
}

#[test]
fn i18_retr_announced_octets() {
    assert_eq!(announced_octets(b"2237 octets follow."), Some(2237));
    assert_eq!(announced_octets(b"120 octets"), Some(120));
    assert_eq!(announced_octets(b"0 OCTETS"), Some(0));
    for none in [
        &b""[..],
        b"message follows",
        b"120",
        b"120 bytes",
        b"-1 octets",
        b"12a octets",
        b"99999999999999999999 octets",
    ] {
        assert_eq!(announced_octets(none), None, "{none:?}");
    }
}

#[test]
fn p15_malformed_uidl_listings_are_rejected_whole() {
    let bad: &[&[u8]] = &[
        b"1\r\n",
        b"1 abc extra\r\n",
        b"0 abc\r\n",
        b"-1 abc\r\n",
        b"abc def\r\n",
        b"+1 abc\r\n",
        b"4294967296 abc\r\n",
        b"1 abc\r\n\r\n2 def\r\n",
        b" 1 abc\r\n",
    ];
    for body in bad {
        assert!(
            matches!(parse_uidl(body, 512), Err(CodecError::BadListing { .. })),
            "{body:?}"
        );
    }
    assert_eq!(
        parse_uidl(b"1 a\r\n1 b\r\n", 512),
        Err(CodecError::DuplicateMsgNumber { n: 1 })
    );
    // Unsorted but valid is fine and keeps server order.
    assert_eq!(
        parse_uidl(b"3 c\r\n1 a\r\n", 512).unwrap(),
        vec![(3, "c".into()), (1, "a".into())]
    );
    // Trailing blanks are tolerated; bare-LF listings too.
    assert_eq!(
        parse_uidl(b"1 a \r\n2 b\n", 512).unwrap(),
        vec![(1, "a".into()), (2, "b".into())]
    );
}

#[test]
fn p16_uid_length_and_bytes() {
    for len in [1usize, 70, 71, 512] {
        let uid = "u".repeat(len);
        let body = format!("1 {uid}\r\n");
        assert_eq!(
            parse_uidl(body.as_bytes(), 1024).unwrap(),
            vec![(1, uid)],
            "len {len}"
        );
    }
    let body = format!("1 {}\r\n", "u".repeat(513));
    assert!(matches!(
        parse_uidl(body.as_bytes(), 1024),
        Err(CodecError::BadListing { .. })
    ));
    for bad in [
        &b"1 a\tb\r\n"[..],
        b"1 a\x7fb\r\n",
        b"1 a\x80\r\n",
        b"1 a\x00b\r\n",
        b"1 \xff\r\n",
    ] {
        assert!(
            matches!(parse_uidl(bad, 512), Err(CodecError::BadListing { .. })),
            "{bad:?}"
        );
    }
    // Characters that matter to other encodings are fine here; the state file escapes them.
    let odd = "\"\\/,#=";
    assert_eq!(
        parse_uidl(format!("1 {odd}\r\n").as_bytes(), 512).unwrap(),
        vec![(1, odd.into())]
    );
    // Two UIDs equal in their first 70 bytes stay distinct.
    let (a, b) = (
        format!("{}A", "x".repeat(70)),
        format!("{}B", "x".repeat(70)),
    );
    let got = parse_uidl(format!("1 {a}\r\n2 {b}\r\n").as_bytes(), 512).unwrap();
    assert_eq!(got, vec![(1, a), (2, b)]);
}

#[test]
fn p17_shared_uids_are_returned_as_listed() {
    // The poller sets them apart (src/poller/mailbox.rs); the listing itself is well-formed.
    assert_eq!(
        parse_uidl(b"1 same\r\n2 other\r\n3 same\r\n", 512).unwrap(),
        vec![(1, "same".into()), (2, "other".into()), (3, "same".into())]
    );
}

#[test]
fn list_listing() {
    assert_eq!(
        parse_list(b"1 120\r\n2 18446744073709551615\r\n", 512).unwrap(),
        vec![(1, 120), (2, u64::MAX)]
    );
    // RFC 1939 §5 allows information after the size.
    assert_eq!(
        parse_list(b"1 120 extra info\r\n", 512).unwrap(),
        vec![(1, 120)]
    );
    for bad in [
        &b"1\r\n"[..],
        b"1 -5\r\n",
        b"1 12a\r\n",
        b"0 5\r\n",
        b"1 18446744073709551616\r\n",
    ] {
        assert!(
            matches!(parse_list(bad, 512), Err(CodecError::BadListing { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(
        parse_list(b"2 1\r\n2 1\r\n", 512),
        Err(CodecError::DuplicateMsgNumber { n: 2 })
    );
}

#[test]
fn t19_apop_timestamp_shape() {
    assert_eq!(
        apop_timestamp(b"POP3 ready <1896.697170952@dbc.mtview.ca.us>").as_deref(),
        Some("<1896.697170952@dbc.mtview.ca.us>")
    );
    let long = format!("<{}@x>", "a".repeat(260));
    let ok = format!("<{}@x>", "a".repeat(240));
    let bad: &[&[u8]] = &[
        b"POP3 ready",
        b"ready <no-at-sign>",
        b"ready <@x>",
        b"ready <a@>",
        b"ready <a b@x>",
        b"ready <a\xe9@x>",
        b"ready <a\x01@x>",
        b"ready <a@x",
        b"ready <>",
        long.as_bytes(),
    ];
    for g in bad {
        assert_eq!(apop_timestamp(g), None, "{:?}", String::from_utf8_lossy(g));
    }
    assert_eq!(apop_timestamp(ok.as_bytes()), Some(ok.clone()));
}

#[test]
fn p32_bad_status_keeps_the_raw_line_and_does_not_print_it() {
    let Err(e @ CodecError::BadStatus { .. }) = parse_status(b"\x1b[2J* OK \xff\r\n") else {
        panic!()
    };
    // The client shows the line, escaped and scrubbed (pop3::Pop3Error::NotStatus); the codec never does.
    assert_eq!(e.to_string(), "not a pop3 status line");
    assert_eq!(
        e,
        CodecError::BadStatus {
            line: b"\x1b[2J* OK \xff".to_vec()
        }
    );
}
