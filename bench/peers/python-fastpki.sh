#!/bin/sh
# Starts the Python FastPKI server (github.com/jsenecal/FastPKI, 0.4) in the
# foreground for `fastpki-bench --peers python --python-fastpki bench/peers/python-fastpki.sh`.
#
#   FASTPKI_PY_SRC   a checkout of the Python project (the folder holding app/main.py)
#   FASTPKI_PY_VENV  a virtualenv with its dependencies (default: $FASTPKI_PY_SRC/.venv;
#                    python3 -m venv .venv && .venv/bin/pip install -e . in the checkout)
#
# The benchmark sets DATABASE_URL (a fresh SQLite file), PORT and WORKERS.
set -eu
: "${FASTPKI_PY_SRC:?set FASTPKI_PY_SRC to a checkout of the Python FastPKI server}"
VENV="${FASTPKI_PY_VENV:-$FASTPKI_PY_SRC/.venv}"
export DATABASE_URL="${DATABASE_URL:-sqlite+aiosqlite:///$FASTPKI_PY_SRC/fastpki.db}"
# It refuses to start without a SECRET_KEY of 32 characters or more.
export SECRET_KEY="${SECRET_KEY:-python-peer-bench-secret-key-0123456789abcdef}"
# Its limiter (5 logins a minute, per worker) would measure the limiter, not login.
export AUTH_RATE_LIMIT="${AUTH_RATE_LIMIT:-100000000/minute}"
# Tokens live 15 minutes by default; a run with peers can take longer.
export ACCESS_TOKEN_EXPIRE_MINUTES="${ACCESS_TOKEN_EXPIRE_MINUTES:-1440}"
# The benchmark polls /api/v1/openapi.json until the server answers.
export ENABLE_DOCS=true
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"
cd "$FASTPKI_PY_SRC"
exec "$VENV/bin/uvicorn" app.main:app --host 127.0.0.1 --port "${PORT:-8000}" \
  --workers "${WORKERS:-1}" --no-access-log
