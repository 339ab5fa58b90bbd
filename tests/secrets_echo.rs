//! Catalog T-20 (issue 9, point 2): a server that echoes the account's secrets, raw or base64, in every position
//! where server bytes become text: a reply to USER/PASS that is not a status line, each AUTH step, `-ERR` text, a
//! RETR failure, the greeting and CAPA under `-vv`, the MTA's replies to MAIL, RCPT, DATA and end-of-DATA (which
//! land in the state journal and the status file), the dry run and `check --connect`. Each case asserts that
//! stdout, stderr and every file in the state directory hold no form of the secret, and that the echoed text was
//! shown with `[redacted]` in the secret's place (scrubbed, not dropped).

mod support;

use base64::Engine;
use md5::{Digest, Md5};
use support::run::toml_str;
use support::world::*;
use support::*;

const MARKER: &str = "[redacted]";

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The forms a server echoes: the password, its base64, and the AUTH PLAIN payload popfetch sends.
fn forms() -> [(&'static str, String); 3] {
    [
        ("raw", PASSWORD.to_owned()),
        ("base64", b64(PASSWORD.as_bytes())),
        (
            "plain payload",
            b64(format!("\0{USER}\0{PASSWORD}").as_bytes()),
        ),
    ]
}

/// Every file under `dir`, recursively.
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, bytes));
        }
    }
    out
}

/// Nothing secret anywhere (output: `world::run` checked it already; the state directory: here), and for each
/// `(place, echo)` a line in that place ("output", or a state file by extension: "state" the journal, "status") that holds both `echo` (the text
/// the server put before the secret) and the marker: the server's text was shown, scrubbed, not dropped.
fn assert_scrubbed(case: &str, w: &World, out: &Output, shown: &[(&str, &str)]) {
    let state = files(w.state.path());
    for (path, bytes) in &state {
        assert_no_secret(
            &format!("{case}: {}", path.display()),
            bytes,
            USER,
            PASSWORD,
        );
    }
    let has = |text: &str, echo: &str| {
        text.lines()
            .any(|l| l.contains(echo) && l[l.find(echo).unwrap()..].contains(MARKER))
    };
    for (place, echo) in shown {
        let found = match *place {
            "output" => has(&out.all(), echo),
            ext => state.iter().any(|(p, b)| {
                p.extension().is_some_and(|e| e == ext) && has(&String::from_utf8_lossy(b), echo)
            }),
        };
        assert!(
            found,
            "{case}: no {echo:?} with {MARKER} in {place}:\n{}\n{:?}",
            out.all(),
            state
                .iter()
                .map(|(p, b)| (
                    p.display().to_string(),
                    String::from_utf8_lossy(b).into_owned()
                ))
                .collect::<Vec<_>>()
        );
    }
}

/// Run `args` against a plaintext world changed by `f`, with the account changed by `acct`.
fn pop3_case(
    args: &[&str],
    f: impl FnOnce(&mut Pop3Behavior),
    acct: impl FnOnce(AccountCfg) -> AccountCfg,
) -> (World, Output) {
    let w = World::plain_with(msgs(1), f);
    let cfg = w.config(acct(w.account()));
    let out = run(&cfg.path, args);
    (w, out)
}

#[test]
fn t20_echo_in_replies_to_user_and_pass_is_scrubbed() {
    for (form, echo) in forms() {
        // Not a status line (the reply that used to print the password back), and `-ERR` text.
        for (what, script) in [
            (
                "PASS non-status",
                Some(Scripted::reply("PASS", format!("echo {echo}\r\n"))),
            ),
            (
                "USER non-status",
                Some(Scripted::reply("USER", format!("echo {echo}\r\n"))),
            ),
            ("PASS -ERR", None),
        ] {
            let case = format!("{what}, {form}");
            let (w, out) = pop3_case(
                &["run"],
                |b| match script {
                    Some(s) => b.script.push(s),
                    None => b.err_on_pass = Some(format!("-ERR [AUTH] echo {echo}")),
                },
                |a| a,
            );
            assert_ne!(out.code, 0, "{case}: {}", out.all());
            assert_scrubbed(&case, &w, &out, &[("output", "echo ")]);
        }
    }
}

#[test]
fn t20_echo_in_each_auth_plain_step_is_scrubbed() {
    for (form, echo) in forms() {
        for (what, reply) in [
            ("non-status", format!("echo {echo}\r\n")),
            ("continuation", format!("+ echo {echo}\r\n")),
            ("-ERR", format!("-ERR [AUTH] echo {echo}\r\n")),
        ] {
            let case = format!("AUTH PLAIN {what}, {form}");
            let (w, out) = pop3_case(
                &["-vv", "run"],
                |b| {
                    b.sasl_plain = true;
                    b.script.push(Scripted::reply("AUTH", reply));
                },
                |a| a.extra("auth", &toml_str("plain")),
            );
            assert_ne!(out.code, 0, "{case}: {}", out.all());
            assert_scrubbed(&case, &w, &out, &[("output", "echo ")]);
        }
    }
}

#[test]
fn t20_echo_of_the_apop_digest_is_scrubbed() {
    let ts = "<123.456@fake.test>";
    let digest: String = Md5::digest(format!("{ts}{PASSWORD}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for echo in [
        digest.clone(),
        digest.to_ascii_uppercase(),
        PASSWORD.to_owned(),
    ] {
        let (w, out) = pop3_case(
            &["-vv", "run"],
            |b| {
                b.apop = true;
                b.script
                    .push(Scripted::reply("APOP", format!("-ERR echo {echo}\r\n")));
            },
            |a| a.extra("auth", &toml_str("apop")),
        );
        assert_eq!(out.code, 77, "{}", out.all());
        assert!(
            !out.all().to_ascii_lowercase().contains(&digest),
            "{}",
            out.all()
        );
        assert_scrubbed("APOP -ERR", &w, &out, &[("output", "echo ")]);
    }
}

#[test]
fn t20_echo_in_the_greeting_and_capa_under_vv_is_scrubbed() {
    for (form, echo) in forms() {
        let (w, out) = pop3_case(
            &["-vv", "run"],
            |b| {
                b.greeting = format!("+OK echo {echo} <123.456@fake.test>");
                b.capa = Some(vec![
                    "USER".into(),
                    "UIDL".into(),
                    format!("IMPLEMENTATION capa {echo}"),
                ]);
            },
            |a| a,
        );
        assert_eq!(out.code, 0, "{form}: {}", out.all());
        assert_scrubbed(
            &format!("greeting and CAPA, {form}"),
            &w,
            &out,
            &[
                ("output", "pop3 S: +OK echo "),
                ("output", "pop3 S: IMPLEMENTATION capa "),
            ],
        );
    }
}

#[test]
fn t20_echo_in_a_retr_failure_is_scrubbed_in_a_run_and_a_dry_run() {
    for (form, echo) in forms() {
        for reply in [format!("-ERR echo {echo}\r\n"), format!("echo {echo}\r\n")] {
            for args in [&["-vv", "run"][..], &["run", "--dry-run"]] {
                let case = format!("RETR {reply:?} {args:?}, {form}");
                let (w, out) = pop3_case(
                    args,
                    |b| b.script.push(Scripted::reply("RETR 1", reply.clone())),
                    |a| a,
                );
                assert_ne!(out.code, 0, "{case}: {}", out.all());
                assert_scrubbed(&case, &w, &out, &[("output", "echo ")]);
            }
        }
    }
}

#[test]
fn t20_echo_in_check_connect_is_scrubbed() {
    for (form, echo) in forms() {
        let (w, out) = pop3_case(
            &["check", "--connect"],
            |b| b.err_on_pass = Some(format!("-ERR [AUTH] echo {echo}")),
            |a| a,
        );
        assert_eq!(out.code, 77, "{form}: {}", out.all());
        assert_scrubbed(
            &format!("check --connect, {form}"),
            &w,
            &out,
            &[("output", "echo ")],
        );
    }
}

/// Puts a reply into the MTA's behaviour.
type SetReply = fn(&mut SmtpBehavior, String);

/// A plaintext world whose MTA behaves as `b`.
fn mta_case(args: &[&str], b: SmtpBehavior) -> (World, Output) {
    let w = World {
        smtp: FakeSmtp::start(b),
        ..World::plain(msgs(1))
    };
    let cfg = w.default_config();
    let out = run(&cfg.path, args);
    (w, out)
}

#[test]
fn t20_echo_in_mta_refusals_is_scrubbed_in_the_log_the_journal_and_the_status_file() {
    for (form, echo) in forms() {
        let refusals: [(&str, SetReply); 4] = [
            ("MAIL", |b, r| b.mail_reply = Some(r)),
            ("RCPT", |b, r| {
                b.rcpt_replies.insert("alice@local.test".into(), r);
            }),
            ("DATA", |b, r| b.data_cmd_reply = Some(r)),
            ("end of DATA", |b, r| b.default_data_reply = r),
        ];
        for (phase, set) in refusals {
            let case = format!("554 to {phase}, {form}");
            let mut b = SmtpBehavior::default();
            set(&mut b, format!("554 5.7.1 echo {echo}"));
            let (w, out) = mta_case(&["run"], b);
            // Refused for this message only: journalled as rejected, exit 1.
            assert_eq!(out.code, 1, "{case}: {}", out.all());
            assert_scrubbed(
                &case,
                &w,
                &out,
                // The journal encodes a space as %20.
                &[
                    ("output", "echo "),
                    ("state", "echo%20"),
                    ("status", "echo "),
                ],
            );
        }
    }
}

#[test]
fn t20_echo_in_the_mta_greeting_and_a_temporary_refusal_is_scrubbed() {
    for (form, echo) in forms() {
        let b = SmtpBehavior {
            greeting: format!("220 fake.test echo {echo} ESMTP"),
            default_data_reply: format!("451 4.3.0 later {echo}"),
            ..SmtpBehavior::default()
        };
        let (w, out) = mta_case(&["-vv", "run"], b);
        assert_eq!(out.code, 75, "{form}: {}", out.all());
        assert_scrubbed(
            &format!("MTA greeting and 451, {form}"),
            &w,
            &out,
            &[
                ("output", "smtp S: 220 fake.test echo "),
                ("output", "later "),
            ],
        );
    }
}

#[test]
fn t20_echo_in_a_garbled_mta_reply_is_scrubbed() {
    for (form, echo) in forms() {
        let b = SmtpBehavior {
            mail_reply: Some(format!("echo {echo}")),
            ..SmtpBehavior::default()
        };
        let (w, out) = mta_case(&["-vv", "run"], b);
        assert_eq!(out.code, 75, "{form}: {}", out.all());
        assert_scrubbed(
            &format!("garbled reply to MAIL, {form}"),
            &w,
            &out,
            &[("output", "garbled reply to MAIL FROM: \"echo ")],
        );
    }
}
