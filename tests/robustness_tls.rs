//! Hostile certificate contents (catalog T-11, T-12): names with a NUL, control characters, 8-bit bytes and huge
//! lengths, in certificates issued by the trusted test CA so that only the names are wrong. The connection is
//! refused before any credential (77), and everything popfetch prints, at `-vv` too, is free of raw control bytes,
//! with the error line bounded.

mod support;

use support::pki::Leaf;
use support::world::*;
use support::*;

/// A world whose implicit-TLS server presents a certificate with SANs `sans` and common name `cn`, issued by the
/// CA the account trusts; the account connects to `localhost`.
fn against(sans: &[&str], cn: &str, args: &[&str]) -> (World, Output) {
    let mut w = World::tls(msgs(1));
    let leaf: Leaf = w.pki.issue_raw(sans, cn);
    w.pop = FakePop3::start(msgs(1), Pop3Behavior::implicit(leaf.server_config()));
    let mut acct = w.account();
    acct.host = "localhost".into();
    let cfg = w.config(acct);
    let out = run(&cfg.path, args);
    (w, out)
}

fn error_line(out: &Output) -> &str {
    out.stderr
        .lines()
        .find(|l| l.contains("tls handshake failed"))
        .unwrap_or_else(|| panic!("no TLS error line: {}", out.stderr.escape_debug()))
}

fn assert_refused_and_clean(w: &World, out: &Output, what: &str) {
    assert_eq!(out.code, 77, "{what}: {}", out.all().escape_debug());
    assert_no_credential_sent(&w.pop);
    assert!(w.smtp.transactions().is_empty());
    assert_eq!(w.pop.mailbox_uids(), ["uid-1"]);
    let all = out.all();
    for bad in ['\0', '\x07', '\x1b', '\r'] {
        assert!(
            !all.contains(bad),
            "{what}: raw {bad:?} in the output: {}",
            all.escape_debug()
        );
    }
    let line = error_line(out);
    assert!(
        line.len() <= 4096,
        "{what}: a {}-byte error line",
        line.len()
    );
}

#[test]
fn t11_nul_in_the_certificate_name_is_refused_and_escaped() {
    // Control: the same kind of certificate with a clean name is accepted, so the refusals below are the names'.
    let (w, out) = against(&["localhost"], "localhost", &["run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(w.pop.mailbox_uids(), Vec::<String>::new());
    for name in ["localhost\0.evil.test", "localhost\0"] {
        for args in [&["run"][..], &["run", "-vv"]] {
            let (w, out) = against(&[name], name, args);
            assert_refused_and_clean(&w, &out, &format!("{} {args:?}", name.escape_debug()));
            assert!(
                error_line(&out).contains("localhost\\x00"),
                "{}",
                error_line(&out)
            );
        }
    }
}

#[test]
fn t12_control_8bit_and_huge_certificate_names_give_bounded_escaped_errors() {
    let long = format!("{}.evil.test", "a".repeat(16 * 1024));
    // (SANs, CN, what the error line must show of them)
    let cases = [
        (
            vec!["evil\x1b[31m.test", "bell\x07.test", "cr\r\nlf.test"],
            "caf\u{e9}\x1b[0m\u{80}\u{ff}",
            "evil\\x1b[31m.test",
        ),
        (vec!["other.test"], "caf\u{e9}\u{7f}\u{9b}31m", "other.test"),
        (
            vec![long.as_str(), "b.evil.test"],
            "x",
            "more bytes], b.evil.test",
        ),
    ];
    for (sans, cn, shown) in cases {
        for args in [&["run"][..], &["run", "-v"], &["run", "-vv"]] {
            let (w, out) = against(&sans, cn, args);
            let what = format!(
                "{:?} {args:?}",
                sans.iter().map(|n| n.len()).collect::<Vec<_>>()
            );
            assert_refused_and_clean(&w, &out, &what);
            assert!(
                error_line(&out).contains(shown),
                "{what}: {}",
                error_line(&out)
            );
        }
    }
}
