//! Named crash points for the kill -9 tests (catalog C-01..C-05, C-16).
//!
//! In debug builds only (test builds of the binary), `POPFETCH_FAILPOINT=NAME:K` makes the K-th pass through the
//! point `NAME` print `popfetch-failpoint: NAME` to stderr and then send the process a real SIGKILL (through
//! kill(1): the crate forbids unsafe code, so no libc call), exactly as `kill -9` from outside would land at that
//! step: no destructor, no flush, no QUIT. Release builds compile this to nothing.

/// Pass through the crash point `name`.
#[cfg(debug_assertions)]
pub fn hit(name: &str) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    static COUNTS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());
    static ARMED: AtomicBool = AtomicBool::new(true);

    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let Ok(spec) = std::env::var("POPFETCH_FAILPOINT") else {
        ARMED.store(false, Ordering::Relaxed);
        return;
    };
    let (want, nth) = match spec.split_once(':') {
        Some((w, k)) => (w, k.parse().unwrap_or(1)),
        None => (spec.as_str(), 1),
    };
    if want != name {
        return;
    }
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let count = match counts.iter_mut().find(|(n, _)| n == name) {
        Some((_, c)) => c,
        None => {
            counts.push((name.to_owned(), 0));
            &mut counts.last_mut().expect("just pushed").1
        }
    };
    *count += 1;
    if *count == nth {
        eprintln!("popfetch-failpoint: {name}");
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        // kill(1) missing: abort is the next best thing (still no QUIT, no destructors).
        std::process::abort();
    }
}

/// Pass through the crash point `name` (no-op in release builds).
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_name: &str) {}
