#!/usr/bin/env bash
# Times a companies import over HTTP against COPY of the same rows on the same PostgreSQL,
# both into a scratch database (created, then dropped), and prints rows/s and the ratio.
#
#   bench/import-rate.sh FILE.csv [path/to/crm]     (default ./target/release/crm)
#
# FILE.csv has the companies import's columns (`Company name`, `Domain`, …). Needs psql as
# the superuser at 127.0.0.1:5432, curl and python3.
set -euo pipefail
CSV=$1
BIN=${2:-./target/release/crm}
DB=crm_import_$$
PORT=${PORT:-18091}
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB"
trap 'kill $SRV 2>/dev/null; sleep 1; psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"' EXIT
CRM_DATABASE__URL=postgres://postgres@127.0.0.1:5432/$DB CRM_SERVER__PORT=$PORT CRM_DATABASE__PRIVATE_CLUSTER_DIR= \
  CRM_SERVER__IMPORT_LIMIT_BYTES=104857600 $BIN serve >/tmp/import-srv.log 2>&1 &
SRV=$!
for _ in $(seq 1 60); do curl -sf localhost:$PORT/ready >/dev/null && break; sleep 1; done
H='Content-Type: application/json'
TOKEN=$(curl -sf -H "$H" localhost:$PORT/v1/auth/signup -d '{"workspace_name":"I","workspace_slug":"import-rate","email":"o@import.example","password":"violet harbour engine 42","display_name":"O"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
ROWS=$(($(wc -l < "$CSV") - 1))
start=$(date +%s.%N)
curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' --data-binary @"$CSV" \
  "localhost:$PORT/v1/imports/companies" -o /tmp/import-report.json
end=$(date +%s.%N)
created=$(python3 -c 'import json;print(json.load(open("/tmp/import-report.json"))["created"])')
# The reference: COPY of the same file into a table of the same columns, no index.
psql -h 127.0.0.1 -U postgres -d $DB -qc "CREATE TABLE copy_ref (name text, domain text, industry text, country text, currency text, employees text, revenue text)"
cstart=$(date +%s.%N)
psql -h 127.0.0.1 -U postgres -d $DB -qc "\\copy copy_ref FROM '$CSV' WITH (FORMAT csv, HEADER true)"
cend=$(date +%s.%N)
python3 - "$ROWS" "$created" "$start" "$end" "$cstart" "$cend" <<'PY'
import sys
rows, created = int(sys.argv[1]), int(sys.argv[2])
api = rows / (float(sys.argv[4]) - float(sys.argv[3]))
copy = rows / (float(sys.argv[6]) - float(sys.argv[5]))
print(f"rows {rows}, created {created}")
print(f"import over HTTP  {api:10.0f} rows/s")
print(f"COPY              {copy:10.0f} rows/s")
print(f"ratio             {api / copy:10.3f}")
PY
