//! Table tests for the header pipeline, named after test-catalog.md case ids.

use super::scan::{self, LineEnds};
use super::*;

const TARGET: &str = "joe@example.test";
const RECEIVED: &[u8] = b"Received: from pop.test (pop.test [192.0.2.7])\r\n\tby mx.test with POP3S; Thu, 1 Jan 1970 00:00:00 +0000\r\n";

fn rules(drop: DropDeliveredTo) -> Rules {
    Rules {
        target: TARGET.into(),
        drop,
        strip: Vec::new(),
        recipients: Vec::new(),
        received: None,
    }
}

fn filter(input: &[u8]) -> Vec<u8> {
    apply(input, &rules(DropDeliveredTo::Matching)).message
}

/// `input` loses exactly the fields in `removed` (given as they appear in `input`).
fn assert_removes(input: &[u8], removed: &[&[u8]]) {
    let mut want = input.to_vec();
    for r in removed {
        let at = want
            .windows(r.len())
            .position(|w| w == *r)
            .expect("removed field is in input");
        want.drain(at..at + r.len());
    }
    let got = apply(input, &rules(DropDeliveredTo::Matching));
    assert_eq!(
        got.message.escape_ascii().to_string(),
        want.escape_ascii().to_string()
    );
    let raws: Vec<&[u8]> = got
        .edits
        .iter()
        .filter_map(|e| match e {
            Edit::RemovedDeliveredTo { raw, .. } => Some(raw.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(raws, removed);
}

#[test]
fn h02_field_name_and_address_case() {
    for field in [
        "delivered-to: joe@example.test\r\n",
        "DELIVERED-TO: joe@example.test\r\n",
        "DeLiVeReD-To: joe@example.test\r\n",
        "Delivered-To: JOE@EXAMPLE.TEST\r\n",
        "Delivered-To: Joe@Example.Test\r\n",
    ] {
        let msg = format!("From: a@b.test\r\n{field}Subject: x\r\n\r\nbody\r\n");
        assert_removes(msg.as_bytes(), &[field.as_bytes()]);
    }
    // A target configured in mixed case matches too.
    let r = Rules {
        target: "Joe@EXAMPLE.test".into(),
        ..rules(DropDeliveredTo::Matching)
    };
    assert_eq!(
        apply(b"Delivered-To: joe@example.test\r\n\r\n", &r).message,
        b"\r\n"
    );
}

#[test]
fn h03_value_forms() {
    for value in [
        "<joe@example.test>",
        "joe@example.test   ",
        "\tjoe@example.test",
        "joe@example.test (comment)",
        "\"joe\"@example.test",
        "joe@example.test.",
        "  <joe@example.test> (x (y)) ",
    ] {
        let field = format!("Delivered-To: {value}\r\n");
        let msg = format!("Subject: x\r\n{field}\r\nbody");
        assert_removes(msg.as_bytes(), &[field.as_bytes()]);
    }
}

#[test]
fn h04_folded_field_removed_with_its_continuations() {
    for field in [
        "Delivered-To:\r\n joe@example.test\r\n",
        "Delivered-To: joe@\r\n example.test\r\n",
        "Delivered-To:\r\n\t<joe@example.test>\r\n (c)\r\n",
    ] {
        let msg = format!("Subject: x\r\n{field}X-After: y\r\n folded\r\n\r\nbody\r\n");
        assert_removes(msg.as_bytes(), &[field.as_bytes()]);
        assert_eq!(
            header_block_end(msg.as_bytes()),
            msg.find("\r\n\r\n").unwrap() + 4
        );
    }
}

#[test]
fn h05_several_fields_only_target_removed_in_order() {
    let msg = b"Delivered-To: list@example.test\r\nDelivered-To: joe@example.test\r\nReceived: x\r\nDelivered-To: <JOE@example.test>\r\nDelivered-To: other@example.test\r\n\r\nb";
    assert_removes(
        msg,
        &[
            b"Delivered-To: joe@example.test\r\n",
            b"Delivered-To: <JOE@example.test>\r\n",
        ],
    );
    assert_eq!(
        filter(msg),
        b"Delivered-To: list@example.test\r\nReceived: x\r\nDelivered-To: other@example.test\r\n\r\nb"
    );
}

#[test]
fn h06_near_misses_stay() {
    let msg = b"Delivered-To: joe@example.test.evil\r\nDelivered-To: xjoe@example.test\r\nDelivered-To: joe@example.tes\r\nX-Delivered-To: joe@example.test\r\nDelivered-To-Original: joe@example.test\r\nOriginal-Delivered-To: joe@example.test\r\nDelivered-To: \"joe x\"@example.test\r\nDelivered-To:\r\nDelivered-To: (joe@example.test)\r\n\r\n";
    assert_removes(msg, &[]);
}

#[test]
fn h07_whitespace_before_colon() {
    for field in [
        "Delivered-To : joe@example.test\r\n",
        "Delivered-To\t: joe@example.test\r\n",
        "Delivered-To \t :joe@example.test\r\n",
    ] {
        let msg = format!("Subject: x\r\n{field}\r\n");
        assert_removes(msg.as_bytes(), &[field.as_bytes()]);
    }
}

#[test]
fn h08_outside_header_section_stays() {
    for msg in [
        "Subject: x\r\n\r\nDelivered-To: joe@example.test\r\n",
        "Content-Type: message/rfc822\r\n\r\nDelivered-To: joe@example.test\r\nSubject: inner\r\n\r\nx\r\n",
        "Subject: x\r\nthis line is no field\r\nDelivered-To: joe@example.test\r\n\r\n",
        "Subject: x\r\n: empty name\r\nDelivered-To: joe@example.test\r\n",
        "Subject: x\r\n\r\n\r\nDelivered-To: joe@example.test\r\n",
    ] {
        assert_removes(msg.as_bytes(), &[]);
    }
}

#[test]
fn h09_whitespace_only_line_folds() {
    // Postfix treats ` \r\n` as folding, so the next line is still a header it checks.
    let msg = b"Subject: x\r\n \r\nDelivered-To: joe@example.test\r\n\t\r\nX: y\r\n\r\nbody";
    assert_removes(msg, &[b"Delivered-To: joe@example.test\r\n\t\r\n"]);
    assert_eq!(header_block_end(msg), msg.len() - 4);
}

#[test]
fn h10_no_separator() {
    for msg in [
        &b"Subject: x\r\nDelivered-To: joe@example.test\r\n"[..],
        b"Subject: x\r\nDelivered-To: joe@example.test",
    ] {
        assert_eq!(header_block_end(msg), msg.len());
        let r = Rules {
            received: Some(RECEIVED.to_vec()),
            ..rules(DropDeliveredTo::Matching)
        };
        let out = apply(msg, &r);
        assert_eq!(out.message, [RECEIVED, b"Subject: x\r\n"].concat());
        assert_eq!(out.edits.len(), 2);
    }
}

#[test]
fn h11_headerless_messages_keep_everything() {
    let r = Rules {
        received: Some(RECEIVED.to_vec()),
        ..rules(DropDeliveredTo::Matching)
    };
    for msg in [
        &b"Hello world\r\nDelivered-To: joe@example.test\r\n"[..],
        b"\r\nDelivered-To: joe@example.test\r\n",
        // mbox separator: a space inside the name, so not a field; Postfix ends the header section here too.
        b"From sender@x.test Tue Nov 22 21:00:00 2026\r\nDelivered-To: joe@example.test\r\n\r\nbody\r\n",
        b":x\r\nDelivered-To: joe@example.test\r\n",
    ] {
        let out = apply(msg, &r);
        assert_eq!(out.message, [RECEIVED, msg].concat());
        assert_eq!(out.edits, vec![Edit::AddedReceived { raw: RECEIVED.to_vec() }]);
        assert!(header_block_end(msg) <= 2);
    }
    assert_eq!(header_block_end(b"Hello world\r\nX: y\r\n\r\n"), 0);
}

#[test]
fn h11_leading_continuation_line_folds_into_received() {
    // Without a Received field the first line ends the section (as in Postfix); with one prepended, the line folds
    // into it and Postfix will read the Delivered-To after it as a header, so it must be filtered.
    let msg = b" leading\r\nDelivered-To: joe@example.test\r\n\r\n";
    assert_eq!(header_block_end(msg), 0);
    assert_removes(msg, &[]);
    let r = Rules {
        received: Some(RECEIVED.to_vec()),
        ..rules(DropDeliveredTo::Matching)
    };
    assert_eq!(
        apply(msg, &r).message,
        [RECEIVED, b" leading\r\n\r\n"].concat()
    );
}

#[test]
fn h12_empty_and_tiny_messages() {
    let r = Rules {
        received: Some(RECEIVED.to_vec()),
        ..rules(DropDeliveredTo::Matching)
    };
    for (msg, want) in [
        (&b""[..], &b""[..]),
        (b"x", b"x"),
        (b"\r\n", b"\r\n"),
        (b"\n", b"\r\n"),
        (b"\r", b"\r\n"),
    ] {
        assert_eq!(apply(msg, &r).message, [RECEIVED, want].concat());
        assert_eq!(apply(msg, &rules(DropDeliveredTo::All)).message, want);
    }
    assert_eq!(header_block_end(b""), 0);
    assert_eq!(header_block_end(b"\r\n"), 2);
    assert_eq!(header_block_end(b"x"), 0);
    assert_eq!(return_path(b""), ReturnPath::Absent);
}

#[test]
fn h13_huge_header_sections_are_linear() {
    let mut msg = Vec::with_capacity(12 << 20);
    for i in 0..200_000 {
        msg.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(20)).as_bytes());
    }
    for i in 0..10_000 {
        let addr = if i % 2 == 0 {
            TARGET.to_owned()
        } else {
            format!("other{i}@example.test")
        };
        msg.extend_from_slice(format!("Delivered-To: {addr}\r\n").as_bytes());
    }
    msg.extend_from_slice(b"X-Big: ");
    msg.extend(std::iter::repeat_n(b'b', 5 << 20));
    msg.extend_from_slice(b"\r\n\r\nbody\r\n");
    let start = std::time::Instant::now();
    let out = apply(&msg, &rules(DropDeliveredTo::Matching));
    let elapsed = start.elapsed();
    let removed = out.edits.len();
    assert_eq!(removed, 5_000);
    assert_eq!(
        out.message.len(),
        msg.len() - 5_000 * format!("Delivered-To: {TARGET}\r\n").len()
    );
    // Linear work is well under a second even unoptimised; a quadratic scan would take minutes.
    assert!(elapsed.as_secs() < 10, "{elapsed:?}");
    assert_eq!(header_block_end(&msg), msg.len() - 6);
}

#[test]
fn h14_eight_bit_and_nul_bytes_survive() {
    let msg: &[u8] = b"Subject: \x93\xfa\x96\x7b\x8c\xea (Shift_JIS)\r\nX-Latin1: caf\xe9\r\nX-Bad-UTF8: \xc3\x28 \xff\xfe\x00 nul\r\n =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=\r\nDelivered-To: joe@example.test\r\nDelivered-To: \xff@example.test\r\n\r\n\x82\xa0\x00\xff body\r\n";
    assert_removes(msg, &[b"Delivered-To: joe@example.test\r\n"]);
    let all = apply(msg, &rules(DropDeliveredTo::All));
    assert_eq!(all.edits.len(), 2);
    assert!(
        matches!(&all.edits[1], Edit::RemovedDeliveredTo { address, .. } if address == "\\xff@example.test")
    );
}

/// A realistic message: DKIM, multipart with base64 and quoted-printable soft breaks, trailing whitespace, a
/// `From ` body line, no final CRLF.
fn h16_parts() -> (String, String, String) {
    let before = "Return-Path: <sender@example.org>\r\nDelivered-To: list@example.test\r\n";
    let removed = "Delivered-To: <joe@example.test>\r\n";
    let after = concat!(
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;\r\n\th=from:to:subject;\r\n\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=abc\r\n",
        "From: Sender <sender@example.org>  \r\n",
        "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n",
        "MIME-Version: 1.0\r\n",
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
        "\r\n",
        "--b1\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "\r\n",
        "A long line that is softly=\r\n broken, caf=C3=A9 =\r\n",
        "From the body, not a header \t\r\n",
        "Delivered-To: joe@example.test\r\n",
        "--b1\r\n",
        "Content-Type: application/octet-stream\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "\r\n",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1\r\n",
        "Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWpr\r\n",
        "--b1--",
    );
    (before.into(), removed.into(), after.into())
}

#[test]
fn h16_golden_multipart_is_byte_exact() {
    let (before, removed, after) = h16_parts();
    let r = Rules {
        received: Some(RECEIVED.to_vec()),
        ..rules(DropDeliveredTo::Matching)
    };
    let crlf = format!("{before}{removed}{after}");
    let out = apply(crlf.as_bytes(), &r);
    assert_eq!(
        out.message,
        [RECEIVED, before.as_bytes(), after.as_bytes()].concat()
    );
    // The same message with LF line ends comes out as the CRLF one.
    let lf = crlf.replace("\r\n", "\n");
    let out_lf = apply(lf.as_bytes(), &r);
    assert_eq!(out_lf.message, out.message);
    let lines = crlf.matches("\r\n").count();
    assert_eq!(
        out_lf.edits[0],
        Edit::NormalizedLineEndings {
            bare_lf: lines,
            bare_cr: 0
        }
    );
}

#[test]
fn h18_lf_only_source() {
    let msg = b"Return-Path: <a@b.test>\nDelivered-To: joe@example.test\nDelivered-To:\n joe@example.test\nSubject: lf\n\nbody\n";
    let out = filter(msg);
    assert_eq!(
        out,
        b"Return-Path: <a@b.test>\r\nSubject: lf\r\n\r\nbody\r\n"
    );
    assert_eq!(return_path(msg), ReturnPath::Address("a@b.test".into()));
    assert_eq!(header_block_end(msg), msg.len() - 5);
    // Old-Mac CR-only works the same way.
    assert_eq!(
        filter(b"Delivered-To: joe@example.test\rX: y\r\rb"),
        b"X: y\r\n\r\nb"
    );
}

#[test]
fn s11_smuggling_payloads_become_crlf_lines() {
    let tail = "MAIL FROM:<spoof@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\n";
    for payload in [
        "\n.\n",
        "\n.\r\n",
        "\r.\r",
        "\r\n.\n",
        "\r\n.\r",
        "\r\n.\r\r\n",
    ] {
        let msg = format!("Subject: x\r\n\r\nbody{payload}{tail}");
        let out = filter(msg.as_bytes());
        assert_no_bare_line_ends(&out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        let dot = lines
            .iter()
            .position(|l| *l == ".")
            .expect("the dot is a line of its own");
        assert_eq!(lines[dot - 1], "body", "{payload:?}");
        assert!(
            lines[dot + 1] == "MAIL FROM:<spoof@x.test>" || lines[dot + 1].is_empty(),
            "{payload:?}"
        );
    }
}

pub(crate) fn assert_no_bare_line_ends(msg: &[u8]) {
    for (i, &b) in msg.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(msg.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && msg[i - 1] == b'\r', "bare LF at {i}"),
            _ => {}
        }
    }
}

#[test]
fn s16_return_path_injection_is_invalid() {
    for value in [
        &b"<a@b.test>\nRCPT TO:<x@evil.test>"[..],
        b"<a@b.test>\r\n RCPT TO:<x@evil.test>",
        b"<a@b.test> SIZE=1 AUTH=<admin@local>",
        b"<a@b.test>\0",
        b"<a@b.test>\rX",
        b"<a@b.test>>",
        b"<a@b.test\r\n>",
        b"<a\0@b.test>",
        b"<a b@c.test>",
        b"a@b.test RCPT TO:<x@evil.test>",
        b"<a@b.test",
        b"",
        b" (just a comment)",
    ] {
        let msg = [b"Return-Path: ", value, b"\r\nSubject: x\r\n\r\nbody\r\n"].concat();
        assert_eq!(
            return_path(&msg),
            ReturnPath::Invalid,
            "{}",
            value.escape_ascii()
        );
    }
}

#[test]
fn s17_return_path_shapes() {
    let rp = |m: &[u8]| return_path(m);
    let addr = |a: &str| ReturnPath::Address(a.into());
    assert_eq!(
        rp(b"Subject: x\r\n\r\nReturn-Path: <a@b.test>\r\n"),
        ReturnPath::Absent
    );
    assert_eq!(
        rp(b"Hello\r\nReturn-Path: <a@b.test>\r\n"),
        ReturnPath::Absent
    );
    assert_eq!(
        rp(b"Return-Path: <first@b.test>\r\nReturn-Path: <second@b.test>\r\n\r\n"),
        addr("first@b.test")
    );
    assert_eq!(
        rp(b"Received: x\r\nreturn-path : <a@b.test>\r\n\r\n"),
        addr("a@b.test")
    );
    assert_eq!(rp(b"Return-Path: <>\r\n\r\n"), ReturnPath::Null);
    assert_eq!(rp(b"Return-Path: < > (bounce)\r\n\r\n"), ReturnPath::Null);
    assert_eq!(
        rp(b"Return-Path: <>\r\nReturn-Path: <a@b.test>\r\n\r\n"),
        ReturnPath::Null
    );
    assert_eq!(rp(b"Return-Path: a@b.test\r\n\r\n"), addr("a@b.test"));
    assert_eq!(
        rp(b"Return-Path: <A@B.test> (the sender)\r\n\r\n"),
        addr("A@B.test")
    );
    assert_eq!(rp(b"Return-Path:\r\n <a@b.test>\r\n\r\n"), addr("a@b.test"));
    assert_eq!(
        rp(b"Return-Path: <@a.test,@b.test:u@d.test>\r\n\r\n"),
        addr("u@d.test")
    );
    assert_eq!(
        rp(b"Return-Path: <\"a.b\"@d.test>\r\n\r\n"),
        addr("\"a.b\"@d.test")
    );
    assert_eq!(
        rp(b"Return-Path: <u@[192.0.2.1]>\r\n\r\n"),
        addr("u@[192.0.2.1]")
    );
    // Not SMTP-safe without SMTPUTF8 / SP: the fallback sender is used.
    assert_eq!(
        rp(b"Return-Path: <\"a b\"@d.test>\r\n\r\n"),
        ReturnPath::Invalid
    );
    assert_eq!(
        rp("Return-Path: <jö@d.test>\r\n\r\n".as_bytes()),
        ReturnPath::Invalid
    );
}

#[test]
fn drop_modes_strip_list_and_reasons() {
    let msg = b"Delivered-To: joe@example.test\r\nDelivered-To: List@Example.test\r\nDelivered-To: other@example.test\r\nDelivered-To: (nothing)\r\n\r\n";
    let strip = Rules {
        strip: vec!["list@example.TEST".into()],
        recipients: Vec::new(),
        ..rules(DropDeliveredTo::Matching)
    };
    let out = apply(msg, &strip);
    assert_eq!(
        out.message,
        b"Delivered-To: other@example.test\r\nDelivered-To: (nothing)\r\n\r\n"
    );
    let reasons: Vec<String> = out
        .edits
        .iter()
        .map(|e| match e {
            Edit::RemovedDeliveredTo {
                address, reason, ..
            } => format!("{address}: {reason}"),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "joe@example.test: equals target joe@example.test",
            "list@example.test: listed in strip_delivered_to list@example.TEST"
        ]
    );
    let all = apply(msg, &rules(DropDeliveredTo::All));
    assert_eq!(all.message, b"\r\n");
    assert_eq!(all.edits.len(), 4);
    assert!(
        matches!(&all.edits[3], Edit::RemovedDeliveredTo { address, reason: RemovalReason::DropAll, .. } if address == "(nothing)")
    );
    assert_eq!(
        RemovalReason::DropAll.to_string(),
        "drop_delivered_to = \"all\""
    );
    let none = apply(msg, &rules(DropDeliveredTo::None));
    assert_eq!((none.message.as_slice(), none.edits.len()), (&msg[..], 0));
}

#[test]
fn edits_are_listed_in_pipeline_order() {
    let r = Rules {
        received: Some(RECEIVED.to_vec()),
        ..rules(DropDeliveredTo::Matching)
    };
    let out = apply(b"Delivered-To: joe@example.test\n\nbody\r", &r);
    assert_eq!(out.message, [RECEIVED, b"\r\nbody\r\n"].concat());
    assert_eq!(
        out.edits,
        vec![
            Edit::NormalizedLineEndings {
                bare_lf: 2,
                bare_cr: 1
            },
            Edit::RemovedDeliveredTo {
                raw: b"Delivered-To: joe@example.test\r\n".to_vec(),
                address: TARGET.into(),
                reason: RemovalReason::EqualsTarget(TARGET.into()),
            },
            Edit::AddedReceived {
                raw: RECEIVED.to_vec()
            },
        ]
    );
}

#[test]
fn normalize_line_endings_counts() {
    let (out, lf, cr) = normalize_line_endings(b"a\r\nb\nc\rd\r\r\ne\n\r");
    assert_eq!(
        (out.as_ref(), lf, cr),
        (&b"a\r\nb\r\nc\r\nd\r\ne\r\n\r\n"[..], 2, 3)
    );
    // Issue 18: a run of CRs directly before a LF is one line end; CRs anywhere else end a line each.
    for (raw, want, cr) in [
        (&b"a\r\r\nb\r\r\r\n"[..], &b"a\r\nb\r\n"[..], 2),
        (b"a\r\rb", b"a\r\n\r\nb", 2),
        (b"a\r\r\r", b"a\r\n\r\n\r\n", 3),
        (b"\r\r\n\r\n", b"\r\n\r\n", 1),
        (b"a\r \r\n", b"a\r\n \r\n", 1),
    ] {
        let (out, lf, got_cr) = normalize_line_endings(raw);
        assert_eq!(
            (out.escape_ascii().to_string(), lf, got_cr),
            (want.escape_ascii().to_string(), 0, cr),
            "{}",
            raw.escape_ascii()
        );
    }
    let (out, lf, cr) = normalize_line_endings(b"clean\r\n");
    assert!(matches!(out, std::borrow::Cow::Borrowed(_)));
    assert_eq!((lf, cr), (0, 0));
}

/// Our field ranges agree with mail-parser's exact offsets wherever mail-parser reads headers as Postfix does
/// (well-formed sections without non-field lines or whitespace-only lines).
#[test]
fn field_ranges_agree_with_mail_parser() {
    let (before, removed, after) = h16_parts();
    let golden = format!("{before}{removed}{after}");
    for msg in [
        golden.as_str(),
        "Delivered-To : joe@example.test\r\nSubject: a\r\n b\r\n\tc\r\nX-Empty:\r\nTo: x\r\n\r\nbody",
        "A: 1\r\nB: 2\r\n",
    ] {
        let msg = msg.as_bytes();
        let ours: Vec<(usize, usize)> = scan::scan(msg, LineEnds::Any, false)
            .fields
            .iter()
            .map(|f| (f.start, f.end))
            .collect();
        let parsed = mail_parser::MessageParser::new()
            .parse_headers(msg)
            .expect("parses");
        let theirs: Vec<(usize, usize)> = parsed
            .headers()
            .iter()
            .map(|h| (h.offset_field as usize, h.offset_end as usize))
            .collect();
        assert_eq!(ours, theirs, "{}", msg.escape_ascii());
    }
}
