#!/usr/bin/env bash
# Side-by-side benchmark: popfetch vs fetchmail vs mpop against the interop suite's real Dovecot + Postfix.
#
#   sudo bash benches/compare.sh            # from the repository root; ITER=3 by default
#   sudo ITER=5 ITER_C=20 SCENARIOS="a c" TOOLS="popfetch fetchmail" bash benches/compare.sh
#
# NOT run by CI. Needs root (the harness starts private Dovecot/Postfix instances) and installs fetchmail,
# mpop and the interop dependencies with apt-get if they are missing. See docs/benchmarks.md for the method
# and the last measured results.
#
# Scenarios: a = 1000 messages of ~2 KiB, b = 20 messages of 5 MiB, c = empty mailbox (the cron case).
# Each iteration refills Dovecot's mailbox (not timed), runs one tool under /usr/bin/time (wall time, max RSS),
# waits for Postfix's queue to drain (not timed), and checks that exactly the expected number of messages
# arrived and that Dovecot's mailbox is empty again. A miscount aborts the run: the numbers must compare
# like with like.
#
# What each tool delivers to (all fetch over POP3S, implicit TLS, certificate checked against the run's CA,
# delete after delivery):
#   popfetch      SMTP to the private Postfix (one connection, local(8) -> Maildir)
#   fetchmail     SMTP to the same Postfix (--smtphost 127.0.0.1/PORT, smtpname joe@example.test)
#   mpop-maildir  mpop's built-in `delivery maildir` into a private Maildir (no MTA at all)
#   mpop-sendmail `delivery mda` = Postfix's sendmail(1) with the private config, one process per message
#                 (postdrop -> pickup -> local(8) -> the same Maildir as the SMTP tools)
set -euo pipefail

ITER=${ITER:-3}
ITER_C=${ITER_C:-10} # the empty-mailbox runs take milliseconds: more of them
SCENARIOS=${SCENARIOS:-"a b c"}
TOOLS=${TOOLS:-"popfetch fetchmail mpop-maildir mpop-sendmail"}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVERS=$ROOT/tests/interop/servers.sh

die() {
    echo "compare.sh: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (sudo bash benches/compare.sh): the harness starts private servers"

# --- dependencies -------------------------------------------------------------------------------------------
if ! command -v dovecot >/dev/null || ! command -v postfix >/dev/null; then
    bash "$ROOT/.ci/interop-deps.sh"
fi
missing=()
command -v fetchmail >/dev/null || missing+=(fetchmail)
command -v mpop >/dev/null || missing+=(mpop)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
fi

# --- build --------------------------------------------------------------------------------------------------
# The invoking user's cargo when run under sudo (root usually has no toolchain).
CARGO=${CARGO:-$(command -v cargo || true)}
if [ -z "$CARGO" ] && [ -n "${SUDO_USER:-}" ]; then
    CARGO=$(sudo -u "$SUDO_USER" -i sh -c 'command -v cargo' || true)
fi
[ -n "$CARGO" ] || die "cargo not found (set CARGO=/path/to/cargo)"
(cd "$ROOT" && "$CARGO" build --release --locked --quiet)
POPFETCH=$ROOT/target/release/popfetch
[ -x "$POPFETCH" ] || die "$POPFETCH missing after the build"

# --- world --------------------------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/popfetch-bench.XXXXXX)
chmod 755 "$WORK"
SRV=$WORK/servers
cleanup() {
    "$SERVERS" stop "$SRV" >/dev/null 2>&1 || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT
"$SERVERS" start "$SRV" >/dev/null
# shellcheck disable=SC1091
. "$SRV/env"

# Messages: scenario a = 1000 x ~2 KiB, b = 20 x 5 MiB. Plain ASCII, CRLF-free LF files (Dovecot serves CRLF),
# no Delivered-To (that would be a loop for local(8)).
python3 - "$WORK/msgs" <<'EOF'
import os, sys, random
out = sys.argv[1]
rnd = random.Random(42)
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
def msg(path, i, size):
    head = (f"From: Sender <sender@example.test>\nTo: joe@example.test\nSubject: bench message {i}\n"
            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <bench-{i}-{size}@example.test>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n")
    lines, n = [], len(head)
    while n < size:
        line = "".join(rnd.choice(alphabet) for _ in range(76))
        lines.append(line)
        n += 77
    with open(path, "w") as f:
        f.write(head + "\n".join(lines) + "\n")
for name, count, size in (("a", 1000, 2048), ("b", 20, 5 * 1024 * 1024)):
    d = os.path.join(out, name)
    os.makedirs(d)
    line = "".join(rnd.choice(alphabet) for _ in range(76))
    for i in range(count):
        if size > 100000:
            # Big ones: one random line repeated is enough (content does not matter to anyone here).
            head = (f"From: Sender <sender@example.test>\nTo: joe@example.test\nSubject: bench big {i}\n"
                    f"Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <bench-big-{i}@example.test>\n\n")
            with open(os.path.join(d, f"{i:05d}"), "w") as f:
                f.write(head + (line + "\n") * ((size - len(head)) // 77))
        else:
            msg(os.path.join(d, f"{i:05d}"), i, size)
os.makedirs(os.path.join(out, "c"))
EOF

# --- per-tool configuration ---------------------------------------------------------------------------------
CFG=$WORK/cfg
mkdir -p "$CFG/popfetch-state" "$CFG/fetchmail-home" "$CFG/mpop-maildir"/{cur,new,tmp}
chmod 700 "$CFG/fetchmail-home"

printf '%s\n' "$POP_PASS" >"$CFG/pop.pass"
chmod 600 "$CFG/pop.pass"
cat >"$CFG/popfetch.toml" <<EOF
state_dir = "$CFG/popfetch-state"
[smtp]
host = "127.0.0.1"
port = $SMTP_PORT
helo_name = "bench.example.test"
[[account]]
name = "bench"
host = "127.0.0.1"
port = $POP3S_PORT
tls = "implicit"
ca_file = "$CA_FILE"
user = "$POP_USER"
password_file = "$CFG/pop.pass"
target = "$TARGET"
keep = false
EOF

# fetchmail: POP3 over implicit TLS checked against the CA, UIDL, delete after delivery, SMTP to the private
# Postfix with the full target address as RCPT TO. batchlimit 0 (default) = one SMTP connection per poll.
cat >"$CFG/fetchmailrc" <<EOF
set no syslog
set no bouncemail
poll 127.0.0.1 with proto POP3 port $POP3S_PORT uidl
  user "$POP_USER" there with password "$POP_PASS" is "$TARGET" here
  ssl sslcertck sslcertfile "$CA_FILE" sslcommonname "localhost"
  nokeep
  smtphost "127.0.0.1/$SMTP_PORT"
  smtpname "$TARGET"
EOF
chmod 600 "$CFG/fetchmailrc"

mpop_rc() { # $1 = delivery line
    cat <<EOF
defaults
tls on
tls_starttls off
tls_trust_file $CA_FILE
keep off
uidls_file $CFG/mpop-uidls
account bench
host 127.0.0.1
port $POP3S_PORT
user $POP_USER
password $POP_PASS
$1
EOF
}
mpop_rc "delivery maildir $CFG/mpop-maildir" >"$CFG/mpoprc-maildir"
mpop_rc "delivery mda /usr/sbin/sendmail -C $POSTFIX_CONFIG -oi -f %F $TARGET" >"$CFG/mpoprc-sendmail"
chmod 600 "$CFG"/mpoprc-*

tool_cmd() { # $1 = tool; sets CMD to the command line that is timed (run directly, no wrapper shell)
    case "$1" in
    popfetch) CMD=("$POPFETCH" -q -c "$CFG/popfetch.toml" run) ;;
    fetchmail) CMD=(env "FETCHMAILHOME=$CFG/fetchmail-home" fetchmail -s -f "$CFG/fetchmailrc"
        -i "$CFG/fetchmail-home/ids" --nodetach) ;;
    mpop-maildir) CMD=(mpop -q -C "$CFG/mpoprc-maildir" bench) ;;
    mpop-sendmail) CMD=(mpop -q -C "$CFG/mpoprc-sendmail" bench) ;;
    *) die "unknown tool $1" ;;
    esac
}

delivered_dir() { # where tool $1's messages end up
    case "$1" in
    mpop-maildir) echo "$CFG/mpop-maildir" ;;
    *) echo "$MAILDIR" ;;
    esac
}

count() { { find "$1/new" "$1/cur" -type f 2>/dev/null || true; } | wc -l; }

clear_maildirs() {
    rm -rf -- "$MAILDIR"/{new,cur,tmp}/* "$CFG/mpop-maildir"/{new,cur,tmp}/* 2>/dev/null || true
    rm -rf -- "$BOUNCE_MAILDIR" "$POSTMASTER_MAILDIR"
}

refill() { # $1 = scenario
    [ "$(count "$DOVECOT_MAILDIR")" -eq 0 ] || die "Dovecot mailbox not empty before refill"
    local files=("$WORK/msgs/$1"/*)
    [ -e "${files[0]}" ] || return 0
    "$SERVERS" put "$SRV" "${files[@]}"
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
for sc in $SCENARIOS; do
    expect=$(find "$WORK/msgs/$sc" -type f | wc -l)
    n=$ITER
    [ "$sc" != c ] || n=$ITER_C
    for i in $(seq 1 "$n"); do
        for tool in $TOOLS; do
            clear_maildirs
            refill "$sc"
            sync
            tool_cmd "$tool"
            rc=0
            t0=$(date +%s%N)
            /usr/bin/time -f "%M" -o "$WORK/time.out" "${CMD[@]}" >"$WORK/tool.out" 2>&1 || rc=$?
            t1=$(date +%s%N)
            # fetchmail exits 1 for "no mail": the normal outcome of the empty-mailbox case.
            [ "$rc" -eq 0 ] || { [ "$tool" = fetchmail ] && [ "$rc" -eq 1 ] && [ "$sc" = c ]; } ||
                die "$tool failed (exit $rc) in scenario $sc: $(tail -20 "$WORK/tool.out")"
            # Wall time in ns from the shell's clock (/usr/bin/time's %e has 10 ms resolution, too coarse for
            # the empty-mailbox case); max RSS from /usr/bin/time (its last line; a non-zero exit adds one above).
            wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
            rss=$(tail -1 "$WORK/time.out")
            "$SERVERS" wait-queue "$SRV" 300
            got=$(count "$(delivered_dir "$tool")")
            left=$(count "$DOVECOT_MAILDIR")
            [ "$got" -eq "$expect" ] || die "$tool scenario $sc: delivered $got of $expect ($(tail -5 "$WORK/tool.out"))"
            [ "$left" -eq 0 ] || die "$tool scenario $sc: $left messages left on the POP3 server"
            [ ! -d "$BOUNCE_MAILDIR" ] || die "$tool scenario $sc: bounces in $BOUNCE_MAILDIR"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$tool" "$i" "$wall" "$rss" "$got" | tee -a "$RESULTS"
        done
    done
done

echo
echo "versions: $("$POPFETCH" --version 2>&1 | head -1); $(fetchmail --version 2>/dev/null | head -1);" \
    "$(mpop --version | head -1); Postfix $(postconf -dh mail_version); Dovecot $(dovecot --version)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo
# Median wall time and median max RSS per scenario and tool.
python3 - "$RESULTS" <<'EOF'
import sys, statistics, collections
rows = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    sc, tool, it, wall, rss, got = line.split("\t")
    key = (sc, tool)
    if key not in rows:
        order.append(key)
    rows[key].append((float(wall), int(rss), int(got)))
names = {"a": "a: 1000 x 2 KiB", "b": "b: 20 x 5 MiB", "c": "c: empty mailbox"}
print("| scenario | tool | runs | wall s (median) | wall s (min–max) | max RSS MiB (median) | delivered |")
print("|---|---|---|---|---|---|---|")
for sc, tool in order:
    r = rows[(sc, tool)]
    walls = [w for w, _, _ in r]
    rss = statistics.median(x for _, x, _ in r) / 1024
    print(f"| {names.get(sc, sc)} | {tool} | {len(r)} | {statistics.median(walls):.3f} | "
          f"{min(walls):.3f}-{max(walls):.3f} | {rss:.1f} | {r[0][2]} |")
EOF
