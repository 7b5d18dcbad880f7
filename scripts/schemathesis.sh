#!/usr/bin/env bash
# Fuzz the REST API against its own OpenAPI document with schemathesis.
#
# Starts a `ppu-hub serve` on a free loopback port with a temporary data
# directory (SQLite, generated self-signed certificate), creates an API token
# (platform admin) with the admin token and a little data with that API token,
# then runs schemathesis against https://localhost:PORT/api/v1/openapi.json
# with the admin token (not the API token: the fuzzer calls
# DELETE /api/v1/tokens/{id} and would revoke it). Checks: no server error (5xx), and every answer's status code, content
# type, headers and body conform to the document. Exits non-zero on any failure.
#
# Left out: GET /api/v1/alerts/stream (Server-Sent Events: the answer never
# ends, so there is no response to check). The envelope endpoints (ingest,
# enroll, collector config) stay in: schemathesis sends them arbitrary bytes,
# which must be refused with a documented 4xx, never a 5xx.
#
# Environment:
#   PPU_SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 40)
#   PPU_SCHEMATHESIS_SEED      random seed (default fixed, so CI is reproducible)
#   PPU_SCHEMATHESIS_VENV      where schemathesis is installed (default ~/.cache/ppu-schemathesis)
#   PPU_HUB_BIN                a prebuilt ppu-hub binary (default: cargo build)
#   CI=true                    never skip: a missing Python or PyPI fails the run
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${PPU_SCHEMATHESIS_EXAMPLES:-40}
SEED=${PPU_SCHEMATHESIS_SEED:-20261127}
VENV=${PPU_SCHEMATHESIS_VENV:-$HOME/.cache/ppu-schemathesis}

fail() {
    echo "schemathesis.sh: $*" >&2
    exit 1
}

# --- schemathesis -----------------------------------------------------------
ST="$VENV/bin/st"
if ! "$ST" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "==> installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    command -v python3 >/dev/null || fail "python3 is required (apt-get install python3 python3-venv)"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get install -y --no-install-recommends python3-venv python3-pip >/dev/null
            python3 -m venv "$VENV" || fail "cannot create a Python virtual environment"
        else
            fail "cannot create a Python virtual environment (install python3-venv)"
        fi
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" || fail "pip install schemathesis failed"
fi
"$ST" --version

# --- the hub ----------------------------------------------------------------
if [ -n "${PPU_HUB_BIN:-}" ]; then
    HUB_BIN=$PPU_HUB_BIN
else
    echo "==> cargo build --bin ppu-hub"
    cargo build --quiet -p ppu-hub --bin ppu-hub
    HUB_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/ppu-hub"
fi
[ -x "$HUB_BIN" ] || fail "no hub binary at $HUB_BIN"

WORK=$(mktemp -d)
HUB_PID=
cleanup() {
    if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
        kill -TERM "$HUB_PID"
        wait "$HUB_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
BASE="https://localhost:$PORT"
CERT="$WORK/data/tls-cert.pem"

echo "==> starting ppu-hub on $BASE (data in $WORK/data)"
PPU_ADMIN_TOKEN=$ADMIN_TOKEN "$HUB_BIN" serve --listen "127.0.0.1:$PORT" \
    --data-dir "$WORK/data" --metrics-listen "" --workers 2 >"$WORK/hub.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 1 120); do
    if [ -f "$CERT" ] && curl -sf --cacert "$CERT" "$BASE/healthz" >/dev/null 2>&1; then
        break
    fi
    kill -0 "$HUB_PID" 2>/dev/null || { cat "$WORK/hub.log" >&2; fail "the hub exited"; }
    sleep 0.5
done
curl -sf --cacert "$CERT" "$BASE/readyz" >/dev/null || { cat "$WORK/hub.log" >&2; fail "the hub is not ready"; }

api() { # METHOD PATH [JSON] -> body, with $AUTH; fails on a non-2xx answer
    curl -sS --fail-with-body --cacert "$CERT" -X "$1" -H "Authorization: Bearer $AUTH" \
        -H 'content-type: application/json' ${3:+-d "$3"} "$BASE$2"
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "==> provisioning an API token and some data"
AUTH=$ADMIN_TOKEN
AUTH=$(api POST /api/v1/tokens '{"name":"schemathesis setup","role":"platform_admin"}' | json '["token"]')
[ "$(api GET /api/v1/session | json '["actor"]')" != admin-token ] || fail "the API token was not used"
RID=$(api POST /api/v1/resellers '{"name":"Fuzz Reseller"}' | json '["id"]')
SID=$(api POST /api/v1/sites "{\"reseller_id\":$RID,\"account_name\":\"fuzz-site\"}" | json '["id"]')
api POST /api/v1/printers "{\"site_id\":$SID,\"serial_number\":\"FUZZ0001\",\"direct\":true}" >/dev/null
api POST /api/v1/collectors "{\"site_id\":$SID}" >/dev/null
api POST /api/v1/webhooks "{\"reseller_id\":$RID,\"url\":\"https://localhost:9/hook\"}" >/dev/null
api POST /api/v1/contracts "{\"site_id\":$SID,\"effective_from\":\"2026-01-01\",\"currency\":\"EUR\",\"period\":{\"kind\":\"monthly\"},\"charges\":[{\"metric\":\"fixed_fee\",\"amount\":\"10.00\"}]}" >/dev/null

echo "==> schemathesis (seed $SEED, $EXAMPLES examples per operation)"
status=0
# From the temporary directory, so schemathesis' cache stays out of the work tree.
(cd "$WORK" && "$ST" run "$BASE/api/v1/openapi.json" \
    --tls-verify "$CERT" \
    -H "Authorization: Bearer $ADMIN_TOKEN" \
    --exclude-path /api/v1/alerts/stream \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 2 \
    --request-timeout 30 \
    --report junit --report-dir "$ROOT/target/schemathesis") \
    || status=$?

# A panic is a bug even when actix turned it into a dropped connection.
if grep -q "panicked" "$WORK/hub.log"; then
    grep -B2 -A10 "panicked" "$WORK/hub.log" >&2
    fail "the hub panicked"
fi
kill -0 "$HUB_PID" 2>/dev/null || fail "the hub died during the run"
if [ "$status" -ne 0 ]; then
    echo "---- hub log (last 50 lines) ----" >&2
    tail -50 "$WORK/hub.log" >&2
    fail "schemathesis found failures (exit $status)"
fi
echo "==> schemathesis: no failures"
