#!/usr/bin/env bash
# Install the real servers the interop suite (tests/interop.rs, issue 3) runs against:
# Dovecot's POP3 and LMTP servers (LMTP: issue 11's client against a real server), Postfix and openssl, from the distribution's packages; and libfaketime (package
# `faketime`), which the clock-jump test of `cargo test` (tests/daemon/clock.rs, catalog D-05) preloads; and
# fetchmail, getmail6 and mpop, which the switch-over tests (tests/interop/import_tools.rs, issue 16) run for real.
# Exim and OpenSMTPD (issue 19) conflict with postfix, so they are not installed: tests/interop/mtas.sh fetch
# downloads and unpacks them; their shared libraries are installed here, and the system users their binaries
# were built for (Debian-exim; opensmtpd, opensmtpq) are created as their packages' postinst scripts would.
# Courier's POP3 server (issue 18) conflicts with dovecot-pop3d: tests/interop/courier.sh fetch unpacks it the same
# way; the libraries it needs are installed here.
#
# Idempotent: does nothing when every package is already installed. Non-interactive, and the packages'
# own system services are never started: a temporary policy-rc.d denies every invoke-rc.d action
# (exit 101 = "action forbidden", see /usr/share/doc/init-system-helpers/README.policy-rc.d).
set -euo pipefail

packages=(dovecot-core dovecot-pop3d dovecot-lmtpd dovecot-imapd postfix openssl faketime fetchmail getmail6 mpop procmail)
# Libraries of the unpacked exim4-daemon-light and opensmtpd (from their Depends), and unshare/mount for
# OpenSMTPD's private mount namespace.
packages+=(libdb5.3 libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libnsl2 libpcre2-8-0 libcrypt1
    libevent-2.1-7 libssl3 zlib1g libpam0g util-linux mount python3)
# Libraries of the unpacked courier-pop and courier-authlib (issue 18; libltdl7 and libcourier-unicode4 are unpacked
# with them), and perl for its makeuserdb.
packages+=(libgdbm6 libstdc++6 libgcc-s1 perl)
# script(1), which gives the progress-bar test of `cargo test` (tests/output.rs) a pseudo-terminal.
packages+=(bsdutils)

# The system users of the unpacked MTAs.
mta_users() {
    local u
    for u in Debian-exim opensmtpd opensmtpq; do
        if ! getent passwd "$u" >/dev/null; then
            $SUDO useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$u"
        fi
    done
}
mta_fetch() {
    $SUDO bash "$(dirname "$0")/../tests/interop/mtas.sh" fetch
    $SUDO bash "$(dirname "$0")/../tests/interop/courier.sh" fetch
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "interop-deps: all present (${packages[*]})"
    mta_users
    mta_fetch
    exit 0
fi
echo "interop-deps: installing ${missing[*]}"

policy=/usr/sbin/policy-rc.d
created_policy=0
cleanup() {
    if [ "$created_policy" -eq 1 ]; then
        $SUDO rm -f "$policy"
    fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary: written by popfetch .ci/interop-deps.sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    created_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
echo "postfix postfix/mailname string localhost" | $SUDO debconf-set-selections

$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}"

# Make sure nothing the packages might have started is still listening on the standard ports with the
# system config; the suite runs its own private instances.
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" | grep -q '^install ok installed$' || {
        echo "interop-deps: $p failed to install" >&2
        exit 1
    }
done
echo "interop-deps: installed ${missing[*]}"
mta_users
mta_fetch
