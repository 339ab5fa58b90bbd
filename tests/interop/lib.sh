# Helpers shared by the interop suite's launchers (servers.sh, mtas.sh, courier.sh); sourced, not run.

# N distinct free loopback ports, chosen by the kernel (bind to port 0), held open together so they differ.
free_ports() {
    python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# Wait until something accepts TCP connections on 127.0.0.1:$1 (at most 10 s).
wait_port() {
    python3 - "$1" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 10
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# apt_unpack CACHE PACKAGE...: `apt-get download` the packages into CACHE/debs and `dpkg-deb -x` each into
# CACHE/root, for servers whose packages conflict with installed ones (they are never installed).
apt_unpack() {
    local cache=$1 deb
    shift
    mkdir -p "$cache/debs" "$cache/root"
    # apt-get download writes into the current directory, as the _apt user when it can: let it.
    chmod 777 "$cache/debs"
    # A fresh machine may have no package lists yet: update them once and try again.
    if ! (cd "$cache/debs" && apt-get download -q "$@"); then
        apt-get update -q
        (cd "$cache/debs" && apt-get download -q "$@")
    fi
    for deb in "$cache"/debs/*.deb; do
        dpkg-deb -x "$deb" "$cache/root"
    done
}
