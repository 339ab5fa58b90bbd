#!/usr/bin/env bash
# Private, loopback-only Dovecot (POP3) and Postfix instances for the popfetch interop suite (issue 3).
#
#   servers.sh start DIR          generate certs and configs under DIR, start both, write DIR/env (KEY=VALUE)
#   servers.sh stop DIR           stop both and remove DIR (safe to call twice, and after a failed start)
#   servers.sh stop-postfix DIR   stop only Postfix (its queue and mailboxes stay)
#   servers.sh start-postfix DIR  start Postfix again with the same config
#   servers.sh postconf DIR 'NAME = VALUE'...
#                                 set main.cf parameters (postconf -e) and restart Postfix with them, e.g.
#                                 'smtpd_sender_restrictions = check_sender_access inline:{a@b.example=REJECT}'
#   servers.sh put DIR FILE...    copy each FILE byte for byte into the Dovecot mailbox (Maildir new/)
#   servers.sh wait-queue DIR [S] wait until the Postfix queue is empty (default at most 60 s)
#
# Everything lives under DIR: nothing is read from or written to /etc/postfix or /etc/dovecot, and the
# system's own services are never started or stopped. Postfix delivers with its real local(8) agent, the one
# that does the Delivered-To loop check ("mail forwarding loop", 5.4.6; virtual(8) has no such check), via
# aliases that name Maildir paths under DIR, so no system user is needed per mailbox. Mail on both sides is
# owned by `nobody` (it exists on every Debian system).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

die() {
    echo "servers.sh: $*" >&2
    exit 1
}

[ $# -ge 2 ] || die "usage: servers.sh start|stop|stop-postfix|start-postfix|postconf|put|wait-queue DIR [...]"
cmd=$1
DIR=$2
shift 2
case "$DIR" in
/*) ;;
*) DIR="$(pwd)/$DIR" ;;
esac

MAIL_USER=nobody
MAIL_UID=$(id -u "$MAIL_USER")
MAIL_GID=$(id -g "$MAIL_USER")
DOMAIN=example.test
POP_USER=joe
POP_PASS=interop-secret-$$
# The IMAP mailbox popfetch APPENDs to (issue 14): another user, so it is not the POP3 maildrop.
IMAP_USER=ann
IMAP_PASS=imap-secret-$$
TARGET=joe@$DOMAIN
SENDER=sender@$DOMAIN

need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] ||
        die "$1 not found: install the interop dependencies with .ci/interop-deps.sh"
}

# Is process $1 running? A zombie is not (in a container PID 1 may be slow to reap the daemons we end).
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$st" in
    Z*) return 1 ;;
    *) return 0 ;;
    esac
}

# Wait (at most $2 tenths of a second) until process $1 is gone.
wait_gone() {
    local pid=$1 n=${2:-100}
    while [ "$n" -gt 0 ] && alive "$pid"; do
        sleep 0.1
        n=$((n - 1))
    done
    ! alive "$pid"
}

gen_certs() {
    local tls=$DIR/tls
    mkdir -p "$tls"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 2 \
        -subj "/CN=popfetch interop CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    # A second, unrelated CA: a client trusting only this one must refuse the server (case 2).
    openssl req -x509 "${ec[@]}" -keyout "$tls/other-ca.key" -out "$tls/other-ca.pem" -days 2 \
        -subj "/CN=popfetch interop unrelated CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req "${ec[@]}" -keyout "$tls/server.key" -out "$tls/server.csr" -subj "/CN=localhost" 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 2 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    chmod 600 "$tls"/*.key
}

write_dovecot() {
    local d=$DIR/dovecot
    mkdir -p "$d/run" "$d/state" "$d/mail" "$d/home"
    chown "$MAIL_UID:$MAIL_GID" "$d/mail" "$d/home"
    # passwd-file: user:{scheme}password:uid:gid:gecos:home:shell:extra
    printf '%s:{PLAIN}%s::::::\n' "$POP_USER" "$POP_PASS" "$IMAP_USER" "$IMAP_PASS" >"$d/passwd"
    # A second mailbox, delivered to over LMTP by `delivery = "lmtp"` tests (issue 12): not the POP3 one popfetch
    # fetches from, so nothing fetched comes back. It has no password (LMTP does not log in).
    printf '%s:{PLAIN}%s::::::\n' "lmtpjoe" "no-login-$$" >>"$d/passwd"
    chmod 640 "$d/passwd"
    chgrp dovecot "$d/passwd"
    local ssl_dh=""
    [ -r /usr/share/dovecot/dh.pem ] && ssl_dh="ssl_dh = </usr/share/dovecot/dh.pem"
    # With OAUTH2_INTROSPECTION_URL set (issue 13), XOAUTH2 and OAUTHBEARER are offered and their tokens are
    # checked by Dovecot's oauth2 passdb against that RFC 7662 introspection endpoint (the tests' fake).
    local oauth_mechs="" oauth_passdb=""
    if [ -n "${OAUTH2_INTROSPECTION_URL:-}" ]; then
        oauth_mechs=" oauthbearer xoauth2"
        printf '%s\n' "introspection_mode = post" "introspection_url = $OAUTH2_INTROSPECTION_URL" \
            "force_introspection = yes" "username_attribute = username" "active_attribute = active" \
            "active_value = true" >"$d/oauth2.conf.ext"
        oauth_passdb="passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $d/oauth2.conf.ext
}"
    fi
    cat >"$d/dovecot.conf" <<EOF
# Generated by tests/interop/servers.sh: a private Dovecot for the popfetch interop suite.
protocols = pop3 lmtp imap
listen = 127.0.0.1
base_dir = $d/run
state_dir = $d/state
instance_name = popfetch-interop-$$
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
debug_log_path = $DIR/dovecot.log
auth_verbose = yes
auth_verbose_passwords = no
login_log_format_elements = user=<%u> method=%m rip=%r lip=%l mpid=%e %c
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
ssl = yes
ssl_cert = <$DIR/tls/server.pem
ssl_key = <$DIR/tls/server.key
$ssl_dh
disable_plaintext_auth = yes
auth_mechanisms = plain$oauth_mechs
mail_location = maildir:$d/mail/%u
mail_uid = $MAIL_UID
mail_gid = $MAIL_GID
pop3_uidl_format = %08Xu%08Xv
$oauth_passdb
passdb {
  driver = passwd-file
  args = scheme=PLAIN $d/passwd
}
userdb {
  driver = passwd-file
  args = $d/passwd
  default_fields = uid=$MAIL_UID gid=$MAIL_GID home=$d/home/%u
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S_PORT
    ssl = yes
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
  unix_listener lmtp {
    mode = 0600
  }
}
# LMTP recipients are full addresses (joe@example.test); the passwd-file knows the bare user name.
protocol lmtp {
  auth_username_format = %Ln
}
service anvil {
  chroot =
}
EOF
    mkdir -p "$d/mail/$POP_USER/new" "$d/mail/$POP_USER/cur" "$d/mail/$POP_USER/tmp" "$d/mail/lmtpjoe"
    chown -R "$MAIL_UID:$MAIL_GID" "$d/mail/$POP_USER" "$d/mail/lmtpjoe"
    mkdir -p "$d/mail/$IMAP_USER/new" "$d/mail/$IMAP_USER/cur" "$d/mail/$IMAP_USER/tmp"
    chown -R "$MAIL_UID:$MAIL_GID" "$d/mail/$IMAP_USER"
}

write_postfix() {
    local c=$DIR/postfix q=$DIR/postfix-queue m=$DIR/mail
    mkdir -p "$c" "$q" "$DIR/postfix-data" "$m"
    chown postfix "$DIR/postfix-data"
    chown "$MAIL_UID:$MAIL_GID" "$m"
    # local(8) aliases to Maildir paths (trailing slash). The table is owned by root, so local(8) writes
    # the files as default_privs (nobody). texthash: needs no postalias run; local(8) only looks names up.
    printf '%s\n' "joe $m/joe/" "sender $m/sender/" "postmaster $m/postmaster/" "mailer-daemon postmaster" \
        >"$c/aliases"
    cat >"$c/main.cf" <<EOF
# Generated by tests/interop/servers.sh: a private Postfix for the popfetch interop suite.
compatibility_level = 3.6
config_directory = $c
queue_directory = $q
data_directory = $DIR/postfix-data
mail_owner = postfix
setgid_group = postdrop
default_privs = $MAIL_USER
syslog_name = postfix-interop
maillog_file = $DIR/postfix.log
maillog_file_prefixes = $DIR
myhostname = mx.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
# local(8) does the Delivered-To loop check ("mail forwarding loop", 5.4.6); virtual(8) does not.
mydestination = $DOMAIN
local_transport = local
alias_maps = texthash:$c/aliases
alias_database =
local_recipient_maps = \$alias_maps
allow_mail_to_files = alias
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks_style = host
mynetworks = 127.0.0.0/8
relayhost =
default_transport = error:interop suite relays nowhere
message_size_limit = 104857600
mailbox_size_limit = 104857600
# No header rewriting or added headers for our client, so delivered bytes can be compared exactly.
local_header_rewrite_clients =
always_add_missing_headers = no
# Postfix 3.7 defaults differ from 3.9; be explicit and strict: bare LF from popfetch is a bug. ("yes" means
# "normalize" since 3.7.10; "reject" answers 550 5.5.2 for a bare LF anywhere in the session.)
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
smtpd_forbid_unauth_pipelining = yes
smtpd_banner = \$myhostname ESMTP popfetch-interop
biff = no
smtputf8_enable = yes
delay_warning_time = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C
EOF
    # No chroot anywhere: the private queue directory has no copy of /etc.
    cat >"$c/master.cf" <<EOF
# Generated by tests/interop/servers.sh (adapted from Debian's master.cf, chroot off).
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    # Postfix's load_file() waits, 300 ms at a time, until a table file's mtime is in the past (so that it
    # never reads a file that is still being written); backdate ours to start at once.
    touch -d '-5 seconds' "$c/main.cf" "$c/master.cf" "$c/aliases"
}

write_env() {
    cat >"$DIR/env" <<EOF
POP3_PORT=$POP3_PORT
POP3S_PORT=$POP3S_PORT
SMTP_PORT=$SMTP_PORT
LMTP_PORT=$LMTP_PORT
LMTP_SOCKET=$DIR/dovecot/run/lmtp
LMTP_TARGET=lmtpjoe@$DOMAIN
LMTP_MAILDIR=$DIR/dovecot/mail/lmtpjoe
CA_FILE=$DIR/tls/ca.pem
WRONG_CA_FILE=$DIR/tls/other-ca.pem
POP_USER=$POP_USER
POP_PASS=$POP_PASS
TARGET=$TARGET
SENDER=$SENDER
MAILDIR=$DIR/mail/joe
BOUNCE_MAILDIR=$DIR/mail/sender
POSTMASTER_MAILDIR=$DIR/mail/postmaster
DOVECOT_MAILDIR=$DIR/dovecot/mail/$POP_USER
IMAP_PORT=$IMAP_PORT
IMAPS_PORT=$IMAPS_PORT
IMAP_USER=$IMAP_USER
IMAP_PASS=$IMAP_PASS
IMAP_MAILDIR=$DIR/dovecot/mail/$IMAP_USER
DOVECOT_CONF=$DIR/dovecot/dovecot.conf
POSTFIX_CONFIG=$DIR/postfix
POSTFIX_QUEUE=$DIR/postfix-queue
POSTFIX_LOG=$DIR/postfix.log
DOVECOT_LOG=$DIR/dovecot.log
MAIL_UID=$MAIL_UID
MAIL_GID=$MAIL_GID
EOF
}

postfix_start() {
    postfix -c "$DIR/postfix" start >>"$DIR/postfix-start.out" 2>&1 ||
        die "postfix start failed: $(cat "$DIR/postfix-start.out")"
    wait_port "$SMTP_PORT" || die "postfix does not listen on $SMTP_PORT: $(tail -20 "$DIR/postfix.log" 2>/dev/null)"
}

postfix_stop() {
    local pidfile=$DIR/postfix-queue/pid/master.pid pid=""
    [ -f "$pidfile" ] && pid=$(tr -d ' \n' <"$pidfile")
    if [ -n "$pid" ] && alive "$pid"; then
        postfix -c "$DIR/postfix" abort >>"$DIR/postfix-start.out" 2>&1 || kill "$pid" 2>/dev/null || true
        wait_gone "$pid" 100 || kill -9 "$pid" 2>/dev/null || true
    fi
}

dovecot_stop() {
    local pidfile=$DIR/dovecot/run/master.pid pid=""
    [ -f "$pidfile" ] && pid=$(tr -d ' \n' <"$pidfile")
    if [ -n "$pid" ] && alive "$pid"; then
        kill "$pid" 2>/dev/null || true
        # A graceful Dovecot shutdown takes ~3 s (it waits for its helper processes); the mailbox is thrown
        # away anyway, so after a short grace period kill the master's process group (the daemonized master
        # leads its own group; its children are in it).
        if ! wait_gone "$pid" 5; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 50 || true
        fi
    fi
}

load_env() {
    [ -f "$DIR/env" ] || die "$DIR/env missing: was 'servers.sh start $DIR' run?"
    # shellcheck disable=SC1091
    . "$DIR/env"
}

case "$cmd" in
start)
    for t in openssl python3 postfix postconf dovecot; do need "$t"; done
    mkdir -p "$DIR"
    # Postfix (user postfix) and the mail processes (user nobody) must be able to traverse DIR.
    chmod 755 "$DIR"
    read -r POP3_PORT POP3S_PORT SMTP_PORT LMTP_PORT IMAP_PORT IMAPS_PORT < <(free_ports 6)
    gen_certs
    write_dovecot
    write_postfix
    write_env
    dovecot -c "$DIR/dovecot/dovecot.conf" >"$DIR/dovecot-start.out" 2>&1 ||
        die "dovecot failed to start: $(cat "$DIR/dovecot-start.out") $(tail -20 "$DIR/dovecot.log" 2>/dev/null)"
    wait_port "$POP3_PORT" || die "dovecot does not listen on $POP3_PORT: $(tail -20 "$DIR/dovecot.log")"
    wait_port "$POP3S_PORT" || die "dovecot does not listen on $POP3S_PORT: $(tail -20 "$DIR/dovecot.log")"
    wait_port "$LMTP_PORT" || die "dovecot does not listen on $LMTP_PORT (LMTP): $(tail -20 "$DIR/dovecot.log")"
    wait_port "$IMAPS_PORT" || die "dovecot does not listen on $IMAPS_PORT (IMAPS): $(tail -20 "$DIR/dovecot.log")"
    postfix_start
    cat "$DIR/env"
    ;;
stop)
    [ -d "$DIR" ] || exit 0
    postfix_stop
    dovecot_stop
    # Only remove what we created: refuse anything that does not look like our directory.
    if [ -f "$DIR/env" ] || [ -d "$DIR/dovecot" ] || [ -d "$DIR/postfix" ]; then
        rm -rf -- "$DIR"
    fi
    ;;
stop-postfix)
    load_env
    postfix_stop
    ;;
start-postfix)
    load_env
    postfix_start
    ;;
postconf)
    load_env
    [ $# -ge 1 ] || die "postconf: no 'NAME = VALUE' given"
    # A restart rather than a reload: a reload lets smtpd processes that are already running answer with the old
    # settings for a while; after a restart every connection sees the new ones.
    postfix_stop
    postconf -c "$DIR/postfix" -e "$@" || die "postconf -e $* failed"
    touch -d '-5 seconds' "$DIR/postfix/main.cf"
    postfix_start
    ;;
put)
    load_env
    n=0
    for f in "$@"; do
        n=$((n + 1))
        # Maildir name: unique, and sorting in the order given (Dovecot assigns UIDs as it finds them).
        name="$(date +%s).$(printf 'M%06dP%d' "$n" $$).interop"
        cp -- "$f" "$DOVECOT_MAILDIR/tmp/$name"
        chown "$MAIL_UID:$MAIL_GID" "$DOVECOT_MAILDIR/tmp/$name"
        mv -- "$DOVECOT_MAILDIR/tmp/$name" "$DOVECOT_MAILDIR/new/$name"
    done
    ;;
wait-queue)
    load_env
    limit=${1:-60}
    n=$((limit * 10))
    while [ "$n" -gt 0 ]; do
        if [ -z "$(find "$POSTFIX_QUEUE"/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | head -1)" ]; then
            exit 0
        fi
        sleep 0.1
        n=$((n - 1))
    done
    die "postfix queue not empty after ${limit}s"
    ;;
*)
    die "unknown command $cmd"
    ;;
esac
