//! The pure scheduler: every rule of `popfetch::daemon::schedule` with explicit instants (no waiting).

use std::time::Duration;

use popfetch::daemon::schedule::{
    BACKOFF_CAP, Health, Rng, STOPPED_RETRY, Scheduler, Transition, backoff_delay,
};
use popfetch::error::ExitClass;
use tokio::time::Instant;

const MIN: Duration = Duration::from_secs(60);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `d` within ±10 % of `base` (to the millisecond).
fn within_jitter(d: Duration, base: Duration) {
    let lo = base.mul_f64(0.9).as_millis();
    let hi = base.mul_f64(1.1).as_millis();
    let got = d.as_millis();
    assert!(lo <= got && got <= hi, "{d:?} not within ±10% of {base:?}");
}

fn one(interval: Duration) -> (Scheduler, Instant) {
    let mut s = Scheduler::new(Rng::new(7));
    let t0 = Instant::now();
    assert!(s.set_accounts(&[("isp".into(), interval)], t0).is_empty());
    (s, t0)
}

#[test]
fn new_accounts_are_due_at_once_and_busy_ones_are_not() {
    let mut s = Scheduler::new(Rng::new(1));
    let t0 = Instant::now();
    s.set_accounts(&[("a".into(), 5 * MIN), ("b".into(), 5 * MIN)], t0);
    assert_eq!(s.due(t0), ["a", "b"]);
    assert_eq!(s.next_wakeup(), Some(t0));
    s.start("a");
    assert_eq!(s.due(t0), ["b"]);
    s.start("b");
    assert!(s.due(t0 + secs(10_000)).is_empty());
    assert_eq!(s.next_wakeup(), None, "busy accounts have no wake-up");
}

#[test]
fn steady_polls_follow_the_interval_with_jitter() {
    let (mut s, mut now) = one(5 * MIN);
    for _ in 0..50 {
        assert_eq!(s.due(now), ["isp"]);
        s.start("isp");
        now += secs(3); // the poll takes 3 s
        let t = s.on_result("isp", ExitClass::Ok, now);
        let Transition::Steady { next_in } = t else {
            panic!("{t:?}")
        };
        within_jitter(next_in, 5 * MIN);
        assert_eq!(s.next_wakeup(), Some(now + next_in));
        assert!(s.due(now + next_in - Duration::from_millis(1)).is_empty());
        now += next_in;
    }
}

#[test]
fn partial_results_are_healthy() {
    let (mut s, t0) = one(5 * MIN);
    s.start("isp");
    assert!(matches!(
        s.on_result("isp", ExitClass::Partial, t0),
        Transition::Steady { .. }
    ));
    assert_eq!(s.health("isp"), Some(Health::Healthy));
}

#[test]
fn jitter_is_bounded_spread_and_reproducible() {
    let base = secs(300);
    let mut rng = Rng::new(42);
    let samples: Vec<Duration> = (0..10_000).map(|_| rng.jitter(base)).collect();
    for d in &samples {
        within_jitter(*d, base);
    }
    let min = samples.iter().min().unwrap();
    let max = samples.iter().max().unwrap();
    assert!(*min < base.mul_f64(0.91), "never near the low end: {min:?}");
    assert!(
        *max > base.mul_f64(1.09),
        "never near the high end: {max:?}"
    );
    let below = samples.iter().filter(|d| **d < base).count();
    assert!((4_000..6_000).contains(&below), "lopsided: {below} below");
    let mut again = Rng::new(42);
    assert!(samples.iter().all(|d| *d == again.jitter(base)));
    let mut other = Rng::new(43);
    assert!(samples.iter().take(20).any(|d| *d != other.jitter(base)));
    // Sub-10 ms delays have no room for jitter and come back unchanged.
    assert_eq!(
        Rng::new(1).jitter(Duration::from_millis(5)),
        Duration::from_millis(5)
    );
}

#[test]
fn d06_temporary_failures_back_off_exponentially_to_the_cap() {
    assert_eq!(backoff_delay(secs(300), 1), secs(300));
    assert_eq!(backoff_delay(secs(300), 2), secs(600));
    assert_eq!(backoff_delay(secs(300), 4), secs(2400));
    assert_eq!(backoff_delay(secs(300), 5), BACKOFF_CAP);
    assert_eq!(backoff_delay(secs(300), 1000), BACKOFF_CAP);
    // An interval longer than the cap is never shortened by a failure.
    assert_eq!(backoff_delay(secs(7200), 3), secs(7200));

    let (mut s, mut now) = one(5 * MIN);
    let expected = [300, 600, 1200, 2400, 3600, 3600, 3600];
    for (k, base) in expected.iter().enumerate() {
        s.start("isp");
        let class = [
            ExitClass::TempFail,
            ExitClass::Protocol,
            ExitClass::Unavailable,
        ][k % 3];
        let t = s.on_result("isp", class, now);
        let Transition::Backoff { failures, next_in } = t else {
            panic!("{t:?}")
        };
        assert_eq!(failures as usize, k + 1);
        within_jitter(next_in, secs(*base));
        assert_eq!(s.health("isp"), Some(Health::BackingOff { failures }));
        now += next_in;
        assert_eq!(s.due(now), ["isp"]);
    }
    // Recovery: the first success ends the backoff and the interval applies again.
    s.start("isp");
    let t = s.on_result("isp", ExitClass::Ok, now);
    let Transition::Recovered { failures, next_in } = t else {
        panic!("{t:?}")
    };
    assert_eq!(failures, 7);
    within_jitter(next_in, 5 * MIN);
    s.start("isp");
    assert!(matches!(
        s.on_result("isp", ExitClass::Ok, now + next_in),
        Transition::Steady { .. }
    ));
}

#[test]
fn d07_failures_that_need_a_human_stop_the_account_hourly_until_woken() {
    let (mut s, t0) = one(5 * MIN);
    s.start("isp");
    let t = s.on_result("isp", ExitClass::Security, t0);
    let Transition::Stopped {
        class,
        first: true,
        next_in,
    } = t
    else {
        panic!("{t:?}")
    };
    assert_eq!(class, ExitClass::Security);
    within_jitter(next_in, STOPPED_RETRY);
    // Not polled on its interval any more.
    assert!(s.due(t0 + 30 * MIN).is_empty());
    // The hourly retry fails the same way: not a "first" (the driver logs it quietly).
    let t1 = t0 + next_in;
    assert_eq!(s.due(t1), ["isp"]);
    s.start("isp");
    assert!(matches!(
        s.on_result("isp", ExitClass::Security, t1),
        Transition::Stopped { first: false, .. }
    ));
    // A different cause is news again.
    s.start("isp");
    assert!(matches!(
        s.on_result("isp", ExitClass::Config, t1),
        Transition::Stopped { first: true, .. }
    ));
    // SIGUSR1 (D-04) makes it due at once; success recovers it.
    s.wake_all(t1 + secs(5));
    assert_eq!(s.due(t1 + secs(5)), ["isp"]);
    s.start("isp");
    assert!(matches!(
        s.on_result("isp", ExitClass::Ok, t1 + secs(6)),
        Transition::Recovered { failures: 3, .. }
    ));
    for class in [ExitClass::State, ExitClass::Security, ExitClass::Config] {
        s.start("isp");
        assert!(matches!(
            s.on_result("isp", class, t1),
            Transition::Stopped { .. }
        ));
    }
}

#[test]
fn d03_reload_adds_removes_and_retimes_accounts() {
    let mut s = Scheduler::new(Rng::new(3));
    let t0 = Instant::now();
    s.set_accounts(
        &[
            ("a".into(), 10 * MIN),
            ("b".into(), 10 * MIN),
            ("c".into(), 10 * MIN),
        ],
        t0,
    );
    for n in ["a", "b", "c"] {
        s.start(n);
    }
    s.on_result("a", ExitClass::Ok, t0);
    s.on_result("b", ExitClass::Security, t0);
    // c is still polling when the reload removes it.
    let t1 = t0 + MIN;
    let removed = s.set_accounts(
        &[
            ("a".into(), 2 * MIN),
            ("b".into(), 10 * MIN),
            ("d".into(), 10 * MIN),
        ],
        t1,
    );
    assert_eq!(removed, ["c"]);
    // a's interval shrank: due no later than t1 + 2 min; b was stopped: a reload retries it now; d is new.
    assert!(s.next_due("a").unwrap() <= t1 + 2 * MIN);
    assert_eq!(s.due(t1), ["b", "d"]);
    // c's poll in flight still counts as running, so a re-added c waits for it.
    assert!(s.is_busy("c"));
    assert_eq!(s.on_result("c", ExitClass::Ok, t1), Transition::Gone);
    assert!(!s.is_busy("c"));
    s.set_accounts(&[("c".into(), 10 * MIN)], t1);
    s.start("c");
    s.set_accounts(&[("c".into(), 10 * MIN)], t1);
    assert!(
        s.due(t1).is_empty(),
        "a busy account is never started twice"
    );
    assert_eq!(s.accounts().collect::<Vec<_>>(), ["c"]);
}

#[test]
fn d04_a_wake_up_during_a_poll_polls_again_right_after_it() {
    let mut s = Scheduler::new(Rng::new(5));
    let t0 = Instant::now();
    s.set_accounts(&[("a".into(), 10 * MIN), ("b".into(), 10 * MIN)], t0);
    s.start("a");
    s.start("b");
    s.on_result("b", ExitClass::Ok, t0);
    let t1 = t0 + secs(2);
    s.wake_all(t1);
    assert_eq!(s.due(t1), ["b"], "a is still polling");
    s.start("b");
    let t2 = t1 + secs(1);
    s.on_result("a", ExitClass::Ok, t2);
    s.on_result("b", ExitClass::Ok, t2);
    assert_eq!(
        s.due(t2),
        ["a"],
        "a polled again at once, b waits its interval"
    );
    s.start("a");
    s.on_result("a", ExitClass::Ok, t2);
    assert!(s.due(t2).is_empty(), "the wake-up is used once");
}
