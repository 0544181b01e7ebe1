#!/usr/bin/env bash
# Quickstart: two echo servers behind a --dev Gantry node.
#
#   bash examples/quickstart.sh        # Ctrl-C stops everything
#
# Uses $GANTRY if set, else builds ./cmd/gantry into a temporary directory.
# Every address can be changed from the environment (the e2e test does):
#   ECHO1_ADDR (127.0.0.1:9001), ECHO2_ADDR (127.0.0.1:9002),
#   CONFIG (examples/static-targets.yaml; it must name the echo addresses),
#   LB_URL (http://127.0.0.1:8080, the listener in CONFIG),
#   GANTRY_API_ADDR (127.0.0.1:7070, read by `gantry server`), GANTRY_API (read by the clients).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ECHO1_ADDR="${ECHO1_ADDR:-127.0.0.1:9001}"
ECHO2_ADDR="${ECHO2_ADDR:-127.0.0.1:9002}"
CONFIG="${CONFIG:-$here/static-targets.yaml}"
LB_URL="${LB_URL:-http://127.0.0.1:8080}"
export GANTRY_API_ADDR="${GANTRY_API_ADDR:-127.0.0.1:7070}"
export GANTRY_API="${GANTRY_API:-http://$GANTRY_API_ADDR}"

tmp="$(mktemp -d)"
pids=()
# cleanup stops every process started here; its argument is the exit status.
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "stopping ${#pids[@]} processes"
	for pid in ${pids[@]+"${pids[@]}"}; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
	exit "${1:-0}"
}
trap 'cleanup 0' INT TERM
trap 'cleanup $?' EXIT

if [ -z "${GANTRY:-}" ]; then
	echo "building gantry"
	(cd "$here/.." && go build -o "$tmp/gantry" ./cmd/gantry)
	GANTRY="$tmp/gantry"
fi

# wait_for URL: poll until it answers 200, for at most 10 seconds.
wait_for() {
	for _ in $(seq 100); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "quickstart: $1 did not answer within 10 s" >&2
	return 1
}

"$GANTRY" echo-server --addr "$ECHO1_ADDR" --name echo-1 &
pids+=($!)
"$GANTRY" echo-server --addr "$ECHO2_ADDR" --name echo-2 &
pids+=($!)
wait_for "http://$ECHO1_ADDR/health"
wait_for "http://$ECHO2_ADDR/health"

"$GANTRY" server --dev -f "$CONFIG" &
pids+=($!)
wait_for "$GANTRY_API/healthz"
wait_for "$LB_URL/health"
# A target takes traffic once its first health check passes; the other stays
# "initial" until then. Wait (at most 10 s) until neither is initial. The
# table is read whole first: piped into grep -q under pipefail, a gantry
# still writing when grep has found "initial" dies of SIGPIPE, and the
# failed pipeline read as "none initial".
for _ in $(seq 100); do
	if targets="$("$GANTRY" get targets web 2>/dev/null)" && ! grep -qw initial <<<"$targets"; then
		break
	fi
	sleep 0.1
done

echo
echo "Gantry is serving $LB_URL (admin API $GANTRY_API). Four requests:"
for _ in 1 2 3 4; do
	curl -fsS "$LB_URL/?format=text" | head -n 1
done
echo
"$GANTRY" get targets web || true
echo
echo "ready: try curl $LB_URL/ in another shell; Ctrl-C stops everything"
# Until Ctrl-C, or until one of the processes exits on its own (a loop rather
# than `wait -n`, which macOS's bash 3.2 lacks).
while kill -0 "${pids[@]}" 2>/dev/null; do
	sleep 1
done
echo "quickstart: a process exited on its own; stopping the others" >&2
exit 1
