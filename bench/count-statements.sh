#!/usr/bin/env bash
# Counts the SQL statements and transactions PostgreSQL runs for one request of each kind
# (create company, create contact, PATCH, GET, list, a create with an Idempotency-Key and
# its replay), by logging every statement of a
# scratch database (ALTER DATABASE … SET log_min_duration_statement = 0) and reading the
# server's log. A transaction is a COMMIT, or a statement outside BEGIN…COMMIT.
#
#   bench/count-statements.sh [path/to/crm]     (default ./target/debug/crm)
#
# Needs psql as the superuser at 127.0.0.1:5432, curl, python3, and the PostgreSQL log
# readable at $PG_LOG (Debian's default below; log_line_prefix must show [pid] and
# user@database, as Debian's default does).
set -euo pipefail
BIN=${1:-./target/debug/crm}
DB=crm_stmt_$$
PORT=${PORT:-18089}
LOG=${PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB"
trap 'kill $SRV 2>/dev/null; sleep 1; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
CRM_DATABASE__URL=postgres://postgres@127.0.0.1:5432/$DB CRM_SERVER__PORT=$PORT CRM_DATABASE__PRIVATE_CLUSTER_DIR= $BIN serve >/tmp/count-srv.log 2>&1 &
SRV=$!
for _ in $(seq 1 60); do curl -sf localhost:$PORT/ready >/dev/null && break; sleep 1; done
psql -h 127.0.0.1 -U postgres -qc "ALTER DATABASE $DB SET log_min_duration_statement = 0"
# New connections pick the setting up: recycle the pools by waiting out idle ones is slow,
# so restart the server.
kill $SRV; wait $SRV 2>/dev/null || true
CRM_DATABASE__URL=postgres://postgres@127.0.0.1:5432/$DB CRM_SERVER__PORT=$PORT CRM_DATABASE__PRIVATE_CLUSTER_DIR= CRM_PROJECTOR__ENABLED=false CRM_WEBHOOKS__ENABLED=false $BIN serve >/tmp/count-srv.log 2>&1 &
SRV=$!
for _ in $(seq 1 60); do curl -sf localhost:$PORT/ready >/dev/null && break; sleep 1; done
H='Content-Type: application/json'
TOKEN=$(curl -sf -H "$H" localhost:$PORT/v1/auth/signup -d '{"workspace_name":"S","workspace_slug":"stmt","email":"o@stmt.example","password":"violet harbour engine 42","display_name":"O"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
A="Authorization: Bearer $TOKEN"
measure() { # name, curl args...
  local name=$1; shift
  sleep 1.2
  local start; start=$(wc -l < $LOG)
  local out; out=$(curl -s -o /tmp/count-body -w '%{http_code}' "$@")
  sleep 1.2
  local lines; lines=$(tail -n +$((start+1)) $LOG | grep "@$DB " || true)
  echo "$lines" | python3 -c '
import re, sys
name, status = sys.argv[1], sys.argv[2]
statements = commits = 0
open_txn = {}
for line in sys.stdin:
    m = re.search(r"\[(\d+)\].*duration: [0-9.]+ ms  (statement|execute [^:]*): (.*)", line)
    if not m:
        continue
    pid, sql = m.group(1), m.group(3).strip().upper()
    statements += 1
    if sql.startswith("BEGIN") or sql.startswith("START TRANSACTION"):
        open_txn[pid] = True
    elif sql.startswith("COMMIT") or sql.startswith("ROLLBACK"):
        open_txn[pid] = False
        commits += sql.startswith("COMMIT")
    elif not open_txn.get(pid):
        commits += 1  # autocommit
print(f"{name:<16} HTTP {status}  statements {statements:3}  transactions {commits:2}")
' "$name" "$out"
}
measure "create company" -H "$H" -H "$A" localhost:$PORT/v1/companies -d '{"name":"Acme","domain":"acme.example"}'
CID=$(python3 -c 'import json;print(json.load(open("/tmp/count-body"))["id"])')
measure "create contact" -H "$H" -H "$A" localhost:$PORT/v1/contacts -d '{"first_name":"Ada","email":"ada@acme.example"}'
measure "PATCH company" -X PATCH -H "$H" -H "$A" localhost:$PORT/v1/companies/$CID -d '{"industry":"Retail"}'
measure "GET company" -H "$A" localhost:$PORT/v1/companies/$CID
measure "list companies" -H "$A" "localhost:$PORT/v1/companies?limit=20"
measure "keyed create" -H "$H" -H "$A" -H "Idempotency-Key: count-1" localhost:$PORT/v1/companies -d '{"name":"Keyed"}'
measure "keyed replay" -H "$H" -H "$A" -H "Idempotency-Key: count-1" localhost:$PORT/v1/companies -d '{"name":"Keyed"}'
