#!/usr/bin/env bash
# The Debian package, end to end, on this machine. Run as root: it installs and
# purges the package fastpki and creates the system user fastpki, so run it on a CI
# or throwaway machine (.ci/run does), not where a real FastPKI is installed.
#
# 1. builds the release binary and the .deb (cargo deb, installed from crates.io when missing);
# 2. checks what the packaged binary links (glibc and libgcc_s only) and that the newest
#    glibc symbol version it needs is covered by the package's Depends;
# 3. dpkg -i; checks the user, folders, modes, conffile and unit;
# 4. starts the installed /usr/bin/fastpki as user fastpki with the installed settings
#    (systemd is usually not PID 1 here), waits for 200 from /readyz, checks the secrets
#    generated at first start (mode 0600, never logged), and after a restart that the same
#    secrets, tokens and sealed keys serve; `fastpki backup` while it runs, `fastpki restore`
#    refused while it runs and done once it is stopped, all with the installed binary;
# 5. systemd-analyze verify on the installed unit, where systemd-analyze exists;
# 6. dpkg -r (settings and state stay), dpkg -P (both go).
#
# Each stage prints its wall time. CARGO_TARGET_DIR defaults to CI's /var/tmp/fastpki-target.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "package_test.sh installs a package and creates a system user: run it as root" >&2
    exit 1
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/fastpki-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Pinned: the maintainer-script fragments and the unit path come from it.
cargo_deb_version=3.8.0
marker=/var/lib/fastpki/.fastpki-package-test

stage_name=""
stage_start=$SECONDS
stage() {
    if [ -n "$stage_name" ]; then echo "-- $stage_name took $((SECONDS - stage_start)) s"; fi
    stage_name="$1"
    stage_start=$SECONDS
    if [ -n "$1" ]; then echo "== package: $1"; fi
}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# owner:group mode of a path, as stat prints them.
perms() { stat -c '%U:%G %a' "$1"; }
expect_perms() {
    local got
    got="$(perms "$1")"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
    echo "   $1: $got"
}

work="$(mktemp -d)"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid"
        local status=0
        wait "$server_pid" || status=$?
        server_pid=""
        return "$status"
    fi
    server_pid=""
}
cleanup() {
    local status=$?
    stop_server || true
    if [ -f "$marker" ] || { dpkg -s fastpki >/dev/null 2>&1 && [ "$installed_here" = 1 ]; }; then
        dpkg -P fastpki >/dev/null 2>&1 || true
    fi
    if [ "$status" != 0 ] && [ -f "$work/serve.log" ]; then
        echo "--- server log" >&2
        tail -n 50 "$work/serve.log" >&2
    fi
    rm -rf "$work"
}
installed_here=0
trap cleanup EXIT

if dpkg -s fastpki >/dev/null 2>&1; then
    if [ -f "$marker" ]; then
        echo "   purging the fastpki package a previous run of this script left installed"
        dpkg -P fastpki >/dev/null
    else
        fail "the fastpki package is installed and was not installed by this script: not touching it"
    fi
fi

stage "cargo-deb $cargo_deb_version"
if [ "$(cargo deb --version 2>/dev/null | awk '{print $NF}')" != "$cargo_deb_version" ]; then
    cargo install --locked --quiet cargo-deb --version "$cargo_deb_version"
fi
cargo deb --version

stage "release build (cargo build --release, target $CARGO_TARGET_DIR)"
cargo build --release --locked --bin fastpki

stage "the .deb (cargo deb --no-build)"
cargo deb --no-build --fast --output "$work/" >"$work/cargo-deb.out"
deb="$(ls "$work"/fastpki_*.deb)"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\|Installed-Size\):/   &/p'
dpkg-deb --contents "$deb" | awk '{print "   " $1, $2, $6}'
mkdir "$work/root"
dpkg-deb -x "$deb" "$work/root"
bin="$work/root/usr/bin/fastpki"

stage "what the packaged binary links"
echo "   NEEDED: $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
ldd "$bin" | sed 's/^/   /'
# glibc's libraries, the dynamic loader, and GCC's unwinder (libgcc_s, which Rust's
# standard library links for panics; package libgcc-s1, on every Debian and Ubuntu).
unexpected="$(ldd "$bin" | awk '{print $1}' | grep -vE '^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libgcc_s\.so\.1|/lib64/ld-linux-x86-64\.so\.2|/lib/ld-linux-aarch64\.so\.1)$' || true)"
[ -z "$unexpected" ] || fail "the binary links more than glibc and libgcc_s: $unexpected"
glibc_needed="$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)"
gcc_needed="$(objdump -T "$bin" | grep -o 'GCC_[0-9][0-9.]*' | sed 's/GCC_//' | sort -uV | tail -n 1)"
depends="$(dpkg-deb -f "$deb" Depends)"
glibc_declared="$(sed -n 's/.*libc6 (>= \([0-9.]*\)).*/\1/p' <<<"$depends")"
echo "   newest symbol versions: GLIBC_$glibc_needed, GCC_${gcc_needed:-none}; Depends: $depends"
[ -n "$glibc_declared" ] || fail "Depends ($depends) has no libc6 (>= version)"
dpkg --compare-versions "$glibc_needed" le "$glibc_declared" \
    || fail "the binary needs glibc $glibc_needed but the package declares libc6 (>= $glibc_declared): raise it in Cargo.toml and docs/deployment.md"
echo "   glibc $glibc_needed or newer: covered by libc6 (>= $glibc_declared)"

stage "dpkg -i"
installed_here=1
dpkg -i "$deb"
touch "$marker"
dpkg -s fastpki | grep -E '^(Status|Version|Depends):' | sed 's/^/   /'
[ "$(dpkg-query -W -f='${Status}' fastpki)" = "install ok installed" ] || fail "fastpki is not installed"
dpkg-query -W -f='${Conffiles}\n' fastpki | grep -q '/etc/fastpki/fastpki.env' \
    || fail "/etc/fastpki/fastpki.env is not a conffile"

stage "the user, folders and modes"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd fastpki) || fail "no user fastpki"
echo "   fastpki: uid $uid, gid $gid, home $home, shell $shell"
[ "$home" = /var/lib/fastpki ] || fail "fastpki's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "fastpki's shell is $shell"
[ "$uid" -lt 1000 ] || fail "fastpki is not a system user (uid $uid)"
[ "$(id -gn fastpki)" = fastpki ] || fail "fastpki's group is $(id -gn fastpki)"
expect_perms /usr/bin/fastpki "root:root 755"
expect_perms /etc/fastpki "root:fastpki 750"
expect_perms /etc/fastpki/fastpki.env "root:fastpki 640"
expect_perms /var/lib/fastpki "fastpki:fastpki 700"
unit="$(dpkg -L fastpki | grep '/systemd/system/fastpki\.service$')"
expect_perms "$unit" "root:root 644"
[ -L /etc/systemd/system/multi-user.target.wants/fastpki.service ] \
    || fail "the unit is not enabled (no multi-user.target.wants link)"
echo "   enabled: /etc/systemd/system/multi-user.target.wants/fastpki.service"
if [ -d /run/systemd/system ]; then
    echo "   systemd is running: the package started the unit; stopping it for the checks below"
    systemctl stop fastpki
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
api="$base/api/v1"
# As the unit runs it: user fastpki, the installed settings, the state folder as working
# directory, umask 0077. Call it in a subshell: it execs (setpriv, env and sh exec too), so
# the subshell becomes the command, and `( as_service ... ) &` makes $! the server itself.
as_service() {
    cd /var/lib/fastpki
    umask 0077
    exec setpriv --reuid=fastpki --regid=fastpki --init-groups \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        sh -c 'set -a; . /etc/fastpki/fastpki.env; set +a; exec "$@"' sh "$@"
}
start_server() {
    (as_service /usr/bin/fastpki serve --bind "127.0.0.1:$port") >>"$work/serve.log" 2>&1 &
    server_pid=$!
    local started=$SECONDS
    until curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; do
        kill -0 "$server_pid" 2>/dev/null || fail "the installed server exited before it was ready"
        [ $((SECONDS - started)) -lt 30 ] || fail "no 200 from /readyz within 30 s"
        sleep 0.2
    done
    [ "$(readlink "/proc/$server_pid/exe")" = /usr/bin/fastpki ] || fail "process $server_pid is not the server"
    [ "$(stat -c %U "/proc/$server_pid")" = fastpki ] || fail "the server does not run as fastpki"
    echo "   GET /readyz: $(curl -fsS "$base/readyz") after $((SECONDS - started)) s (pid $server_pid, user fastpki)"
}
secrets=(/var/lib/fastpki/secret_key /var/lib/fastpki/service_account_token_pepper
    /var/lib/fastpki/private_key_encryption_key)

stage "the installed server, first start"
start_server
for f in "${secrets[@]}" /var/lib/fastpki/fastpki.db; do
    expect_perms "$f" "fastpki:fastpki 600"
done
for f in "${secrets[@]}"; do
    if grep -qF "$(cat "$f")" "$work/serve.log"; then fail "$f reached the log"; fi
done
grep -q "SECRET_KEY is not set: generated one" "$work/serve.log" || fail "no warning about the generated SECRET_KEY"
sha256sum "${secrets[@]}" >"$work/secrets.sha256"
password="package-test-passphrase-$$"
curl -fsS -o /dev/null -X POST "$api/users/" -H 'Content-Type: application/json' \
    -d "{\"username\": \"admin\", \"email\": \"admin@example.com\", \"password\": \"$password\", \"role\": \"superuser\"}"
token="$(curl -fsS -X POST "$api/auth/token" --data-urlencode username=admin --data-urlencode "password=$password" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
ca_id="$(curl -fsS -X POST "$api/cas/" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"name": "Package Root", "subject_dn": "CN=Package Root", "key_algorithm": "ecdsa-p256", "valid_days": 30}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
echo "   first user, a token, and CA $ca_id"
sealed="$(sqlite3 /var/lib/fastpki/fastpki.db "SELECT substr(private_key, 1, 6) FROM certificate_authorities WHERE id = $ca_id")"
[ "$sealed" = gAAAAA ] || fail "the CA key is not sealed at rest (starts with $sealed)"
echo "   the CA's private key is stored sealed (Fernet) with the generated key"
stop_server || fail "the server did not stop cleanly on SIGTERM"

stage "the installed server, second start: the same secrets"
start_server
sha256sum --quiet -c "$work/secrets.sha256" || fail "the secrets changed across a restart"
echo "   the secret files are unchanged"
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$api/users/me" \
    || fail "a token from before the restart is refused: SECRET_KEY was not reused"
curl -fsS -H "Authorization: Bearer $token" "$api/export/ca/$ca_id/private-key" | grep -q 'BEGIN PRIVATE KEY' \
    || fail "the CA key does not open after a restart: the encryption key was not reused"
echo "   the token from before the restart works; the CA's key opens"
(as_service /usr/bin/fastpki backup --to /var/lib/fastpki/package-test-backup.db) | sed 's/^/   /'
expect_perms /var/lib/fastpki/package-test-backup.db "fastpki:fastpki 600"
if (as_service /usr/bin/fastpki restore --from /var/lib/fastpki/package-test-backup.db --force) >"$work/restore.out" 2>&1; then
    fail "restore ran under a running server"
fi
grep -q "is in use" "$work/restore.out" || fail "restore under a running server: $(cat "$work/restore.out")"
echo "   restore under the running server: refused"
stop_server || fail "the server did not stop cleanly on SIGTERM"

stage "restore with the installed binary, third start"
(as_service /usr/bin/fastpki restore --from /var/lib/fastpki/package-test-backup.db --force) | sed 's/^/   /'
expect_perms /var/lib/fastpki/fastpki.db "fastpki:fastpki 600"
rm -f /var/lib/fastpki/package-test-backup.db
start_server
curl -fsS -H "Authorization: Bearer $token" "$api/export/ca/$ca_id/private-key" | grep -q 'BEGIN PRIVATE KEY' \
    || fail "the restored database does not serve the CA key"
echo "   the restored database serves the token and the CA's key"
stop_server || fail "the server did not stop cleanly on SIGTERM"

stage "systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
    # Offline: loads the unit file and checks it (directives, the binary, the user), no PID 1 needed.
    systemd-analyze verify "$unit"
    echo "   $unit: accepted"
    systemd-analyze security --offline=true "$unit" 2>/dev/null | tail -n 1 | sed 's/^/   security: /' || true
else
    echo "   skipped: systemd-analyze is not installed (package systemd; not installed here on purpose)"
fi

stage "dpkg -r: the program goes, settings and state stay"
dpkg -r fastpki >/dev/null
[ ! -e /usr/bin/fastpki ] || fail "/usr/bin/fastpki is still there"
[ -f /etc/fastpki/fastpki.env ] || fail "dpkg -r removed the settings"
[ -f /var/lib/fastpki/fastpki.db ] || fail "dpkg -r removed the database"
[ "$(dpkg-query -W -f='${Status}' fastpki)" = "deinstall ok config-files" ] || fail "unexpected status after dpkg -r"
echo "   status: $(dpkg-query -W -f='${Status}' fastpki); /etc/fastpki and /var/lib/fastpki kept"

stage "dpkg -P: settings and state go"
dpkg -P fastpki >/dev/null
installed_here=0
[ ! -e /etc/fastpki ] || fail "/etc/fastpki is still there after purge"
[ ! -e /var/lib/fastpki ] || fail "/var/lib/fastpki is still there after purge"
[ ! -e /etc/systemd/system/multi-user.target.wants/fastpki.service ] || fail "the unit is still enabled after purge"
if dpkg -s fastpki >/dev/null 2>&1; then fail "fastpki is still known to dpkg after purge"; fi
getent passwd fastpki >/dev/null || fail "the system user was removed (Debian keeps system users)"
echo "   /etc/fastpki and /var/lib/fastpki removed; the system user fastpki stays"
stage ""
