//! The daemon core (`popfetch::daemon::run_with`) in-process on tokio's paused clock: virtual minutes pass in
//! milliseconds. Scripted poll functions check the timing end to end; the soak runs the real poller against the
//! fakes, each poll on its own real-time runtime inside `spawn_blocking` (which keeps the paused clock from
//! jumping while a poll talks to the fakes over real sockets).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use popfetch::config::Config;
use popfetch::daemon::{self, Control, DaemonOptions, PollFn};
use popfetch::error::ExitClass;
use popfetch::poller::{self, PollOptions, Report};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::support::*;
use super::{accepted_subjects, mail};

fn report(account: &str, class: ExitClass) -> Report {
    Report {
        account: account.to_owned(),
        class,
        new: 0,
        delivered: 0,
        rejected: 0,
        skipped: 0,
        marked: 0,
        deleted: 0,
    }
}

/// A config file naming `accounts` (never contacted by scripted polls) with `interval` seconds.
fn config(accounts: &[&str], interval: u64) -> (TestConfig, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let mut b = ConfigBuilder::new(1, state.path());
    for a in accounts {
        b = b.account(AccountCfg::new(a, 1, "implicit").extra("interval", &interval.to_string()));
    }
    (b.write(), state)
}

type Calls = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

/// A poll function that records when each account was polled and answers from `script(account, n)` (n = the
/// account's 0-based poll count), after `takes` of virtual time.
fn scripted(
    calls: Calls,
    takes: Duration,
    script: impl Fn(&str, usize) -> ExitClass + Send + Sync + 'static,
) -> PollFn {
    let script = Arc::new(script);
    Arc::new(move |config: Arc<Config>, i: usize, _opts: PollOptions| {
        let name = config.accounts[i].name.clone();
        let n = {
            let mut c = calls.lock().unwrap();
            let v = c.entry(name.clone()).or_default();
            v.push(Instant::now());
            v.len() - 1
        };
        let class = script(&name, n);
        Box::pin(async move {
            tokio::time::sleep(takes).await;
            report(&name, class)
        })
    })
}

fn gaps(v: &[Instant]) -> Vec<f64> {
    v.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect()
}

fn assert_near(got: f64, base: f64, what: &str) {
    assert!(
        (base * 0.9 - 0.01..=base * 1.1 + 0.01).contains(&got),
        "{what}: {got} s not within ±10% of {base} s"
    );
}

#[tokio::test(start_paused = true)]
async fn d06_outage_backs_off_recovers_and_stays_in_its_account() {
    let (cfg, _state) = config(&["flaky", "steady"], 20);
    let calls = Calls::default();
    // flaky: 4 temporary failures, then fine; steady: always fine. Each poll takes 1 virtual second.
    let poll = scripted(calls.clone(), Duration::from_secs(1), |name, n| {
        if name == "flaky" && n < 4 {
            ExitClass::TempFail
        } else {
            ExitClass::Ok
        }
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let opts = DaemonOptions {
        seed: Some(11),
        ..Default::default()
    };
    let path = cfg.path.clone();
    let daemon = tokio::spawn(async move { daemon::run_with(&path, opts, rx, poll).await });
    tokio::time::sleep(Duration::from_secs(600)).await;
    tx.send(Control::Stop).unwrap();
    assert_eq!(daemon.await.unwrap(), ExitClass::Ok);

    let calls = calls.lock().unwrap();
    let flaky = gaps(&calls["flaky"]);
    // Poll-to-poll gap = 1 s of polling + the delay: 20, 40, 80, 160 after the failures, then 20 again.
    for (k, base) in [20.0, 40.0, 80.0, 160.0].iter().enumerate() {
        assert_near(flaky[k] - 1.0, *base, &format!("flaky backoff #{}", k + 1));
    }
    for (k, g) in flaky[4..].iter().enumerate() {
        assert_near(g - 1.0, 20.0, &format!("flaky after recovery #{k}"));
    }
    let steady = gaps(&calls["steady"]);
    assert!(
        steady.len() >= 25,
        "steady polled {} times",
        steady.len() + 1
    );
    for g in &steady {
        assert_near(g - 1.0, 20.0, "steady");
    }
    // About (600 - 300 s of backoff) / 21 s after recovery: the schedule really ran on for 10 virtual minutes.
    assert!(
        (15..=20).contains(&flaky.len()),
        "flaky polls: {}",
        flaky.len() + 1
    );
}

#[tokio::test(start_paused = true)]
async fn d04_poll_now_polls_every_idle_account_at_once() {
    let (cfg, _state) = config(&["a", "b"], 3600);
    let calls = Calls::default();
    let poll = scripted(calls.clone(), Duration::from_secs(1), |name, _| {
        if name == "b" {
            ExitClass::Security
        } else {
            ExitClass::Ok
        }
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let path = cfg.path.clone();
    let daemon =
        tokio::spawn(
            async move { daemon::run_with(&path, DaemonOptions::default(), rx, poll).await },
        );
    tokio::time::sleep(Duration::from_secs(100)).await;
    let t = Instant::now();
    tx.send(Control::PollNow).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    tx.send(Control::Stop).unwrap();
    assert_eq!(daemon.await.unwrap(), ExitClass::Ok);
    let calls = calls.lock().unwrap();
    // Both polled at start and right after the wake-up, the stopped account "b" included.
    for name in ["a", "b"] {
        let v = &calls[name];
        assert_eq!(v.len(), 2, "{name}: {v:?}");
        assert!(
            v[1] - t < Duration::from_millis(10),
            "{name} not polled at once"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn d02_stop_waits_for_polls_in_flight_within_the_grace() {
    let (cfg, _state) = config(&["slow"], 3600);
    let finished = Arc::new(Mutex::new(None::<Instant>));
    let seen_stop = Arc::new(Mutex::new(false));
    let (f, s) = (finished.clone(), seen_stop.clone());
    let poll: PollFn = Arc::new(move |config: Arc<Config>, i: usize, opts: PollOptions| {
        let (f, s) = (f.clone(), s.clone());
        let name = config.accounts[i].name.clone();
        Box::pin(async move {
            // A message in flight that takes 90 s (a slow end-of-DATA reply); the stop request is visible.
            tokio::time::sleep(Duration::from_secs(90)).await;
            *s.lock().unwrap() = opts.shutdown.is_requested();
            *f.lock().unwrap() = Some(Instant::now());
            report(&name, ExitClass::Ok)
        })
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let path = cfg.path.clone();
    let t0 = Instant::now();
    let daemon =
        tokio::spawn(
            async move { daemon::run_with(&path, DaemonOptions::default(), rx, poll).await },
        );
    tokio::time::sleep(Duration::from_secs(5)).await;
    tx.send(Control::Stop).unwrap();
    assert_eq!(daemon.await.unwrap(), ExitClass::Ok);
    let done = finished
        .lock()
        .unwrap()
        .expect("the poll in flight was not cancelled");
    assert!(Instant::now() >= done);
    assert!(done - t0 >= Duration::from_secs(90));
    assert!(*seen_stop.lock().unwrap(), "the poller was told to stop");
}

#[tokio::test(start_paused = true)]
async fn d02_grace_expiry_and_second_stop_exit_without_waiting() {
    for second_stop in [false, true] {
        let (cfg, _state) = config(&["stuck"], 3600);
        let poll: PollFn = Arc::new(|config: Arc<Config>, i: usize, _| {
            let name = config.accounts[i].name.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                report(&name, ExitClass::Ok)
            })
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let path = cfg.path.clone();
        let opts = DaemonOptions {
            stop_grace: Duration::from_secs(60),
            ..Default::default()
        };
        let daemon = tokio::spawn(async move { daemon::run_with(&path, opts, rx, poll).await });
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = Instant::now();
        tx.send(Control::Stop).unwrap();
        if second_stop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            tx.send(Control::Stop).unwrap();
        }
        assert_eq!(daemon.await.unwrap(), ExitClass::Ok);
        let waited = Instant::now() - t;
        let expect = if second_stop { 2 } else { 60 };
        assert!(
            waited >= Duration::from_secs(expect) && waited < Duration::from_secs(expect + 1),
            "second_stop={second_stop}: waited {waited:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn d10_second_daemon_on_the_same_state_dir_is_refused_with_75() {
    let (cfg, _state) = config(&["a"], 3600);
    let poll = scripted(Calls::default(), Duration::ZERO, |_, _| ExitClass::Ok);
    let (tx, rx) = mpsc::unbounded_channel();
    let path = cfg.path.clone();
    let p = poll.clone();
    let first =
        tokio::spawn(async move { daemon::run_with(&path, DaemonOptions::default(), rx, p).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_tx2, rx2) = mpsc::unbounded_channel();
    let second = daemon::run_with(&cfg.path, DaemonOptions::default(), rx2, poll).await;
    assert_eq!(second, ExitClass::TempFail);
    tx.send(Control::Stop).unwrap();
    assert_eq!(first.await.unwrap(), ExitClass::Ok);
}

#[tokio::test(start_paused = true)]
async fn bad_config_or_unknown_account_at_start_is_78() {
    let (cfg, _state) = config(&["a"], 3600);
    let poll = scripted(Calls::default(), Duration::ZERO, |_, _| ExitClass::Ok);
    let (_tx, rx) = mpsc::unbounded_channel();
    let opts = DaemonOptions {
        accounts: vec!["nope".into()],
        ..Default::default()
    };
    assert_eq!(
        daemon::run_with(&cfg.path, opts, rx, poll.clone()).await,
        ExitClass::Config
    );
    std::fs::write(&cfg.path, "state_dir = [\n").unwrap();
    let (_tx, rx) = mpsc::unbounded_channel();
    assert_eq!(
        daemon::run_with(&cfg.path, DaemonOptions::default(), rx, poll).await,
        ExitClass::Config
    );
}

/// The real poll, on a real-time runtime of its own in a thread of its own (the fakes answer over real sockets;
/// the paused clock must not advance meanwhile, which `spawn_blocking` guarantees).
fn real_poll_in_real_time(before: Arc<dyn Fn(&str) + Send + Sync>) -> PollFn {
    Arc::new(move |config: Arc<Config>, i: usize, opts: PollOptions| {
        let before = before.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                before(&config.accounts[i].name);
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(poller::poll(&config, &config.accounts[i], &opts))
                })
                .join()
                .unwrap()
            })
            .await
            .unwrap()
        })
    })
}

#[tokio::test(start_paused = true)]
async fn d09_thirty_virtual_minutes_of_flapping_faults_lose_nothing_and_deliver_nothing_twice() {
    let pops = [
        FakePop3::start(Vec::new(), Pop3Behavior::plain()),
        FakePop3::start(Vec::new(), Pop3Behavior::plain()),
    ];
    let smtp = Arc::new(FakeSmtp::start(SmtpBehavior::default()));
    let state = tempfile::tempdir().unwrap();
    let cfg = ConfigBuilder::new(smtp.port(), state.path())
        .account(AccountCfg::new("one", pops[0].port(), "none").extra("interval", "20"))
        .account(AccountCfg::new("two", pops[1].port(), "none").extra("interval", "30"))
        .write();
    let pops = Arc::new(pops);

    // Before each poll, a seeded draw picks this poll's fault (or none) on the account's POP3 server and the MTA.
    let faults_on = Arc::new(Mutex::new(true));
    let rng = Arc::new(Mutex::new(daemon::schedule::Rng::new(2024)));
    let fault_counts = Arc::new(Mutex::new([0usize; 6]));
    let before: Arc<dyn Fn(&str) + Send + Sync> = {
        let (pops, smtp, faults_on, rng, fault_counts) = (
            pops.clone(),
            smtp.clone(),
            faults_on.clone(),
            rng.clone(),
            fault_counts.clone(),
        );
        Arc::new(move |name: &str| {
            let pop = &pops[if name == "one" { 0 } else { 1 }];
            // Half the polls meet one of five faults: often enough to exercise them all, rarely enough that the
            // backoff (20 s × 2^k) does not swallow the half hour.
            let draw = (rng.lock().unwrap().next_u64() % 10) as usize;
            let pick = if *faults_on.lock().unwrap() && draw < 5 {
                draw + 1
            } else {
                0
            };
            fault_counts.lock().unwrap()[pick] += 1;
            pop.update(|b| {
                b.drop_during_retr = (pick == 1).then_some((0, 40));
                b.err_on_pass = (pick == 2).then(|| "-ERR [IN-USE] maildrop locked".to_owned());
            });
            smtp.update(|b| {
                b.default_data_reply = if pick == 3 {
                    "451 4.3.0 try again later".to_owned()
                } else {
                    "250 2.0.0 Ok: queued".to_owned()
                };
                b.close_after_data_bytes = (pick == 4).then_some(10);
                b.greeting = if pick == 5 {
                    "421 4.3.2 shutting down".to_owned()
                } else {
                    "220 fake.test ESMTP fake".to_owned()
                };
            });
        })
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let path = cfg.path.clone();
    let opts = DaemonOptions {
        seed: Some(9),
        ..Default::default()
    };
    let daemon = tokio::spawn(async move {
        daemon::run_with(&path, opts, rx, real_poll_in_real_time(before)).await
    });

    // 30 virtual minutes: each minute, new mail on both servers.
    let mut expected = Vec::new();
    for minute in 0..30 {
        for (k, pop) in pops.iter().enumerate() {
            let msgs: Vec<Msg> = (0..2)
                .map(|j| {
                    let tag = format!("acct{k}-min{minute}-msg{j}");
                    expected.push(tag.clone());
                    Msg::new(tag.clone(), mail(&tag))
                })
                .collect();
            pop.add_messages(msgs);
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    // Faults off; a wake-up collects whatever the backoff still holds.
    *faults_on.lock().unwrap() = false;
    tx.send(Control::PollNow).unwrap();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_secs(30)).await;
        if pops.iter().all(|p| p.mailbox_uids().is_empty()) {
            break;
        }
    }
    tx.send(Control::Stop).unwrap();
    assert_eq!(daemon.await.unwrap(), ExitClass::Ok);

    let counts = *fault_counts.lock().unwrap();
    assert!(
        counts.iter().all(|c| *c >= 3),
        "every fault kind happened: {counts:?}"
    );
    let polls: usize = counts.iter().sum();
    assert!(
        polls >= 60,
        "only {polls} polls in 30 virtual minutes: {counts:?}"
    );
    let mut got = accepted_subjects(&smtp);
    let total = got.len();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), total, "a message was delivered twice");
    expected.sort();
    assert_eq!(got, expected, "a message was lost or is still on a server");
    for pop in pops.iter() {
        assert!(
            pop.mailbox_uids().is_empty(),
            "left on the server: {:?}",
            pop.mailbox_uids()
        );
        assert!(pop.violations().is_empty(), "{:?}", pop.violations());
    }
    assert!(smtp.violations().is_empty(), "{:?}", smtp.violations());
}
