//! Issue 17: the status file each poll of `popfetch run` leaves in `state_dir`, `popfetch status` (text, `--json`,
//! `-q`, the health exit code, staleness with the clock passed in) and the Prometheus metrics file, parsed back
//! with an independent parser of the text exposition format (`prom_text_format_parser`). The daemon's side
//! (its schedule in the status, an interrupted poll, `status` while it runs) is in `tests/daemon/status.rs`.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::world::*;
use support::*;

/// The account's status file as JSON.
fn status_file(w: &World) -> Value {
    let text = std::fs::read_to_string(w.state.path().join("isp.status")).expect("status file");
    serde_json::from_str(&text).expect("status JSON")
}

/// The status file's `waiting` list without its dates, once each entry is checked to be dated `since`.
fn undated(s: &Value, since: u64) -> Value {
    let mut list = s["waiting"].clone();
    for w in list.as_array_mut().expect("waiting list") {
        let w = w.as_object_mut().expect("waiting entry");
        assert_eq!(
            w.remove("since").and_then(|t| t.as_u64()),
            Some(since),
            "{s}"
        );
    }
    list
}

/// `popfetch status --json`, its exit code and document.
fn status_json(cfg: &Path) -> (i32, Value) {
    let out = run(cfg, &["status", "--json"]);
    let doc = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.all()));
    (out.code, doc)
}

#[test]
fn status_after_a_successful_poll_counts_what_was_delivered() {
    let w = World::plain(msgs(2));
    let cfg = w.default_config();
    let before = popfetch::status::now();
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let s = status_file(&w);
    assert_eq!(s["version"], 1);
    assert_eq!(s["account"], "isp");
    let last = &s["last_poll"];
    assert_eq!(last["result"], "ok");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(
        last["message"],
        "2 new, 2 delivered, 0 rejected, 0 skipped, 2 deleted"
    );
    let bytes: u64 = (1..=2).map(|n| mail(n).len() as u64).sum();
    assert_eq!(last["bytes"], bytes);
    assert!(last["at"].as_u64().unwrap() >= before);
    assert_eq!(s["last_success"], last["at"]);
    assert_eq!(s["consecutive_failures"], 0);
    assert_eq!(s["server_new"], 2);
    assert_eq!(s["schedule"], Value::Null, "a run has no schedule");
    assert_eq!(s["totals"]["delivered"], 2);
    assert_eq!(s["totals"]["deleted"], 2);
    assert_eq!(s["totals"]["polls"]["ok"], 1);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(w.state.path().join("isp.status"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // A second poll with nothing new adds to the totals and keeps the 24-hour counts.
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let s = status_file(&w);
    assert_eq!(s["last_poll"]["message"], "no new mail");
    assert_eq!(s["totals"]["polls"]["ok"], 2);
    assert_eq!(s["server_new"], 0);

    let (code, doc) = status_json(&cfg.path);
    assert_eq!(code, 0);
    assert_eq!(doc["healthy"], true);
    let a = &doc["accounts"][0];
    assert_eq!(a["account"], "isp");
    assert_eq!(a["problem"], Value::Null);
    assert_eq!(a["stale_after"], 3600, "3 × 300 s, at least an hour");
    assert_eq!(a["delivered_24h"]["messages"], 2);
    assert_eq!(a["delivered_24h"]["bytes"], bytes);
    assert_eq!(a["status"]["totals"]["delivered"], 2);

    let out = run(&cfg.path, &["status"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        lines[0].starts_with("ACCOUNT  HEALTH  LAST POLL"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("isp      ok      "), "{}", lines[1]);
    assert!(lines[1].contains("ok (0)"), "{}", lines[1]);
    assert!(lines[1].ends_with("no new mail"), "{}", lines[1]);
    // The columns line up: RESULT starts at the same offset in both lines.
    assert_eq!(lines[0].find("RESULT"), lines[1].find("ok (0)"));
    let quiet = run(&cfg.path, &["-q", "status"]);
    assert_eq!((quiet.code, quiet.stdout.as_str()), (0, ""));
}

/// Run once against a world prepared by `setup`, with `args`; the status file afterwards.
fn failed_poll(
    expected: i32,
    prepare: impl FnOnce(&mut Pop3Behavior),
    setup: impl FnOnce(&World),
    args: &[&str],
) -> (World, TestConfig, Value) {
    let w = World::plain_with(msgs(1), prepare);
    setup(&w);
    let cfg = w.default_config();
    let out = run(&cfg.path, args);
    assert_eq!(out.code, expected, "{}", out.all());
    let s = status_file(&w);
    (w, cfg, s)
}

/// A way to make a poll fail: (exit, result name, needs attention at once, server behaviour, world setup,
/// arguments, words of the message).
type FailCase = (
    i32,
    &'static str,
    bool,
    Box<dyn FnOnce(&mut Pop3Behavior)>,
    Box<dyn FnOnce(&World)>,
    &'static [&'static str],
    &'static str,
);

#[test]
fn status_after_a_failed_poll_of_each_exit_class() {
    let cases: Vec<FailCase> = vec![
        (
            75,
            "tempfail",
            false,
            Box::new(|b| b.greeting = "-ERR [SYS/TEMP] overloaded".into()),
            Box::new(|_| {}),
            &["run"],
            "overloaded",
        ),
        (
            69,
            "unavailable",
            false,
            Box::new(|b| b.greeting = "-ERR [SYS/PERM] this server is closed".into()),
            Box::new(|_| {}),
            &["run"],
            "closed",
        ),
        (
            76,
            "protocol",
            false,
            Box::new(|b| b.greeting_raw = Some(b"* OK IMAP4rev1 ready\r\n".to_vec())),
            Box::new(|_| {}),
            &["run"],
            "IMAP",
        ),
        (
            77,
            "security",
            true,
            Box::new(|b| b.err_on_pass = Some("-ERR [AUTH] invalid credentials".into())),
            Box::new(|_| {}),
            &["run"],
            "invalid credentials",
        ),
        (
            74,
            "state",
            true,
            Box::new(|_| {}),
            Box::new(|w: &World| std::fs::write(w.state_file(), "garbage\n").unwrap()),
            &["run"],
            "corrupt",
        ),
        (
            78,
            "config",
            true,
            Box::new(|_| {}),
            Box::new(|_| {}),
            &["run", "--mark-seen"],
            "keep",
        ),
    ];
    for (code, result, attention, prepare, setup, args, words) in cases {
        let (w, cfg, s) = failed_poll(code, prepare, setup, args);
        let last = &s["last_poll"];
        assert_eq!(last["result"], result, "{code}: {s}");
        assert_eq!(last["exit_code"], code, "{s}");
        let message = last["message"].as_str().unwrap();
        assert!(message.contains(words), "{code}: {message}");
        assert!(!message.contains(PASSWORD), "{code}: secret in {message}");
        assert_eq!(s["consecutive_failures"], 1, "{code}");
        assert_eq!(s["last_success"], Value::Null, "{code}");
        assert_eq!(s["totals"]["polls"][result], 1, "{code}");

        let (status_code, doc) = status_json(&cfg.path);
        let a = &doc["accounts"][0];
        if attention {
            assert_eq!(status_code, 1, "{code}: {doc}");
            assert_eq!(doc["healthy"], false);
            let problem = a["problem"].as_str().unwrap();
            assert!(
                problem.starts_with("stopped: ") && problem.contains(&format!("(exit {code})")),
                "{code}: {problem}"
            );
            let quiet = run(&cfg.path, &["-q", "status"]);
            assert_eq!(quiet.code, 1);
            assert_eq!(quiet.stdout, format!("account \"isp\": {problem}\n"));
            let table = run(&cfg.path, &["status"]);
            assert!(
                table.stdout.lines().nth(1).unwrap().contains("ATTENTION"),
                "{}",
                table.stdout
            );
        } else {
            // A temporary failure is not a problem until the account goes stale.
            assert_eq!(status_code, 0, "{code}: {doc}");
            assert_eq!(a["healthy"], true);
        }
        drop(w);
    }
}

#[test]
fn status_after_a_partial_poll_lists_what_waits_on_the_server() {
    let w = World::plain_with(msgs(3), |b| {
        b.list_sizes.insert("uid-3".into(), 2_000_000);
    });
    w.smtp
        .update(|b| b.data_replies = HashMap::from([(1, "554 5.7.1 spam refused".to_owned())]));
    let cfg = w.config(w.account().extra("max_message_size", "1000000"));
    assert_eq!(run(&cfg.path, &["run"]).code, 1);
    let s = status_file(&w);
    assert_eq!(s["last_poll"]["result"], "partial");
    assert_eq!(
        s["last_success"], s["last_poll"]["at"],
        "partial is a success"
    );
    assert_eq!(s["server_new"], 3);
    assert_eq!(
        undated(&s, s["last_poll"]["at"].as_u64().unwrap()),
        serde_json::json!([
            {"uid": "uid-3", "reason": "too_big", "size": 2_000_000, "limit": 1_000_000},
            {"uid": "uid-2", "reason": "rejected", "code": 554, "text": "5.7.1 spam refused"},
        ])
    );
    // The next poll still sees both waiting (the rejection from the state file).
    assert_eq!(run(&cfg.path, &["run"]).code, 1);
    let s = status_file(&w);
    assert_eq!(s["waiting"].as_array().unwrap().len(), 2, "{s}");
    assert_eq!(s["server_new"], 2);
    let out = run(&cfg.path, &["status"]);
    assert_eq!(out.code, 0, "waiting messages are not a health problem");
    assert!(
        out.stdout.contains(
            "1 rejected by the MTA, waiting (\"uid-2\"; popfetch run --retry-rejected tries again); \
             1 too big, waiting (\"uid-3\"; raise max_message_size or the MTA's limit)"
        ),
        "{}",
        out.stdout
    );
}

/// Catalog S-17: a message the MTA refuses for its sender for now waits on the server and is listed as such.
#[test]
fn status_lists_a_message_held_back_for_its_sender() {
    let w = World::plain(msgs(2));
    let reply = "450 4.1.8 <sender2@remote.test>: Sender address rejected: Domain not found";
    w.smtp.update(|b| {
        b.rcpt_replies_by_sender =
            HashMap::from([("sender2@remote.test".to_owned(), reply.to_owned())])
    });
    let cfg = w.default_config();
    assert_eq!(run(&cfg.path, &["run"]).code, 1);
    let s = status_file(&w);
    assert_eq!(s["last_poll"]["result"], "partial");
    let first = s["last_poll"]["at"].as_u64().unwrap();
    assert_eq!(
        undated(&s, first),
        serde_json::json!([{"uid": "uid-2", "reason": "deferred", "code": 450, "text": &reply[4..]}])
    );
    let out = run(&cfg.path, &["status"]);
    assert_eq!(out.code, 0, "not a health problem: {}", out.all());
    assert!(
        out.stdout.contains(" held back for the sender for ")
            && out.stdout.contains(
                "s, tried again each poll (\"uid-2\"; the MTA refuses the sender for now: see the log)"
            ),
        "{}",
        out.stdout
    );

    // Six days on (the file's date moved back), held all along: the account needs attention. The next poll,
    // still refused, keeps the message's first date.
    let path = w.state.path().join("isp.status");
    let mut s = status_file(&w);
    let six_days_ago = first - 6 * 86_400;
    s["waiting"][0]["since"] = six_days_ago.into();
    std::fs::write(&path, s.to_string()).unwrap();
    assert_eq!(run(&cfg.path, &["run"]).code, 1);
    assert_eq!(
        undated(&status_file(&w), six_days_ago)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let out = run(&cfg.path, &["status"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains(
            "uid \"uid-2\" held back for its sender for 6d (over 5d), the MTA still answers 450 4.1.8 \
             <sender2@remote.test>: Sender address rejected: Domain not found: fix the MTA's sender check, or \
             delete the message on the server"
        ),
        "{}",
        out.stdout
    );

    // Delivered at last: healthy, nothing waits.
    w.smtp.set_behavior(SmtpBehavior::default());
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    assert_eq!(status_file(&w)["waiting"], serde_json::json!([]));
    assert_eq!(run(&cfg.path, &["status"]).code, 0);
}

#[test]
fn a_run_that_found_the_account_locked_leaves_the_status_alone() {
    let w = World::plain(msgs(1));
    let cfg = w.default_config();
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let before = std::fs::read(w.state.path().join("isp.status")).unwrap();
    let lock = std::fs::File::open(w.state.path().join("isp.lock")).unwrap();
    lock.try_lock().unwrap();
    assert_eq!(run(&cfg.path, &["run"]).code, 75);
    assert_eq!(
        std::fs::read(w.state.path().join("isp.status")).unwrap(),
        before
    );
    drop(lock);
}

#[test]
fn a_dry_run_writes_no_status() {
    let w = World::plain(msgs(1));
    let cfg = w.default_config();
    assert_eq!(run(&cfg.path, &["run", "--dry-run"]).code, 0);
    assert!(!w.state.path().join("isp.status").exists());
    let (code, doc) = status_json(&cfg.path);
    assert_eq!(code, 1, "never polled needs attention");
    assert!(
        doc["accounts"][0]["problem"]
            .as_str()
            .unwrap()
            .starts_with("never polled")
    );
}

#[test]
fn stale_account_needs_attention_with_the_clock_passed_in() {
    let w = World::plain(msgs(1));
    let cfg = w.config(w.account().extra("interval", "3600"));
    assert_eq!(run(&cfg.path, &["run"]).code, 0);
    let config = popfetch::config::load(&cfg.path).unwrap();
    let at = status_file(&w)["last_success"].as_u64().unwrap();
    // Default stale_after: three intervals of an hour.
    let health = |now| popfetch::status::overview(&config, now).remove(0).health;
    assert_eq!(health(at + 3 * 3600), popfetch::status::Health::Healthy);
    let popfetch::status::Health::Attention(why) = health(at + 3 * 3600 + 1) else {
        panic!("not stale")
    };
    assert_eq!(
        why,
        "no successful poll for 3h 1s (stale_after 3h); last: 1 new, 1 delivered, 0 rejected, 0 skipped, 1 deleted"
    );
    // Failing polls do not refresh it; the configured stale_after replaces the default.
    w.pop
        .update(|b| b.greeting = "-ERR [SYS/TEMP] overloaded".into());
    assert_eq!(run(&cfg.path, &["run"]).code, 75);
    let cfg = w.config(w.account().extra("interval", "3600"));
    let text = std::fs::read_to_string(&cfg.path).unwrap();
    std::fs::write(&cfg.path, format!("stale_after = 600\n{text}")).unwrap();
    let config = popfetch::config::load(&cfg.path).unwrap();
    let entry = popfetch::status::overview(&config, at + 601).remove(0);
    assert_eq!(entry.stale_after, Duration::from_secs(600));
    assert!(
        matches!(&entry.health, popfetch::status::Health::Attention(w) if w.contains("(stale_after 10m); last: ")),
        "{:?}",
        entry.health
    );
}

#[test]
fn metrics_file_parses_as_the_prometheus_text_format() {
    use prom_text_format_parser::{Scrape, Type};
    let w = World::plain(msgs(2));
    let dead = FakePop3::start(Vec::new(), Pop3Behavior::plain());
    dead.update(|b| b.err_on_pass = Some("-ERR [AUTH] no".into()));
    let metrics = w.state.path().join("node-exporter/popfetch.prom");
    std::fs::create_dir(metrics.parent().unwrap()).unwrap();
    // Label escaping (names cannot hold `"` or `\\`) is tested in src/status/metrics.rs.
    let other = "work.mail_2-x";
    let cfg = ConfigBuilder::new(w.smtp.port(), w.state.path())
        .top("metrics_file", &format!("{:?}", metrics.to_str().unwrap()))
        .account(w.account())
        .account(AccountCfg::new(other, dead.port(), "none"))
        .write();
    assert_eq!(run(&cfg.path, &["run"]).code, 77);
    w.pop.add_messages(vec![Msg::new("uid-9", mail(9))]);
    assert_eq!(run(&cfg.path, &["run", "--account", "isp"]).code, 0);

    let text = std::fs::read_to_string(&metrics).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&metrics).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o644, "node_exporter must read it");
    let leftovers: Vec<_> = std::fs::read_dir(metrics.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["popfetch.prom"], "no temp file left");
    let scrape = Scrape::parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));

    let mut families = HashMap::new();
    for m in &scrape.metrics {
        assert!(
            families.insert(m.name.clone(), m).is_none(),
            "family {} twice",
            m.name
        );
        assert!(m.help_desc.is_some(), "{} has no HELP", m.name);
    }
    let kinds = [
        ("popfetch_polls_total", Type::Counter),
        ("popfetch_messages_total", Type::Counter),
        ("popfetch_bytes_total", Type::Counter),
        ("popfetch_last_success_timestamp_seconds", Type::Gauge),
        ("popfetch_consecutive_failures", Type::Gauge),
        ("popfetch_server_new_messages", Type::Gauge),
        ("popfetch_account_stopped", Type::Gauge),
    ];
    assert_eq!(families.len(), kinds.len(), "{text}");
    // The value of a family's sample with these labels.
    let value = |family: &str, labels: &[(&str, &str)]| -> Option<f64> {
        families[family]
            .samples
            .iter()
            .find(|s| {
                let got: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|l| (l.key.clone(), l.value.clone()))
                    .collect();
                got.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| got.contains(&(k.to_string(), v.to_string())))
            })
            .map(|s| s.value.value.as_f64())
    };
    for (name, kind) in kinds {
        assert_eq!(families[name].kind, kind, "{name}");
    }
    let isp = ("account", "isp");
    let other_acct = ("account", other);
    assert_eq!(
        value("popfetch_polls_total", &[isp, ("result", "ok")]),
        Some(2.0)
    );
    assert_eq!(
        value("popfetch_polls_total", &[isp, ("result", "tempfail")]),
        Some(0.0)
    );
    assert_eq!(
        value(
            "popfetch_polls_total",
            &[other_acct, ("result", "security")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("popfetch_messages_total", &[isp, ("outcome", "delivered")]),
        Some(3.0)
    );
    assert_eq!(
        value("popfetch_messages_total", &[isp, ("outcome", "deleted")]),
        Some(3.0)
    );
    assert_eq!(
        value(
            "popfetch_messages_total",
            &[other_acct, ("outcome", "delivered")]
        ),
        Some(0.0)
    );
    let bytes: u64 = [1, 2, 9].iter().map(|n| mail(*n).len() as u64).sum();
    assert_eq!(value("popfetch_bytes_total", &[isp]), Some(bytes as f64));
    let success = status_file(&w)["last_success"].as_f64().unwrap();
    assert_eq!(
        value("popfetch_last_success_timestamp_seconds", &[isp]),
        Some(success)
    );
    assert_eq!(
        value("popfetch_last_success_timestamp_seconds", &[other_acct]),
        None,
        "never succeeded"
    );
    assert_eq!(
        value("popfetch_consecutive_failures", &[other_acct]),
        Some(1.0)
    );
    assert_eq!(value("popfetch_consecutive_failures", &[isp]), Some(0.0));
    assert_eq!(value("popfetch_server_new_messages", &[isp]), Some(1.0));
    assert_eq!(value("popfetch_account_stopped", &[other_acct]), Some(1.0));
    assert_eq!(value("popfetch_account_stopped", &[isp]), Some(0.0));
    assert!(
        !families.contains_key("popfetch_oldest_held_timestamp_seconds"),
        "nothing held, so no family without samples: {text}"
    );
    // Family order and grouping are as the format requires: every sample line right under its family's TYPE.
    let mut current = "";
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            current = rest.split(' ').next().unwrap();
        } else if !line.starts_with('#') {
            assert!(
                line.starts_with(&format!("{current}{{")),
                "{line} outside {current}"
            );
        }
    }
}
