#!/bin/sh
# Imports the crmstream saved objects (data view, saved searches, dashboard)
# into Kibana. Run by the one-shot `kibana-setup` service of docker-compose.yml;
# works anywhere with POSIX sh and curl:
#
#   KIBANA_URL=http://127.0.0.1:5601 sh config/kibana/import.sh
#
# Environment:
#   KIBANA_URL            default http://kibana:5601
#   KIBANA_WAIT_ATTEMPTS  how many times to poll /api/status (default 60)
#   KIBANA_WAIT_SECONDS   pause between polls (default 5)
#   SAVED_OBJECTS         the ndjson file (default: saved_objects.ndjson next to this script)
#   KIBANA_USERNAME, KIBANA_PASSWORD  basic auth for a secured Kibana (optional; handed
#                         to curl in a private config file, never on its command line)
#   KIBANA_CA_CERT        CA file to verify an https:// KIBANA_URL (optional)
#
# overwrite=true makes the import idempotent: re-running replaces the objects.

set -eu

KIBANA_URL="${KIBANA_URL:-http://kibana:5601}"
KIBANA_URL="${KIBANA_URL%/}"
ATTEMPTS="${KIBANA_WAIT_ATTEMPTS:-60}"
PAUSE="${KIBANA_WAIT_SECONDS:-5}"
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
SAVED_OBJECTS="${SAVED_OBJECTS:-$SCRIPT_DIR/saved_objects.ndjson}"

fail() {
    echo "kibana-setup: $*" >&2
    exit 1
}

[ -r "$SAVED_OBJECTS" ] || fail "cannot read $SAVED_OBJECTS"
command -v curl >/dev/null 2>&1 || fail "curl is not installed"

# Every curl call reads this config: credentials and CA, if any (0600, removed on exit).
CURL_CONFIG=$(mktemp)
trap 'rm -f "$CURL_CONFIG"' EXIT
chmod 600 "$CURL_CONFIG"
if [ -n "${KIBANA_USERNAME:-}" ]; then
    printf 'user = "%s:%s"\n' "$KIBANA_USERNAME" "${KIBANA_PASSWORD:-}" >> "$CURL_CONFIG"
fi
if [ -n "${KIBANA_CA_CERT:-}" ]; then
    printf 'cacert = "%s"\n' "$KIBANA_CA_CERT" >> "$CURL_CONFIG"
fi

# Kibana answers 503 ("Kibana server is not ready yet") while it starts and
# migrates its indices; -f turns that into a failure, so wait for a 2xx.
attempt=1
while ! curl -K "$CURL_CONFIG" -fsS -o /dev/null --max-time 10 "$KIBANA_URL/api/status" 2>/dev/null; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
        fail "Kibana at $KIBANA_URL not ready after $ATTEMPTS attempts"
    fi
    echo "kibana-setup: waiting for Kibana at $KIBANA_URL ($attempt/$ATTEMPTS)"
    attempt=$((attempt + 1))
    sleep "$PAUSE"
done
echo "kibana-setup: Kibana at $KIBANA_URL is up"

response=$(curl -K "$CURL_CONFIG" -sS --max-time 60 -w '\n%{http_code}' \
    -X POST "$KIBANA_URL/api/saved_objects/_import?overwrite=true" \
    -H 'kbn-xsrf: true' \
    --form "file=@$SAVED_OBJECTS") || fail "import request to $KIBANA_URL failed"

status=$(printf '%s\n' "$response" | tail -n 1)
body=$(printf '%s\n' "$response" | sed '$d')

# The import API answers 200 even when some objects fail: the body then has
# "success":false and an "errors" array.
if [ "$status" != "200" ]; then
    fail "import failed with HTTP $status: $body"
fi
if ! printf '%s' "$body" | grep -Eq '"success"[[:space:]]*:[[:space:]]*true'; then
    fail "import reported errors: $body"
fi

echo "kibana-setup: imported $SAVED_OBJECTS: $body"
