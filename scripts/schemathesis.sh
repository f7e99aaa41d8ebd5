#!/usr/bin/env bash
# OpenAPI-driven fuzzing: runs Schemathesis against the server's own OpenAPI
# document (`{API_V1_STR}/openapi.json`) and fails on any finding.
#
#   scripts/schemathesis.sh [path/to/fastpki]   (default: target/debug/fastpki)
#
# Installs Schemathesis (pinned) in a cached venv, starts the server on a free
# port with a temporary SQLite database and ENABLE_DOCS=true, creates the first
# user (a superuser) through the API and some data (organization, CAs,
# certificate, service account, webhook), then fuzzes every operation as that superuser
# (scripts/schemathesis_hooks.py; a 401 is never retried). Checks: no 5xx
# (`not_a_server_error`), every status code documented
# (`status_code_conformance`), bodies, headers and content types as documented
# (`response_schema_conformance`, `response_headers_conformance`,
# `content_type_conformance`), authentication enforced where the document
# asks for it (`ignored_auth`, `missing_required_header`) and 405 for methods
# it does not list (`unsupported_method`). Afterwards the server log must hold
# no 5xx response and no panic. One worker: Hypothesis is not thread-safe
# enough for two (spurious "AST constructor recursion depth mismatch" errors).
#
# FASTPKI_FUZZ_EXAMPLES (default 25): examples per operation and phase.
# FASTPKI_FUZZ_SEED: a fixed seed to replay a run (default: random, printed).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/fastpki}")"
ST_VERSION="4.32.5"
EXAMPLES="${FASTPKI_FUZZ_EXAMPLES:-25}"
SEED="${FASTPKI_FUZZ_SEED:-$(python3 -c 'import random; print(random.randrange(1, 2**31))')}"
VENV="${FASTPKI_SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/fastpki/schemathesis-$ST_VERSION}"
PASSWORD="fuzzer-password-0123"
CHECKS="not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"
CHECKS="$CHECKS,response_headers_conformance,ignored_auth,missing_required_header,unsupported_method"
HOOKS_DIR="$(pwd)/scripts"

[ -x "$BIN" ] || { echo "no server binary at $BIN (build it with cargo build)" >&2; exit 2; }
for tool in python3 curl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
    echo "== installing schemathesis==$ST_VERSION in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    if [ -f "$WORK/server.log" ]; then echo "--- server log (tail)" >&2; tail -n 30 "$WORK/server.log" >&2; fi
    exit 1
}

echo "== starting $BIN"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
API="$URL/api/v1"
mkdir -p "$WORK/server"
(
    cd "$WORK/server"
    # tower_http at DEBUG logs the status of every response, counted below.
    exec env -i PATH="$PATH" \
        RUST_LOG="info,tower_http=debug" \
        DATABASE_URL="sqlite:///$WORK/server/fastpki.db" \
        FASTPKI_DATA_DIR="$WORK/server/data" \
        ENABLE_DOCS=true \
        SECRET_KEY="schemathesis-secret-key-0123456789-abcdefgh" \
        SERVICE_ACCOUNT_TOKEN_PEPPER="schemathesis-pepper-0123456789-abcdefgh" \
        ACCESS_TOKEN_EXPIRE_MINUTES=120 \
        AUTH_RATE_LIMIT=1000000/minute \
        BCRYPT_COST=4 KEY_POOL_SIZE=0 CA_KEY_SIZE=2048 CERT_KEY_SIZE=2048 \
        "$BIN" serve --bind "127.0.0.1:$PORT"
) >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited"
    sleep 0.1
done
curl -fsS "$URL/healthz" >/dev/null || fail "the server did not answer on $URL"

# post PATH JSON [TOKEN]: prints the body; fails unless 2xx.
post() {
    curl -fsS -X POST "$API$1" -H 'content-type: application/json' \
        ${3:+-H "authorization: Bearer $3"} -d "$2" || fail "POST $1 $2"
}
jfield() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

echo "== first user (superuser) and some data to fuzz against"
USER_ID="$(post /users/ "{\"username\":\"fuzzer\",\"email\":\"fuzzer@example.com\",\"password\":\"$PASSWORD\",\"role\":\"superuser\"}" | jfield id)"
TOKEN="$(curl -fsS -X POST "$API/auth/token" -d "username=fuzzer&password=$PASSWORD" | jfield access_token)" \
    || fail "login"
ORG="$(post /organizations/ '{"name":"fuzz-org","description":"seed"}' "$TOKEN" | jfield id)"
post /users/ "{\"username\":\"member\",\"email\":\"member@example.com\",\"password\":\"$PASSWORD\",\"organization_id\":$ORG}" "$TOKEN" >/dev/null
ROOT="$(post /cas/ '{"name":"Fuzz Root","subject_dn":"CN=Fuzz Root,O=Fuzz","key_algorithm":"ecdsa-p256"}' "$TOKEN" | jfield id)"
SUB="$(post /cas/ "{\"name\":\"Fuzz Sub\",\"subject_dn\":\"CN=Fuzz Sub\",\"key_algorithm\":\"ecdsa-p256\",\"parent_ca_id\":$ROOT,\"allow_leaf_certs\":true}" "$TOKEN" | jfield id)"
post "/certificates/?ca_id=$SUB" '{"common_name":"seed.example.com","certificate_type":"server","key_algorithm":"ecdsa-p256"}' "$TOKEN" >/dev/null
SA="$(post /service-accounts/ "{\"name\":\"fuzz-sa\",\"organization_id\":$ORG,\"can_create_cert\":true}" "$TOKEN" | jfield id)"
post "/service-accounts/$SA/tokens" '{"name":"seed"}' "$TOKEN" >/dev/null
post "/organizations/$ORG/webhooks" '{"url":"https://hooks.example.com/fuzz","events":["certificate.issued"]}' "$TOKEN" >/dev/null
curl -fsS -X PUT "$API/service-accounts/$SA/policy" -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \
    -d "{\"cn_patterns\":[\"*.example.com\"],\"allowed_ca_ids\":[$SUB],\"allowed_certificate_types\":[\"server\"],\"max_validity_days\":30}" \
    >/dev/null || fail "policy"

echo "== schemathesis $ST_VERSION: $EXAMPLES examples per operation, seed $SEED"
START=$SECONDS
set +e
(
    cd "$WORK"
    FASTPKI_FUZZ_URL="$URL" FASTPKI_FUZZ_USERNAME=fuzzer FASTPKI_FUZZ_PASSWORD="$PASSWORD" \
    FASTPKI_FUZZ_USER_ID="$USER_ID" PYTHONPATH="$HOOKS_DIR" SCHEMATHESIS_HOOKS=schemathesis_hooks \
        "$VENV/bin/st" --no-color run "$API/openapi.json" \
        --checks "$CHECKS" \
        --phases examples,coverage,fuzzing \
        --max-examples "$EXAMPLES" \
        --seed "$SEED" \
        --workers 1 \
        --request-timeout 60 \
        --suppress-health-check too_slow,filter_too_much
)
ST_RC=$?
set -e
echo "== schemathesis took $((SECONDS - START)) s, exit code $ST_RC"

FIVE_XX="$(grep -cE 'status=5[0-9][0-9]' "$WORK/server.log" || true)"
PANICS="$(grep -c 'panicked' "$WORK/server.log" || true)"
ANSWERED="$(grep -cE 'finished processing request' "$WORK/server.log" || true)"
echo "== server log: $ANSWERED responses, $FIVE_XX with a 5xx status, $PANICS panics"
if [ "$FIVE_XX" != 0 ] || [ "$PANICS" != 0 ]; then
    grep -E 'status=5[0-9][0-9]|panicked|internal error' "$WORK/server.log" | head -n 40 >&2
    fail "the server answered 5xx or panicked"
fi
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died during the run"
curl -fsS "$URL/healthz" >/dev/null || fail "the server no longer answers /healthz"
[ "$ST_RC" = 0 ] || fail "schemathesis reported findings (replay with FASTPKI_FUZZ_SEED=$SEED)"
[ "$ANSWERED" -gt 0 ] || fail "no response in the server log: is tower_http logging at DEBUG?"
echo "schemathesis: OK"
