#!/usr/bin/env bash
# A private, loopback-only Courier POP3 server (Courier 1.0.16, courier-authlib 0.71 from Debian 12) for the
# popfetch interop suite (issue 18), beside the suite's Dovecot.
#
#   courier.sh fetch              download and unpack the packages (idempotent; called by .ci/interop-deps.sh)
#   courier.sh start DIR TLS_DIR  start Courier on two free ports, TLS_DIR/server.{pem,key} as its certificate;
#                                 writes DIR/env (KEY=VALUE: POP3_PORT, POP3S_PORT, POP_USER, POP_PASS, MAILDIR,
#                                 MAIL_UID, MAIL_GID, POP3_LOG, POP3S_LOG)
#   courier.sh stop DIR           stop every process of its namespace and remove DIR (safe to call twice)
#
# courier-pop conflicts with dovecot-pop3d (both provide pop3-server), so it is not installed: `apt-get download`
# and `dpkg-deb -x` unpack it with what it needs into $POPFETCH_COURIER_CACHE (default
# /var/cache/popfetch-interop-courier) and it runs from there. Courier's paths are compiled in
# (/etc/courier/authdaemonrc and userdb.dat, /usr/lib/courier*, the libraries in /usr/lib,
# /run/courier/authdaemon/socket), so it runs in a private mount namespace (`unshare -m`): read-only overlays put
# DIR/etc/courier over /etc and the unpacked /usr/lib over /usr/lib, and /run is a private tmpfs. Nothing outside
# DIR and the cache is written; the system's own services are never touched.
#
# Inside: authdaemond (authmodulelist="authuserdb", a userdb built with makeuserdb, the password hashed with
# userdbpw) and two couriertcpd listeners on 127.0.0.1, as Debian's init scripts would start them but without
# courierlogger (each writes its log to DIR):
#   POP3_PORT   courierpop3login with STLS and POP3_TLS_REQUIRED=1, so a login there proves STLS was used;
#   POP3S_PORT  couriertls -server -tcpd in front of it (implicit TLS, as Debian's pop3d-ssl).
# Mail belongs to `nobody`; the Maildir is DIR/mail/joe (userdb's mail= field).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

die() {
    echo "courier.sh: $*" >&2
    exit 1
}

CACHE=${POPFETCH_COURIER_CACHE:-/var/cache/popfetch-interop-courier}
ROOT=$CACHE/root
PACKAGES=(courier-pop courier-base courier-authdaemon courier-authlib courier-authlib-userdb libcourier-unicode4
    libltdl7)
# What start runs, relative to ROOT; fetch checks them all.
BINARIES=(usr/sbin/couriertcpd usr/bin/couriertls usr/sbin/userdbpw usr/sbin/makeuserdb
    usr/lib/courier/courier-authlib/authdaemond usr/lib/courier/courier-authlib/makedatprog
    usr/lib/courier/courier/courierpop3login usr/lib/courier/courier/courierpop3d)

fetched() {
    local b
    for b in "${BINARIES[@]}"; do
        [ -x "$ROOT/$b" ] || return 1
    done
}

fetch() {
    if fetched; then
        echo "courier.sh: $ROOT already holds Courier's POP3 server"
        return 0
    fi
    apt_unpack "$CACHE" "${PACKAGES[@]}"
    fetched || die "Courier's binaries missing after unpacking ${PACKAGES[*]}"
    echo "courier.sh: unpacked ${PACKAGES[*]} into $ROOT"
}

# The mount namespace of process $1 ("mnt:[4026532178]"), or nothing.
mnt_ns() {
    readlink "/proc/$1/ns/mnt" 2>/dev/null || true
}

start() {
    fetched || die "Courier not unpacked in $ROOT: run .ci/interop-deps.sh (or courier.sh fetch)"
    for f in server.pem server.key; do
        [ -r "$TLS_DIR/$f" ] || die "$TLS_DIR/$f missing"
    done
    local uid gid pass port port_s
    uid=$(id -u nobody)
    gid=$(id -g nobody)
    pass=courier-secret-$$-$RANDOM
    read -r port port_s < <(free_ports 2)
    mkdir -p "$DIR/etc/courier" "$DIR/home" "$DIR/mail/joe"/{new,cur,tmp}
    chown -R "$uid:$gid" "$DIR/home" "$DIR/mail"
    # courierpop3login drops to the user `courier` before it runs couriertls for STLS; the package's postinst would
    # create that user. Inside the namespace the overlaid /etc/passwd maps the name to the mail user instead.
    { grep -v '^courier:' /etc/passwd; echo "courier:x:$uid:$gid:Courier (popfetch interop):/nonexistent:/usr/sbin/nologin"; } \
        >"$DIR/etc/passwd"
    { grep -v '^courier:' /etc/group; echo "courier:x:$gid:"; } >"$DIR/etc/group"
    chmod 644 "$DIR/etc/passwd" "$DIR/etc/group"
    # couriertls reads the key and the certificate from one PEM file.
    cat "$TLS_DIR/server.key" "$TLS_DIR/server.pem" >"$DIR/etc/courier/pop3d.pem"
    # couriertls runs as that user for STLS (below), as root behind couriertcpd for implicit TLS.
    chown "$uid:$gid" "$DIR/etc/courier/pop3d.pem"
    chmod 600 "$DIR/etc/courier/pop3d.pem"
    printf '%s\n' 'authmodulelist="authuserdb"' 'daemons=2' 'authdaemonvar=/run/courier/authdaemon' \
        'DEBUG_LOGIN=0' 'DEFAULTOPTIONS=""' 'LOGGEROPTS=""' >"$DIR/etc/courier/authdaemonrc"
    local hash
    hash=$(printf '%s\n%s\n' "$pass" "$pass" | "$ROOT/usr/sbin/userdbpw" -md5)
    printf 'joe\tuid=%s|gid=%s|home=%s|mail=%s|systempw=%s\n' "$uid" "$gid" "$DIR/home" "$DIR/mail/joe" "$hash" \
        >"$DIR/etc/courier/userdb"
    chmod 600 "$DIR/etc/courier/userdb"
    # The environment Debian's /etc/courier/pop3d and pop3d-ssl give courierpop3login, minus what needs the
    # courier user or a cache file; TLS_DHPARAMS is not needed for the ECDHE suites of an EC certificate.
    local login=/usr/lib/courier/courier/courierpop3login pop3d=/usr/lib/courier/courier/courierpop3d
    local common="POP3AUTH= POP3AUTH_TLS= POP3_PROXY=0 MIME_UNICODE_MESSAGE_TYPE=message/global \
COURIERTLS=$ROOT/usr/bin/couriertls TLS_CERTFILE=/etc/courier/pop3d.pem TLS_VERIFYPEER=NONE TLS_DHPARAMS= \
TLS_CACHEFILE= TLS_TRUSTCERTS="
    local tcpd="$ROOT/usr/sbin/couriertcpd -address=127.0.0.1 -nodnslookup -noidentlookup -maxprocs=40 -maxperip=40"
    cat >"$DIR/ns.sh" <<EOF
set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/courier/authdaemon
mount -t overlay overlay -o "lowerdir=$DIR/etc:/etc" /etc
mount -t overlay overlay -o "lowerdir=$ROOT/usr/lib:/usr/lib" /usr/lib
perl $ROOT/usr/sbin/makeuserdb -f $DIR/etc/courier/userdb
env -i /usr/lib/courier/courier-authlib/authdaemond >>"$DIR/authdaemond.log" 2>&1 &
env -i $common POP3_TLS=0 POP3_STARTTLS=YES POP3_TLS_REQUIRED=1 \
    $tcpd $port $login $pop3d Maildir >>"$DIR/pop3.log" 2>&1 &
env -i $common POP3_TLS=1 POP3_STARTTLS=NO POP3_TLS_REQUIRED=0 \
    $tcpd $port_s $ROOT/usr/bin/couriertls -server -tcpd $login $pop3d Maildir >>"$DIR/pop3s.log" 2>&1 &
wait
EOF
    # setsid: its own session and process group. authdaemond ends its children with kill(0, SIGTERM) when it is
    # stopped, which would otherwise reach every process of the caller's group (the test binary, cargo, a shell).
    unshare -m --propagation private setsid sh "$DIR/ns.sh" >"$DIR/ns.log" 2>&1 </dev/null &
    local ns_pid=$!
    echo "$ns_pid" >"$DIR/ns.pid"
    wait_port "$port" || die "courier does not listen on $port: $(cat "$DIR"/*.log)"
    wait_port "$port_s" || die "courier does not listen on $port_s (TLS): $(cat "$DIR"/*.log)"
    # stop kills every process of this namespace: record it, and make sure it is not ours.
    local ns
    ns=$(mnt_ns "$ns_pid")
    [ -n "$ns" ] && [ "$ns" != "$(mnt_ns $$)" ] || die "courier's mount namespace is not private"
    echo "$ns" >"$DIR/ns"
    # authdaemond's socket: the first login must not race its start.
    local n=100
    while [ "$n" -gt 0 ] && ! nsenter -t "$ns_pid" -m test -S /run/courier/authdaemon/socket; do
        sleep 0.05
        n=$((n - 1))
    done
    [ "$n" -gt 0 ] || die "authdaemond did not start: $(cat "$DIR/authdaemond.log" "$DIR/ns.log")"
    printf 'POP3_PORT=%s\nPOP3S_PORT=%s\nPOP_USER=joe\nPOP_PASS=%s\nMAILDIR=%s\nMAIL_UID=%s\nMAIL_GID=%s\n' \
        "$port" "$port_s" "$pass" "$DIR/mail/joe" "$uid" "$gid" >"$DIR/env"
    printf 'POP3_LOG=%s\nPOP3S_LOG=%s\n' "$DIR/pop3.log" "$DIR/pop3s.log" >>"$DIR/env"
}

# The pids whose mount namespace is $1.
ns_pids() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
    done
    return 0
}

stop() {
    [ -d "$DIR" ] || return 0
    local ns="" pids n
    [ -f "$DIR/ns" ] && ns=$(cat "$DIR/ns")
    # Started but killed before it wrote DIR/ns: the namespace's first process is still known.
    if [ -z "$ns" ] && [ -f "$DIR/ns.pid" ]; then
        ns=$(mnt_ns "$(cat "$DIR/ns.pid")")
    fi
    if [ -n "$ns" ] && [ "$ns" != "$(mnt_ns $$)" ]; then
        pids=$(ns_pids "$ns")
        [ -z "$pids" ] || kill $pids 2>/dev/null || true
        n=30
        while [ "$n" -gt 0 ] && [ -n "$(ns_pids "$ns")" ]; do
            sleep 0.1
            n=$((n - 1))
        done
        pids=$(ns_pids "$ns")
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    fi
    # Only remove what we created.
    if [ -f "$DIR/ns.sh" ] || [ -f "$DIR/env" ]; then
        rm -rf -- "$DIR"
    fi
}

[ $# -ge 1 ] || die "usage: courier.sh fetch | start DIR TLS_DIR | stop DIR"
cmd=$1
shift
case "$cmd" in
fetch) fetch ;;
start)
    [ $# -eq 2 ] || die "usage: courier.sh start DIR TLS_DIR"
    DIR=$1
    TLS_DIR=$2
    mkdir -p "$DIR"
    # The mail user must reach its Maildir.
    chmod 755 "$DIR"
    start
    cat "$DIR/env"
    ;;
stop)
    [ $# -eq 1 ] || die "usage: courier.sh stop DIR"
    DIR=$1
    stop
    ;;
*) die "unknown command $cmd" ;;
esac
