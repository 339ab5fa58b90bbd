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
