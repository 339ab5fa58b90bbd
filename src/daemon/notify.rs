//! The systemd readiness protocol (`sd_notify(3)`), written out: one datagram of `KEY=VALUE` lines to the
//! `AF_UNIX` socket named by `$NOTIFY_SOCKET` (a path, or an abstract name when it starts with `@`). Without that
//! variable (not started by systemd with `Type=notify`) every call is a no-op. Failures are logged at debug level
//! and otherwise ignored: readiness reporting must never stop mail delivery.

use std::os::unix::net::UnixDatagram;

/// Tell the service manager we are up (after the lock is held and the config is loaded).
pub fn ready() {
    send("READY=1\nSTATUS=polling");
}

/// A reload (SIGHUP) starts; [`ready`] ends it.
pub fn reloading() {
    send("RELOADING=1");
}

/// A stop was requested; in-flight polls are finishing.
pub fn stopping() {
    send("STOPPING=1\nSTATUS=finishing the messages in flight");
}

/// Keep-alive for systemd's watchdog (`WatchdogSec=`): the daemon's scheduler loop calls it every
/// [`watchdog_interval`], so a daemon whose loop hangs stops sending and systemd restarts it.
pub fn watchdog() {
    send("WATCHDOG=1");
}

/// How often to send [`watchdog`]: half the `$WATCHDOG_USEC` systemd set (sd_watchdog_enabled(3) recommends
/// that margin), when it is meant for this process (`$WATCHDOG_PID` unset or ours); `None` without a watchdog.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    parse_watchdog(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// [`watchdog_interval`] from the variables' values.
fn parse_watchdog(
    usec: Option<&str>,
    pid: Option<&str>,
    own_pid: u32,
) -> Option<std::time::Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    Some(std::time::Duration::from_micros(usec / 2))
}

/// Send `state` to `$NOTIFY_SOCKET`, if set.
pub fn send(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send_to(&target, state) {
        tracing::debug!("sd_notify to {}: {e}", target.to_string_lossy());
    }
}

fn send_to(target: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), std::path::Path::new(target))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagram_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        send_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn watchdog_pings_at_half_the_period_for_this_process_only() {
        use std::time::Duration;
        assert_eq!(
            parse_watchdog(Some("120000000"), None, 7),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_watchdog(Some("120000000"), Some("7"), 7),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_watchdog(Some("120000000"), Some("8"), 7), None);
        assert_eq!(parse_watchdog(None, None, 7), None);
        assert_eq!(parse_watchdog(Some("0"), None, 7), None);
        assert_eq!(parse_watchdog(Some("soon"), None, 7), None);
    }

    #[test]
    fn datagram_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("popfetch-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        send_to(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
