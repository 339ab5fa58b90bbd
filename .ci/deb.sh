#!/usr/bin/env bash
# Build the Debian package with cargo-deb, install it with dpkg -i on this machine, check what it installed, purge
# it and check that nothing is left but what Debian policy keeps (the popfetch system user). Issue 17.
# Run as root (CI is); every step is timed.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# cargo-deb 3.8.0 builds with rustc 1.95 (measured: about 2 min of CPU, 3 to 8 min on a busy 2-core machine).
CARGO_DEB_VERSION=3.8.0

fail() {
    echo "deb: FAIL: $*" >&2
    exit 1
}
step() {
    echo "deb: $* ($(date +%T))"
}

step "tools"
missing=()
command -v man >/dev/null || missing+=(man-db)
command -v dpkg-shlibdeps >/dev/null || missing+=(dpkg-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! cargo deb --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
    start=$SECONDS
    cargo install --locked --version "$CARGO_DEB_VERSION" cargo-deb
    echo "deb: cargo install cargo-deb took $((SECONDS - start)) s"
fi

step "build"
start=$SECONDS
rm -rf target/debian
cargo deb --locked
echo "deb: cargo deb took $((SECONDS - start)) s"
debs=(target/debian/popfetch_*.deb)
[ "${#debs[@]}" -eq 1 ] || fail "expected one .deb, got ${debs[*]}"
deb=${debs[0]}
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"

if dpkg -s popfetch >/dev/null 2>&1; then
    fail "popfetch is already installed on this machine; not touching it"
fi
had_user=0
getent passwd popfetch >/dev/null && had_user=1

step "install"
dpkg -i "$deb"
trap 'dpkg --purge popfetch >/dev/null 2>&1 || true' EXIT
dpkg -L popfetch | sort >/tmp/popfetch-deb-files.txt

step "check the installed package"
/usr/bin/popfetch --version | grep -qx "popfetch $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" \
    || fail "popfetch --version: $(/usr/bin/popfetch --version)"
man -w popfetch | grep -q '^/usr/share/man/man1/popfetch\.1' || fail "man -w popfetch"
man -w popfetch.toml | grep -q '^/usr/share/man/man5/popfetch\.toml\.5' || fail "man -w popfetch.toml"
for f in /usr/share/bash-completion/completions/popfetch /usr/share/zsh/vendor-completions/_popfetch \
    /usr/share/fish/vendor_completions.d/popfetch.fish; do
    [ -s "$f" ] || fail "completion file $f missing"
done
diff <(/usr/bin/popfetch completions bash) /usr/share/bash-completion/completions/popfetch \
    || fail "installed bash completion differs from the binary's"
bash -c 'source /usr/share/bash-completion/completions/popfetch && complete -p popfetch' | grep -q _popfetch \
    || fail "bash completion does not register"
[ -s /usr/share/doc/popfetch/examples/config.example.toml ] || fail "config.example.toml missing"
unit=/lib/systemd/system/popfetch.service
grep -q '^ExecStart=/usr/bin/popfetch ' "$unit" || fail "unit does not run /usr/bin/popfetch"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
    echo "deb: systemd-analyze verify: ok"
else
    echo "deb: no systemd-analyze here; unit not verified"
fi
getent passwd popfetch | grep -q ':/var/lib/popfetch:/usr/sbin/nologin$' || fail "popfetch user: $(getent passwd popfetch)"
[ "$(stat -c '%a %U %G' /var/lib/popfetch)" = "700 popfetch popfetch" ] || fail "/var/lib/popfetch: $(stat -c '%a %U %G' /var/lib/popfetch)"
[ "$(stat -c '%a %U %G' /etc/popfetch)" = "750 root popfetch" ] || fail "/etc/popfetch: $(stat -c '%a %U %G' /etc/popfetch)"
# Nothing enabled or started.
if ls /etc/systemd/system/*.wants/popfetch.service >/dev/null 2>&1; then
    fail "the package enabled the unit"
fi
if pgrep -f '^/usr/bin/popfetch' >/dev/null; then
    fail "a popfetch process runs after install"
fi
# The installed binary works as the system user against a config in /etc/popfetch.
printf '[[account]]\nname = "isp"\nhost = "pop.example.jp"\nuser = "me"\npassword_command = ["/bin/false"]\ntarget = "me@example.org"\n' \
    >/etc/popfetch/config.toml
chown popfetch:popfetch /etc/popfetch/config.toml
chmod 600 /etc/popfetch/config.toml
runuser -u popfetch -- env XDG_STATE_HOME=/var/lib popfetch -c /etc/popfetch/config.toml check
set +e
runuser -u popfetch -- env XDG_STATE_HOME=/var/lib popfetch -c /etc/popfetch/config.toml -q status
code=$?
set -e
[ "$code" -eq 1 ] || fail "status of a never-polled account exited $code, not 1"
rm /etc/popfetch/config.toml
# A file the daemon would have written, so purge has something to remove.
runuser -u popfetch -- touch /var/lib/popfetch/isp.status

step "purge"
dpkg --purge popfetch
trap - EXIT
dpkg -s popfetch >/dev/null 2>&1 && fail "popfetch still known to dpkg"
left=()
while read -r path; do
    [ -e "$path" ] || continue
    # Directories shared with other packages (/usr/bin, /usr/share/man/man1, ...) stay.
    if [ -d "$path" ] && [ "$(dpkg -S "$path" 2>/dev/null | wc -l)" -gt 0 ]; then
        continue
    fi
    if [ -d "$path" ] && [ -n "$(ls -A "$path")" ]; then
        continue
    fi
    left+=("$path")
done </tmp/popfetch-deb-files.txt
[ "${#left[@]}" -eq 0 ] || fail "left after purge: ${left[*]}"
for p in /usr/bin/popfetch /usr/share/doc/popfetch /lib/systemd/system/popfetch.service /var/lib/popfetch \
    /etc/popfetch; do
    [ ! -e "$p" ] || fail "$p left after purge"
done
# Debian keeps system users on purge (removing one could hand its uid to another user's files).
getent passwd popfetch >/dev/null || fail "the popfetch user was removed"
if [ "$had_user" -eq 0 ]; then
    echo "deb: purge left only the popfetch system user, as Debian policy keeps it"
fi
rm -f /tmp/popfetch-deb-files.txt
echo "deb: ok"
