#!/usr/bin/env bash
# Side-by-side benchmark: popfetch vs fetchmail vs mpop against the interop suite's real Dovecot + Postfix, with the
# floors beside them (issue 11, points 4 and 5): what Postfix itself takes to accept the same mail over SMTP
# (`smtp-source`, which ships with Postfix) and what Dovecot takes to serve it over POP3S (pipelined RETR+DELE to
# nowhere through `openssl s_client`).
#
#   sudo bash benches/compare.sh            # from the repository root; ITER=3 by default
#   sudo ITER=5 ITER_C=20 SCENARIOS="a c" TOOLS="popfetch fetchmail" bash benches/compare.sh
#   sudo BIG=1 bash benches/compare.sh      # also scenario e: 1 x 500 MiB, popfetch only (peak RSS)
#   sudo SMTP_N=4 SCENARIOS=a TOOLS="popfetch smtp-source-1 smtp-source-n" bash benches/compare.sh
#   sudo STATE_DIR=$(mktemp -d /dev/shm/pf.XXXXXX) SCENARIOS=a TOOLS=popfetch bash benches/compare.sh  # diagnostic
#
# NOT run by CI. Needs root (the harness starts private Dovecot/Postfix instances) and installs fetchmail,
# mpop and the interop dependencies with apt-get if they are missing. See docs/benchmarks.md for the method
# and the last measured results.
#
# Scenarios: a = 1000 messages of 10 KiB, b = 20 of 5 MiB, d = 1 of 50 MiB, c = empty mailbox (the cron case),
# e = 1 of 500 MiB (only with BIG=1, only the tools in TOOLS_E). Each iteration refills Dovecot's mailbox (not
# timed), runs one tool under /usr/bin/time (max RSS), takes the time when it exits and the time when the last
# message is in the target Maildir (Postfix's local(8) delivers after the tool's SMTP transaction ends), waits for
# Postfix's queue to drain, and checks that exactly the expected number of messages arrived and that Dovecot's
# mailbox is empty again. A miscount aborts the run: the numbers must compare like with like. "machine CPU" is the
# busy CPU time of the whole machine from the start until the last message was delivered (/proc/stat): the tool,
# Dovecot and every Postfix process together.
#
# What each tool delivers to (all tools fetch over POP3S, implicit TLS, certificate checked against the run's CA,
# delete after delivery):
#   popfetch      SMTP to the private Postfix (one connection, local(8) -> Maildir)
#   popfetch-n    the same with `[smtp] smtp_connections = SMTP_N` (transactions side by side)
#   fetchmail     SMTP to the same Postfix (--smtphost 127.0.0.1/PORT, smtpname joe@example.test)
#   mpop-maildir  mpop's built-in `delivery maildir` into a private Maildir (no MTA at all)
#   mpop-sendmail `delivery mda` = Postfix's sendmail(1) with the private config, one process per message
#                 (postdrop -> pickup -> local(8) -> the same Maildir as the SMTP tools)
# and the floors (no POP3 server involved for the first two, no MTA for the third):
#   smtp-source-1 `smtp-source -d -s 1 -m COUNT -l SIZE`: one connection, COUNT messages of SIZE octets
#   smtp-source-n the same with `-s SMTP_N` parallel sessions
#   pop3-floor    USER, PASS, then RETR i + DELE i for every message and QUIT in one pipelined write through
#                 `openssl s_client -quiet`, output to /dev/null
#   floors-both   pop3-floor and smtp-source-1 at the same time (a diagnostic: both servers' halves of the work
#                 side by side on the same cores, which a fetching tool cannot go below)
set -euo pipefail

ITER=${ITER:-3}
ITER_C=${ITER_C:-10} # the empty-mailbox runs take milliseconds: more of them
SCENARIOS=${SCENARIOS:-"a b d c"}
TOOLS=${TOOLS:-"popfetch popfetch-n fetchmail mpop-maildir mpop-sendmail smtp-source-1 smtp-source-n pop3-floor floors-both"}
TOOLS_E=${TOOLS_E:-"popfetch"} # scenario e (500 MiB): fetchmail/mpop would take minutes and prove nothing new
SMTP_N=${SMTP_N:-2}             # parallel SMTP sessions of smtp-source-n and popfetch-n
[ "${BIG:-0}" = 0 ] || SCENARIOS="$SCENARIOS e"

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
command -v smtp-source >/dev/null || missing+=(postfix)
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
fi

# --- build --------------------------------------------------------------------------------------------------
# The invoking user's cargo when run under sudo (root usually has no toolchain).
# POPFETCH=/path/to/popfetch measures that binary instead (e.g. an experiment beside a release build).
if [ -z "${POPFETCH:-}" ]; then
    CARGO=${CARGO:-$(command -v cargo || true)}
    if [ -z "$CARGO" ] && [ -n "${SUDO_USER:-}" ]; then
        CARGO=$(sudo -u "$SUDO_USER" -i sh -c 'command -v cargo' || true)
    fi
    [ -n "$CARGO" ] || die "cargo not found (set CARGO=/path/to/cargo)"
    (cd "$ROOT" && "$CARGO" build --release --locked --quiet)
    POPFETCH=$ROOT/target/release/popfetch
fi
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
# The interop Postfix refuses messages over 100 MiB (message_size_limit, and local(8)'s mailbox_size_limit):
# lift both for scenario e.
"$SERVERS" postconf "$SRV" 'message_size_limit = 1073741824' 'mailbox_size_limit = 1073741824' >/dev/null

# scenario -> "count size" (size in octets; c is the empty mailbox)
declare -A SHAPE=([a]="1000 10240" [b]="20 5242880" [d]="1 52428800" [c]="0 0" [e]="1 524288000")

# Messages: the shapes above. Plain ASCII, CRLF-free LF files (Dovecot serves CRLF), no Delivered-To (that
# would be a loop for local(8)).
shapes=""
for sc in $SCENARIOS; do shapes="$shapes $sc:${SHAPE[$sc]// /:}"; done
# shellcheck disable=SC2086
python3 - "$WORK/msgs" $shapes <<'EOF'
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
for shape in sys.argv[2:]:
    name, count, size = shape.split(":")
    count, size = int(count), int(size)
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
EOF

# --- per-tool configuration ---------------------------------------------------------------------------------
CFG=$WORK/cfg
# STATE_DIR=/dev/shm/...: a diagnostic only (fsync on tmpfs returns at once), to see what popfetch's own two
# fsyncs per message cost; the published numbers keep the state on the same disk as Postfix's queue.
STATE_DIR=${STATE_DIR:-$CFG/popfetch-state}
mkdir -p "$STATE_DIR" "$CFG/fetchmail-home" "$CFG/mpop-maildir"/{cur,new,tmp}
chmod 700 "$CFG/fetchmail-home"

printf '%s\n' "$POP_PASS" >"$CFG/pop.pass"
chmod 600 "$CFG/pop.pass"
cat >"$CFG/popfetch.toml" <<EOF
state_dir = "$STATE_DIR"
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
max_message_size = 1073741824
EOF
# popfetch-n: the same with SMTP_N connections (the same state dir: the tools run in turn, never at once).
sed "s/^helo_name = .*/&\nsmtp_connections = $SMTP_N/" "$CFG/popfetch.toml" >"$CFG/popfetch-n.toml"

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

tool_cmd() { # $1 = tool, $2 = count, $3 = size; sets CMD to the command line that is timed (run directly, no wrapper shell)
    case "$1" in
    popfetch) CMD=("$POPFETCH" -q -c "$CFG/popfetch.toml" run) ;;
    popfetch-n) CMD=("$POPFETCH" -q -c "$CFG/popfetch-n.toml" run) ;;
    fetchmail) CMD=(env "FETCHMAILHOME=$CFG/fetchmail-home" fetchmail -s -f "$CFG/fetchmailrc"
        -i "$CFG/fetchmail-home/ids" --nodetach) ;;
    mpop-maildir) CMD=(mpop -q -C "$CFG/mpoprc-maildir" bench) ;;
    mpop-sendmail) CMD=(mpop -q -C "$CFG/mpoprc-sendmail" bench) ;;
    smtp-source-1 | smtp-source-n)
        local s=1
        [ "$1" = smtp-source-1 ] || s=$SMTP_N
        # -d: all messages of a session over one connection (as popfetch does), not one connection each.
        CMD=(smtp-source -d -s "$s" -m "$2" -l "$3" -f "$SENDER" -t "$TARGET" "127.0.0.1:$SMTP_PORT")
        ;;
    pop3-floor)
        local i
        {
            printf 'USER %s\r\nPASS %s\r\n' "$POP_USER" "$POP_PASS"
            for i in $(seq 1 "$2"); do printf 'RETR %d\r\nDELE %d\r\n' "$i" "$i"; done
            printf 'QUIT\r\n'
        } >"$CFG/pop3-floor.in"
        chmod 600 "$CFG/pop3-floor.in"
        # -quiet implies -ign_eof: s_client keeps reading until Dovecot closes after QUIT.
        CMD=(bash -c 'exec openssl s_client -quiet -connect "127.0.0.1:$1" -CAfile "$2" -verify_return_error \
            <"$3" >/dev/null 2>&1' _ "$POP3S_PORT" "$CA_FILE" "$CFG/pop3-floor.in")
        ;;
    floors-both)
        # Both floors at once, as a fetching tool must run them: what Dovecot and Postfix take to do their two
        # halves side by side on the same cores (a diagnostic beside the issue's targets, not one of them).
        local pop smtp
        tool_cmd pop3-floor "$2" "$3"
        pop=$(printf '%q ' "${CMD[@]}")
        tool_cmd smtp-source-1 "$2" "$3"
        smtp=$(printf '%q ' "${CMD[@]}")
        CMD=(bash -c "$pop & p=\$!; $smtp; r=\$?; wait \$p && exit \$r")
        ;;
    *) die "unknown tool $1" ;;
    esac
}

delivered_dir() { # where tool $1's messages end up
    case "$1" in
    mpop-maildir) echo "$CFG/mpop-maildir" ;;
    pop3-floor) echo "$CFG/nowhere" ;;
    *) echo "$MAILDIR" ;;
    esac
}

count() { { find "$1/new" "$1/cur" -type f 2>/dev/null || true; } | wc -l; }

clear_maildirs() {
    rm -rf -- "$MAILDIR"/{new,cur,tmp}/* "$CFG/mpop-maildir"/{new,cur,tmp}/* 2>/dev/null || true
    rm -rf -- "$BOUNCE_MAILDIR" "$POSTMASTER_MAILDIR"
}

refill() { # $1 = scenario, $2 = tool
    [ "$(count "$DOVECOT_MAILDIR")" -eq 0 ] || die "Dovecot mailbox not empty before refill"
    case "$2" in smtp-source-*) return 0 ;; esac # the SMTP floors do not fetch
    local files=("$WORK/msgs/$1"/*)
    [ -e "${files[0]}" ] || return 0
    "$SERVERS" put "$SRV" "${files[@]}"
}

# Wait until $1 holds $2 messages (local(8) delivers after the tool's SMTP transaction ended); at most 300 s.
# Polled every 20 ms: the "delivered" time is that precise, and the polling costs Postfix next to nothing.
wait_delivered() {
    local tries=15000
    while [ "$(count "$1")" -lt "$2" ]; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || die "only $(count "$1") of $2 messages delivered after 300 s"
        sleep 0.02
    done
}

# The whole machine's busy CPU time in USER_HZ ticks (1/100 s): user, nice, system, irq, softirq and steal of the
# first line of /proc/stat (proc(5)), i.e. everything but idle and iowait, of every process: the tool, Dovecot and
# each Postfix process. On two cores a run cannot be shorter than half of it, whatever the tool does.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

RESULTS=$WORK/results.tsv
: >"$RESULTS"
for sc in $SCENARIOS; do
    read -r expect size <<<"${SHAPE[$sc]}"
    n=$ITER
    tools=$TOOLS
    [ "$sc" != c ] || n=$ITER_C
    [ "$sc" != e ] || tools=$TOOLS_E
    for i in $(seq 1 "$n"); do
        for tool in $tools; do
            # The SMTP floors send nothing for an empty mailbox: nothing to measure.
            case "$sc:$tool" in c:smtp-source-* | c:floors-both) continue ;; esac
            clear_maildirs
            refill "$sc" "$tool"
            sync
            tool_cmd "$tool" "$expect" "$size"
            want=$expect
            [ "$tool" != pop3-floor ] || want=0
            rc=0
            c0=$(busy_ticks)
            t0=$(date +%s%N)
            /usr/bin/time -f "%M" -o "$WORK/time.out" "${CMD[@]}" >"$WORK/tool.out" 2>&1 || rc=$?
            t1=$(date +%s%N)
            wait_delivered "$(delivered_dir "$tool")" "$want"
            t2=$(date +%s%N)
            c2=$(busy_ticks)
            # fetchmail exits 1 for "no mail": the normal outcome of the empty-mailbox case.
            [ "$rc" -eq 0 ] || { [ "$tool" = fetchmail ] && [ "$rc" -eq 1 ] && [ "$sc" = c ]; } ||
                die "$tool failed (exit $rc) in scenario $sc: $(tail -20 "$WORK/tool.out")"
            # Wall time in ns from the shell's clock (/usr/bin/time's %e has 10 ms resolution, too coarse for
            # the empty-mailbox case); max RSS from /usr/bin/time (its last line; a non-zero exit adds one above).
            wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
            done_s=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
            rss=$(tail -1 "$WORK/time.out")
            # Until the last message was delivered: local(8)'s work is part of what Postfix spends on the mail.
            cpu=$(awk -v a="$c0" -v b="$c2" 'BEGIN { printf "%.2f", (b - a) / 100 }')
            "$SERVERS" wait-queue "$SRV" 300
            got=$(count "$(delivered_dir "$tool")")
            left=$(count "$DOVECOT_MAILDIR")
            [ "$got" -eq "$want" ] || die "$tool scenario $sc: delivered $got of $want ($(tail -5 "$WORK/tool.out"))"
            [ "$left" -eq 0 ] || die "$tool scenario $sc: $left messages left on the POP3 server"
            [ ! -d "$BOUNCE_MAILDIR" ] || die "$tool scenario $sc: bounces in $BOUNCE_MAILDIR"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$tool" "$i" "$wall" "$done_s" "$rss" "$got" "$cpu" |
                tee -a "$RESULTS"
        done
    done
done

echo
echo "versions: $("$POPFETCH" --version 2>&1 | head -1); $(fetchmail --version 2>/dev/null | head -1);" \
    "$(mpop --version | head -1); Postfix $(postconf -dh mail_version); Dovecot $(dovecot --version);" \
    "$(openssl version)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo
# Medians per scenario and tool, then popfetch against the floors (issue 11's targets).
python3 - "$RESULTS" "$SMTP_N" <<'EOF'
import sys, statistics, collections
rows = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    sc, tool, it, wall, done, rss, got, cpu = line.split("\t")
    key = (sc, tool)
    if key not in rows:
        order.append(key)
    rows[key].append((float(wall), float(done), int(rss), int(got), float(cpu)))
names = {"a": "a: 1000 x 10 KiB", "b": "b: 20 x 5 MiB", "d": "d: 1 x 50 MiB", "c": "c: empty mailbox",
         "e": "e: 1 x 500 MiB"}
med = lambda key, i: statistics.median(r[i] for r in rows[key])
print("| scenario | tool | runs | exit s (median) | exit s (min–max) | delivered s (median) | max RSS MiB (median) | delivered | machine CPU s (median) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for sc, tool in order:
    r = rows[(sc, tool)]
    walls = [x[0] for x in r]
    print(f"| {names.get(sc, sc)} | {tool} | {len(r)} | {med((sc, tool), 0):.3f} | "
          f"{min(walls):.3f}–{max(walls):.3f} | {med((sc, tool), 1):.3f} | {med((sc, tool), 2) / 1024:.1f} | {r[0][3]} | "
          f"{med((sc, tool), 4):.2f} |")
print()
print("popfetch against the floors (ratio of medians; exit = until the tool ends, i.e. every message accepted by")
print("Postfix and, for popfetch, deleted on the POP3 server; delivered = until local(8) wrote the last one):")
print()
print("| scenario | popfetch run | floor | floor s (exit) | ratio exit | ratio delivered | target | ratio machine CPU |")
print("|---|---|---|---:|---:|---:|---|---:|")
n = sys.argv[2]
for sc in dict.fromkeys(s for s, _ in order):
    if sc in ("c", "e"):
        continue
    have = lambda t: (sc, t) in rows
    pairs = []
    if sc == "a":
        pairs = [("popfetch", "smtp-source-1", "1.1x"), ("popfetch-n", "smtp-source-n", "1.1x")]
    else:
        # Like for like with popfetch's one SMTP connection: smtp-source -s 1 (for one message -s N is the same).
        floors = [t for t in ("smtp-source-1", "pop3-floor") if have(t)]
        if floors:
            top = max(floors, key=lambda t: med((sc, t), 0))
            pairs = [("popfetch", top, "1.2x"), ("popfetch-n", top, "1.2x")]
    pairs.append(("popfetch", "floors-both", None))
    for tool, floor, target in pairs:
        if not (have(tool) and have(floor)):
            continue
        fe, fd = med((sc, floor), 0), med((sc, floor), 1)
        goal = f"≤ {target}" if target else "(diagnostic)"
        fc = med((sc, floor), 4)
        cpu = f"{med((sc, tool), 4) / fc:.2f}" if fc > 0 else "–"
        print(f"| {names[sc]} | {tool.replace('-n', '-' + n)} | {floor.replace('-n', '-' + n)} | {fe:.3f} | {med((sc, tool), 0) / fe:.2f} | "
              f"{med((sc, tool), 1) / fd:.2f} | {goal} | {cpu} |")
EOF
