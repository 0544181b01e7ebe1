#!/usr/bin/env bash
# Zero-downtime deploys, measured with wrk. A --dev node runs the quickstart's
# service (three echo-server tasks); while wrk sends traffic through the
# listener, the service is rolled out to a new revision, scaled from 3 to 1,
# then back to 3. Every stop is an acknowledged drain, so wrk must report no
# non-2xx response and no socket error; the script fails if it does.
#
#   bash examples/zero-downtime.sh          # needs wrk and curl
#
# Environment: GANTRY (binary; default: go build ./cmd/gantry), LB_PORT
# (8080), GANTRY_API_ADDR (127.0.0.1:7070), DURATION (wrk's, 20s),
# CONNECTIONS (wrk's, 32).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
LB_PORT="${LB_PORT:-8080}"
export GANTRY_API_ADDR="${GANTRY_API_ADDR:-127.0.0.1:7070}"
export GANTRY_API="http://$GANTRY_API_ADDR"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-32}"

for tool in wrk curl; do
	command -v "$tool" >/dev/null || { echo "zero-downtime: $tool is not installed" >&2; exit 2; }
done

tmp="$(mktemp -d)"
server=""
wrkpid=""
cleanup() {
	[ -n "$wrkpid" ] && kill "$wrkpid" 2>/dev/null || true
	[ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${GANTRY:-}" ]; then
	echo "building gantry"
	(cd "$here/.." && go build -o "$tmp/gantry" ./cmd/gantry)
	GANTRY="$tmp/gantry"
fi

sed -e "s/^port: 8080$/port: $LB_PORT/" "$here/quickstart.yaml" >"$tmp/v1.yaml"
# Revision 2: another environment; then the same revision at 1 and 3 tasks.
sed -e 's/    stopTimeout: 10/    stopTimeout: 10\n    environment: [{name: RELEASE, value: "2"}]/' "$tmp/v1.yaml" >"$tmp/v2.yaml"
sed -e 's/^desiredCount: 3$/desiredCount: 1/' "$tmp/v2.yaml" >"$tmp/v2-one.yaml"

"$GANTRY" server --dev --docker=false -f "$tmp/v1.yaml" >"$tmp/server.log" 2>&1 &
server=$!

# steady REVISION COUNT: wait (60 s at most) until COUNT tasks of REVISION
# run and the group has exactly COUNT targets, all healthy.
steady() {
	for _ in $(seq 600); do
		tasks="$("$GANTRY" get tasks 2>/dev/null || true)"
		targets="$("$GANTRY" get targets web 2>/dev/null || true)"
		running="$(grep -c " $1 .* RUNNING " <<<"$tasks" || true)"
		live="$(grep -cE " (PROVISIONING|PENDING|ACTIVATING|RUNNING|DEACTIVATING|STOPPING) " <<<"$tasks" || true)"
		healthy="$(grep -c " healthy " <<<"$targets" || true)"
		all="$(($(wc -l <<<"$targets") - 1))"
		if [ "$running" = "$2" ] && [ "$live" = "$2" ] && [ "$healthy" = "$2" ] && [ "$all" = "$2" ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "zero-downtime: not steady at $2 tasks of $1 within 60 s" >&2
	echo "$tasks" >&2
	echo "$targets" >&2
	tail -20 "$tmp/server.log" >&2
	return 1
}

steady echo:1 3
echo "3 tasks of echo:1 serve on http://127.0.0.1:$LB_PORT; starting wrk for $DURATION"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$LB_PORT/" >"$tmp/wrk.txt" 2>&1 &
wrkpid=$!
sleep 1

start=$(date +%s%N)
"$GANTRY" apply -f "$tmp/v2.yaml" >/dev/null
steady echo:2 3
echo "rolled out echo:2 in $((($(date +%s%N) - start) / 1000000)) ms"
start=$(date +%s%N)
"$GANTRY" apply -f "$tmp/v2-one.yaml" >/dev/null
steady echo:2 1
echo "scaled 3 -> 1 in $((($(date +%s%N) - start) / 1000000)) ms"
start=$(date +%s%N)
"$GANTRY" apply -f "$tmp/v2.yaml" >/dev/null
steady echo:2 3
echo "scaled 1 -> 3 in $((($(date +%s%N) - start) / 1000000)) ms"

wait "$wrkpid"
wrkpid=""
cat "$tmp/wrk.txt"
if grep -qE "Non-2xx|Socket errors" "$tmp/wrk.txt"; then
	echo "zero-downtime: FAILED: wrk saw errors" >&2
	exit 1
fi
grep "Requests/sec" "$tmp/wrk.txt" >/dev/null || { echo "zero-downtime: wrk did not run" >&2; exit 1; }
echo "zero-downtime: no failed request"
