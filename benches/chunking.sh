#!/usr/bin/env bash
# Does CHUNKING/BDAT (RFC 3030) help popfetch against Postfix? Issue 11 point 1 asks for BDAT "where offered and it
# helps"; this measures the ways a client could use it against the interop suite's real Postfix (which offers
# CHUNKING and PIPELINING), beside plain DATA, with a minimal client (Python, raw socket, TCP_NODELAY as popfetch):
#
#   small: N messages of 10 KiB on one connection, each until its final reply
#     data          MAIL, RCPT, DATA in one write (RFC 2920); the content and the dot after the 354
#     data-quickack the same, with TCP_QUICKACK set before reading the final reply
#     bdat-2rtt     MAIL, RCPT in one write; after their replies `BDAT n LAST` and the content in one write
#     bdat-1write   MAIL, RCPT, `BDAT n LAST` and the content in one write (one round trip per message)
#     bdat-quickack the same, with TCP_QUICKACK set after the write (see docs/decisions.md for why it matters)
#   large: 10 messages of 5 MiB
#     data          as above
#     bdat-one      the whole message as one `BDAT n LAST` chunk
#     bdat-64k      `BDAT 65536` chunks as they would stream (pipelined, replies read at the end), `BDAT 0 LAST`
#
#   sudo bash benches/chunking.sh          # from the repository root; ROUNDS=3 by default
#
# NOT run by CI. Needs root (the harness starts a private Postfix). Prints seconds per variant, the median of
# ROUNDS, and per message for the small set. The result and the decision it supports: docs/decisions.md
# "Own SMTP client" and docs/benchmarks.md.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVERS=$ROOT/tests/interop/servers.sh
[ "$(id -u)" -eq 0 ] || { echo "chunking.sh: run as root" >&2; exit 1; }
command -v postfix >/dev/null || bash "$ROOT/.ci/interop-deps.sh"

WORK=$(mktemp -d /tmp/popfetch-chunking.XXXXXX)
chmod 755 "$WORK"
trap '"$SERVERS" stop "$WORK/srv" >/dev/null 2>&1 || true; rm -rf -- "$WORK"' EXIT
"$SERVERS" start "$WORK/srv" >/dev/null
# shellcheck disable=SC1091
. "$WORK/srv/env"

python3 - "$SMTP_PORT" "$TARGET" "$ROUNDS" "$SERVERS" "$WORK/srv" <<'EOF'
import socket, statistics, subprocess, sys, time

port, target, rounds, servers, srv = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4], sys.argv[5]
LINE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFGHIJKLM\r\n"  # 78 octets, no dot

def message(size):
    head = b"From: sender@example.test\r\nTo: " + target + b"\r\nSubject: chunking\r\n\r\n"
    return head + LINE * ((size - len(head)) // len(LINE))

class Session:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")
        self.reply()
        self.s.sendall(b"EHLO bench.example.test\r\n")
        caps = b"".join(self.reply())
        assert b"CHUNKING" in caps and b"PIPELINING" in caps, caps

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            assert line, "connection closed"
            lines.append(line)
            if line[3:4] == b" ":
                return lines

    def ok(self, want):
        r = self.reply()
        assert r[0].startswith(want), r

    def quickack(self):
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def send(self, variant, body):
        env = b"MAIL FROM:<sender@example.test>\r\nRCPT TO:<" + target + b">\r\n"
        s = self.s
        if variant in ("data", "data-quickack"):
            s.sendall(env + b"DATA\r\n"); self.ok(b"250"); self.ok(b"250"); self.ok(b"354")
            s.sendall(body + b".\r\n")
            if variant == "data-quickack":
                self.quickack()
            self.ok(b"250")
        elif variant == "bdat-2rtt":
            s.sendall(env); self.ok(b"250"); self.ok(b"250")
            s.sendall(b"BDAT %d LAST\r\n" % len(body) + body); self.ok(b"250")
        elif variant in ("bdat-1write", "bdat-quickack"):
            s.sendall(env + b"BDAT %d LAST\r\n" % len(body) + body)
            for want in (b"250", b"250", b"250"):
                if variant == "bdat-quickack":
                    self.quickack()
                self.ok(want)
        elif variant == "bdat-one":
            s.sendall(env); self.ok(b"250"); self.ok(b"250")
            s.sendall(b"BDAT %d LAST\r\n" % len(body) + body); self.ok(b"250")
        elif variant == "bdat-64k":
            s.sendall(env); self.ok(b"250"); self.ok(b"250")
            chunks = 0
            for off in range(0, len(body), 65536):
                piece = body[off:off + 65536]
                s.sendall(b"BDAT %d\r\n" % len(piece) + piece); chunks += 1
            s.sendall(b"BDAT 0 LAST\r\n")
            for _ in range(chunks + 1):
                self.ok(b"250")

    def close(self):
        self.s.sendall(b"QUIT\r\n"); self.reply(); self.s.close()

def drain():
    subprocess.run([servers, "wait-queue", srv, "300"], check=True, stdout=subprocess.DEVNULL)

def measure(variant, count, size):
    body = message(size)
    times = []
    for _ in range(rounds):
        drain()
        sess = Session()
        t = time.monotonic()
        for _ in range(count):
            sess.send(variant, body)
        times.append(time.monotonic() - t)
        sess.close()
    m = statistics.median(times)
    print(f"{variant:14} {count:5} x {size // 1024:5} KiB  {m:7.3f} s  ({m / count * 1000:6.2f} ms per message; "
          f"runs {', '.join(f'{x:.3f}' for x in times)})", flush=True)

for variant, count in (("data", 1000), ("data-quickack", 1000), ("bdat-2rtt", 1000), ("bdat-1write", 50),
                       ("bdat-quickack", 1000)):
    measure(variant, count, 10 * 1024)
for variant in ("data", "bdat-one", "bdat-64k"):
    measure(variant, 10, 5 * 1024 * 1024)
EOF
echo "Postfix $(postconf -dh mail_version), $(nproc) cores, $(uname -r)"
