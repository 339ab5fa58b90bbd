//! The metrics file: every account's status in the Prometheus text exposition format (version 0.0.4), as
//! node_exporter's textfile collector reads it. Pure rendering; [`super::record`] writes it atomically.
//!
//! Format rules kept here (exposition_formats.md, "Text format details"): one `# HELP` and one `# TYPE` line per
//! family, all samples of a family together, label values escaped (`\\`, `\"`, `\n`), HELP text escaped (`\\`,
//! `\n`), no timestamps (the collector stamps the scrape), counters end in `_total`.

use std::fmt::Write as _;

use super::file::{AccountStatus, RESULTS};
use super::health::stopped_by;

/// A metric family's name, type and help text.
struct Family<'a> {
    name: &'a str,
    kind: &'a str,
    help: &'a str,
}

/// One account's value in a family without extra labels (`None`: no sample for that account).
type PerAccount = fn(&AccountStatus) -> Option<u64>;

/// Render the metrics of `accounts` (in the given order).
pub fn render(accounts: &[&AccountStatus]) -> String {
    let mut out = String::new();
    let head = |out: &mut String, f: Family<'_>| {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
    };
    head(
        &mut out,
        Family {
            name: "popfetch_polls_total",
            kind: "counter",
            help: "Polls of the account, by result (ok, partial, interrupted, or the failure class).",
        },
    );
    for s in accounts {
        for result in RESULTS {
            let n = s.totals.polls.get(*result).copied().unwrap_or(0);
            sample(
                &mut out,
                "popfetch_polls_total",
                s,
                Some(("result", result)),
                n,
            );
        }
    }
    head(
        &mut out,
        Family {
            name: "popfetch_messages_total",
            kind: "counter",
            help: "Messages by outcome: delivered to the MTA, rejected by it, skipped as too big, deleted from the server.",
        },
    );
    for s in accounts {
        let t = &s.totals;
        for (outcome, n) in [
            ("delivered", t.delivered),
            ("rejected", t.rejected),
            ("skipped", t.skipped),
            ("deleted", t.deleted),
        ] {
            sample(
                &mut out,
                "popfetch_messages_total",
                s,
                Some(("outcome", outcome)),
                n,
            );
        }
    }
    let simple: [(Family<'_>, PerAccount); 6] = [
        (
            Family {
                name: "popfetch_bytes_total",
                kind: "counter",
                help: "Octets of the messages delivered to the MTA, as fetched.",
            },
            |s| Some(s.totals.bytes),
        ),
        (
            Family {
                name: "popfetch_last_success_timestamp_seconds",
                kind: "gauge",
                help: "When the last successful poll (result ok or partial) ended, in unix seconds.",
            },
            |s| s.last_success,
        ),
        (
            Family {
                name: "popfetch_consecutive_failures",
                kind: "gauge",
                help: "Failed polls since the last successful one.",
            },
            |s| Some(u64::from(s.consecutive_failures)),
        ),
        (
            Family {
                name: "popfetch_server_new_messages",
                kind: "gauge",
                help: "Messages on the server not yet delivered, at the last listing.",
            },
            |s| Some(s.server_new),
        ),
        (
            Family {
                name: "popfetch_account_stopped",
                kind: "gauge",
                help: "1 when the account is stopped by a failure that needs a human (exit 74, 77 or 78).",
            },
            |s| Some(u64::from(stopped_by(s).is_some())),
        ),
        (
            Family {
                name: "popfetch_oldest_held_timestamp_seconds",
                kind: "gauge",
                help: "When the longest-held message the MTA refuses for its sender for now was first held back, in unix seconds; no sample when none is.",
            },
            AccountStatus::oldest_held,
        ),
    ];
    for (family, value) in simple {
        let name = family.name;
        let samples: Vec<(&AccountStatus, u64)> = accounts
            .iter()
            .filter_map(|s| Some((*s, value(s)?)))
            .collect();
        // A family without samples is left out whole: parsers of the format reject a HELP and TYPE alone (no
        // account ever succeeded, or none holds a message back).
        if samples.is_empty() {
            continue;
        }
        head(&mut out, family);
        for (s, v) in samples {
            sample(&mut out, name, s, None, v);
        }
    }
    out
}

fn sample(
    out: &mut String,
    name: &str,
    s: &AccountStatus,
    label: Option<(&str, &str)>,
    value: u64,
) {
    let _ = write!(out, "{name}{{account=\"{}\"", escape_label(&s.account));
    if let Some((k, v)) = label {
        let _ = write!(out, ",{k}=\"{}\"", escape_label(v));
    }
    let _ = writeln!(out, "}} {value}");
}

/// A label value: backslash, double quote and line feed are escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        assert_eq!(escape_help("x\\y\nz\""), "x\\\\y\\nz\"");
    }

    /// The exposition format's three label escapes, undone.
    fn unescape(v: &str) -> String {
        let mut out = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            match (c, c == '\\') {
                (_, true) => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(e @ ('\\' | '"')) => out.push(e),
                    other => panic!("bad escape {other:?} in {v}"),
                },
                (c, false) => out.push(c),
            }
        }
        out
    }

    #[test]
    fn s17_the_oldest_held_message_is_a_timestamp_sample_only_while_one_is_held() {
        use crate::status::file::{holding, update};
        let polled = |prev, held: &[&str], at| update(prev, &holding(held), None, at);
        let line = |s: &AccountStatus| {
            render(&[s])
                .lines()
                .find(|l| l.starts_with("popfetch_oldest_held_timestamp_seconds{"))
                .map(str::to_owned)
        };
        let parses = |s: &AccountStatus| {
            let text = render(&[s]);
            prom_text_format_parser::Scrape::parse(&text)
                .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        };
        let s = polled(None, &[], 100);
        assert_eq!(line(&s), None);
        parses(&s);
        let s = polled(Some(s), &["u1"], 200);
        let s = polled(Some(s), &["u1", "u2"], 300);
        assert_eq!(
            line(&s).as_deref(),
            Some("popfetch_oldest_held_timestamp_seconds{account=\"isp\"} 200")
        );
        parses(&s);
        let s = polled(Some(s), &["u2"], 400);
        assert_eq!(
            line(&s).as_deref(),
            Some("popfetch_oldest_held_timestamp_seconds{account=\"isp\"} 300")
        );
        assert_eq!(line(&polled(Some(s), &[], 500)), None);
    }

    #[test]
    fn an_escaped_label_parses_back_to_the_name() {
        use crate::poller::Report;
        // Config names are restricted to A-Z a-z 0-9 . _ -, but the renderer must not depend on that.
        let odd = "we\"ird\\na\nme";
        let s = crate::status::file::update(None, &Report::new(odd), None, 1);
        let text = render(&[&s]);
        let scrape = prom_text_format_parser::Scrape::parse(&text)
            .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        for m in &scrape.metrics {
            for sample in &m.samples {
                // The parser checks the quoted-string grammar and hands the value back still escaped.
                let account = sample.labels.iter().find(|l| l.key == "account").unwrap();
                assert_eq!(unescape(&account.value), odd, "{}", m.name);
            }
        }
    }
}
