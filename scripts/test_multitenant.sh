#!/usr/bin/env bash
# Checks a running mnemo server end to end: creates two tenants, stores a
# memory in each, verifies that neither can see, change or count the other's
# data, checks the stats, and deletes both tenants again.
#
#   BASE_URL=http://localhost:8001 ADMIN_TOKEN=... ./scripts/test_multitenant.sh
#
# Needs curl and python3. Exits non-zero on the first failed check.
set -euo pipefail

BASE_URL="${BASE_URL:-http://localhost:8001}"
ADMIN_TOKEN="${ADMIN_TOKEN:-${ADMIN_API_TOKEN:-}}"
if [ -z "$ADMIN_TOKEN" ]; then
  echo "set ADMIN_TOKEN (or ADMIN_API_TOKEN) to the server's admin token" >&2
  exit 2
fi

suffix="$(date +%s)-$$"
A="mt-a-$suffix"
B="mt-b-$suffix"
TOKEN_A="token-a-$suffix-$RANDOM$RANDOM"
TOKEN_B="token-b-$suffix-$RANDOM$RANDOM"
passed=0
failed=0

# req METHOD PATH TOKEN [BODY]: prints "<status> <body>"
req() {
  local method=$1 path=$2 token=$3 body=${4:-}
  local args=(-sS -o /tmp/mt-body.$$ -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
  if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' -d "$body"); fi
  local code
  code=$(curl "${args[@]}" "$BASE_URL$path")
  printf '%s %s' "$code" "$(cat /tmp/mt-body.$$)"
}

# field JSON EXPR: evaluates a Python expression on the parsed body `b`
field() {
  python3 -c 'import json,sys; b=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

check() { # check DESCRIPTION GOT WANT
  if [ "$2" = "$3" ]; then
    passed=$((passed + 1)); echo "ok   - $1"
  else
    failed=$((failed + 1)); echo "FAIL - $1: got '$2', want '$3'"
  fi
}

cleanup() {
  req DELETE "/admin/tenants/$A" "$ADMIN_TOKEN" >/dev/null 2>&1 || true
  req DELETE "/admin/tenants/$B" "$ADMIN_TOKEN" >/dev/null 2>&1 || true
  rm -f /tmp/mt-body.$$
}
trap cleanup EXIT

out=$(req POST /admin/tenants "$ADMIN_TOKEN" "{\"tenant_id\":\"$A\",\"name\":\"Tenant A\",\"api_token\":\"$TOKEN_A\"}")
check "create tenant A" "${out%% *}" 201
out=$(req POST /admin/tenants "$ADMIN_TOKEN" "{\"tenant_id\":\"$B\",\"name\":\"Tenant B\",\"api_token\":\"$TOKEN_B\"}")
check "create tenant B" "${out%% *}" 201

out=$(req POST /memory "$TOKEN_A" '{"content":"Alpha project uses PostgreSQL for billing","tags":["project:shared"],"importance":0.9}')
check "A stores a memory" "${out%% *}" 201
ID_A=$(field "${out#* }" 'b["memory_id"]')
out=$(req POST /memory "$TOKEN_B" '{"content":"Beta project uses MongoDB for billing","tags":["project:shared"],"importance":0.9}')
check "B stores a memory" "${out%% *}" 201
ID_B=$(field "${out#* }" 'b["memory_id"]')

for pair in "A:$TOKEN_A:$ID_A:$ID_B:PostgreSQL:MongoDB" "B:$TOKEN_B:$ID_B:$ID_A:MongoDB:PostgreSQL"; do
  IFS=: read -r who token own other mine theirs <<<"$pair"
  out=$(req GET "/recall?query=project+billing+database&limit=20" "$token")
  body=${out#* }
  check "$who recall answers 200" "${out%% *}" 200
  check "$who recall finds only its own memory" "$(field "$body" '[r["id"] for r in b["results"]]')" "['$own']"
  check "$who recall never shows the other's content" "$(field "$body" "'$theirs' in json.dumps(b)")" False
  out=$(req GET "/memory/by-tag?tags=project:shared" "$token")
  check "$who by-tag lists only its own memory" "$(field "${out#* }" '[m["id"] for m in b["memories"]]')" "['$own']"
  out=$(req GET "/memory/$other" "$token")
  check "$who cannot read the other's memory" "${out%% *}" 404
  out=$(req PATCH "/memory/$other" "$token" '{"content":"overwritten"}')
  check "$who cannot change the other's memory" "${out%% *}" 404
  out=$(req DELETE "/memory/$other" "$token")
  check "$who cannot delete the other's memory" "${out%% *}" 404
  out=$(req POST /associate "$token" "{\"memory1_id\":\"$own\",\"memory2_id\":\"$other\",\"type\":\"RELATES_TO\"}")
  check "$who cannot relate to the other's memory" "${out%% *}" 404
  out=$(req GET "/memory/$own" "$token")
  check "$who still reads its own memory unchanged" "$(field "${out#* }" "b['memory']['content'].startswith('Alpha' if '$who' == 'A' else 'Beta')")" True
done

for t in "$A" "$B"; do
  out=$(req GET "/admin/tenants/$t/stats" "$ADMIN_TOKEN")
  body=${out#* }
  check "stats of $t answer 200" "${out%% *}" 200
  check "stats of $t count one memory" "$(field "$body" 'b["memory_count"]')" 1
  check "stats of $t count no relation" "$(field "$body" 'b["graph_relationships"]')" 0
  check "stats of $t count one vector" "$(field "$body" 'b["vector_points"]')" 1
  check "stats of $t report storage" "$(field "$body" 'b["storage_mb"] > 0')" True
done

out=$(req DELETE "/admin/tenants/$A" "$ADMIN_TOKEN")
check "delete tenant A" "${out%% *}" 200
out=$(req GET "/recall?query=billing" "$TOKEN_A")
check "A's token is refused after deletion" "${out%% *}" 401
out=$(req GET "/recall?query=billing" "$TOKEN_B")
check "B still recalls its memory" "$(field "${out#* }" '[r["id"] for r in b["results"]]')" "['$ID_B']"
out=$(req DELETE "/admin/tenants/$B" "$ADMIN_TOKEN")
check "delete tenant B" "${out%% *}" 200

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
