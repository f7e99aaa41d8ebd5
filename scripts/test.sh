#!/usr/bin/env bash
# Runs every test: unit tests, the HTTP and CLI suites on SQLite, the interop tests
# (openssl, pkilint, the Python client), and the HTTP suite again on PostgreSQL when
# FASTPKI_TEST_DATABASE_URL names a database the tests may create databases from.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt() {
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    else
        echo "missing: $* (install with apt-get)" >&2
        exit 1
    fi
}

# Debian packages the tests run: openssl and curl; pebble-challtestsrv (package
# pebble: the DNS, http-01 and tls-alpn-01 peer of the ACME tests); lego and caddy
# (real ACME clients, scripts/acme_clients.py); promtool (package prometheus: checks the
# text of GET /metrics, tests/api/metrics.rs). certbot comes from PyPI.
missing=()
for pair in openssl:openssl curl:curl pebble-challtestsrv:pebble lego:lego caddy:caddy promtool:prometheus; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
[ ${#missing[@]} -eq 0 ] || need_apt "${missing[@]}"
# pkilint lints issued certificates and CRLs; cryptography (a pkilint dependency)
# checks Fernet interoperability with Python.
# Pinned: the lint tests read its JSON report and exit status, and expect the findings
# its canary test names; move the pin deliberately, with those tests.
pkilint_version=0.13.3
[ "$(python3 -m pip show pkilint 2>/dev/null | sed -n "s/^Version: //p")" = "$pkilint_version" ] \
    || python3 -m pip install --quiet --disable-pip-version-check "pkilint==$pkilint_version"
python3 -c "import cryptography" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check cryptography

# FASTPKI_REQUIRE_POSTGRES=1 (set by .ci/run) makes the PostgreSQL pass mandatory, and
# makes a test of that pass fail, rather than skip or fall back to SQLite, without the URL.
if [ "${FASTPKI_REQUIRE_POSTGRES:-}" = 1 ] && [ -z "${FASTPKI_TEST_DATABASE_URL:-}" ]; then
    echo "FASTPKI_REQUIRE_POSTGRES=1 but FASTPKI_TEST_DATABASE_URL is not set" >&2
    exit 1
fi

# Each stage prints its name when it starts and its wall time when it ends.
stage_name=""
stage_start=$SECONDS
stage() {
    if [ -n "$stage_name" ]; then echo "-- $stage_name took $((SECONDS - stage_start)) s"; fi
    stage_name="$1"
    stage_start=$SECONDS
    if [ -n "$1" ]; then echo "== $1"; fi
}

stage "layers: every import points down (docs/architecture.md)"
python3 scripts/layers.py

stage "all tests (SQLite)"
env -u FASTPKI_TEST_DATABASE_URL -u FASTPKI_REQUIRE_POSTGRES cargo test --workspace

stage "the published Python client (pip install fastpki==0.4.0) against the server"
./scripts/python-client-interop.sh "${CARGO_TARGET_DIR:-target}/debug/fastpki"

stage "real ACME clients (certbot, lego, Caddy) against the server over HTTPS"
python3 scripts/acme_clients.py "${CARGO_TARGET_DIR:-target}/debug/fastpki"

stage "OpenAPI-driven fuzzing (schemathesis) against the server"
./scripts/schemathesis.sh "${CARGO_TARGET_DIR:-target}/debug/fastpki"

if [ -n "${FASTPKI_TEST_DATABASE_URL:-}" ]; then
    stage "HTTP tests, crash safety, two servers on one database and TLS to it (PostgreSQL)"
    # --workspace: the same feature set as the SQLite run, so nothing is compiled again.
    FASTPKI_REQUIRE_POSTGRES=1 cargo test --workspace --test api --test crash --test two_servers --test startup --test webhooks_restart
    stage "real ACME clients (certbot, lego, Caddy) against the server over HTTPS (PostgreSQL)"
    python3 scripts/acme_clients.py "${CARGO_TARGET_DIR:-target}/debug/fastpki" --postgres "$FASTPKI_TEST_DATABASE_URL"
fi
stage ""
