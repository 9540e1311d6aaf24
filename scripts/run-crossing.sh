#!/usr/bin/env bash
# Starts a whole simulated crossing: hubd, two edge boxes, and their devices
# as pseudo-terminals fed by recorded traces in a loop. Ctrl-C stops it all.
#   scripts/run-crossing.sh           run until Ctrl-C
#   scripts/run-crossing.sh --smoke   start, check the specimen reading and
#                                     the bad-document alert arrive, stop
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1

RUN=${KORDON_RUN_DIR:-$PWD/run/crossing}
MQTT_PORT=${KORDON_MQTT_PORT:-18830}
HTTP_PORT=${KORDON_HTTP_PORT:-18080}
BOOTH1_HTTP=${KORDON_BOOTH1_PORT:-18081}
BOOTH2_HTTP=${KORDON_BOOTH2_PORT:-18082}
# The booth readouts (personal data) listen apart, on loopback only.
BOOTH1_SCREEN=${KORDON_BOOTH1_SCREEN_PORT:-18091}
BOOTH2_SCREEN=${KORDON_BOOTH2_SCREEN_PORT:-18092}
CROSSING=kz-demo

say() { printf '  %s\n' "$*"; }
fail() { printf '\n  make run: FAILED: %s\n\n' "$*" >&2; exit 1; }

# A port already taken would make hubd or edged die a moment after start:
# say so before starting anything, and which process holds it if ss knows.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for spec in "MQTT:$MQTT_PORT:KORDON_MQTT_PORT" "dashboard:$HTTP_PORT:KORDON_HTTP_PORT" \
            "booth-01 status:$BOOTH1_HTTP:KORDON_BOOTH1_PORT" "booth-02 status:$BOOTH2_HTTP:KORDON_BOOTH2_PORT" \
            "booth-01 screen:$BOOTH1_SCREEN:KORDON_BOOTH1_SCREEN_PORT" "booth-02 screen:$BOOTH2_SCREEN:KORDON_BOOTH2_SCREEN_PORT"; do
  IFS=: read -r what port var <<<"$spec"
  if port_taken "$port"; then
    holder=$(ss -ltnpH "sport = :$port" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1)
    fail "port $port ($what) is already in use${holder:+ by $holder}. Stop that process, or choose another port: $var=NNNN make run"
  fi
done

rm -rf "$RUN"
mkdir -p "$RUN/logs" "$RUN/dev" "$RUN/hub"
# The first build compiles every dependency (about half a minute on two
# cores); go build says nothing meanwhile, so the script does.
say "building edged, hubd and hwtest (the first build takes about 30 s; later ones a second or two)…"
build_start=$(date +%s)
go build -o bin/ ./cmd/edged ./cmd/hubd ./cmd/hwtest &
build=$!
while kill -0 "$build" 2>/dev/null; do
  sleep 5
  kill -0 "$build" 2>/dev/null && say "  still building ($(( $(date +%s) - build_start )) s)…"
done
wait "$build" || fail "go build failed (its errors are above)"
say "built in $(( $(date +%s) - build_start )) s"

pids=()
names=()
cleanup() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT
# started NAME LOG: remember the last background process, its name and log.
started() { pids+=($!); names+=("$1|$2"); }
# dead: the first started process that is no longer running, as NAME|LOG.
dead() {
  local i
  for i in "${!pids[@]}"; do
    kill -0 "${pids[$i]}" 2>/dev/null || { echo "${names[$i]}"; return 0; }
  done
  return 1
}
died() {
  local name=${1%%|*} log=${1#*|}
  printf '\n  make run: FAILED: %s stopped. The end of %s:\n\n' "$name" "$log" >&2
  tail -n 15 "$log" | sed 's/^/    /' >&2
  printf '\n' >&2
  exit 1
}

hash() { printf '%s\n' "$1" | bin/hubd passwd; }
cat > "$RUN/hub.yaml" <<YAML
crossing: $CROSSING
mqtt: "127.0.0.1:$MQTT_PORT"
http: "127.0.0.1:$HTTP_PORT"
data_dir: $RUN/hub
boxes:
  - {box: booth-01, password_hash: "$(hash booth-01-secret)"}
  - {box: booth-02, password_hash: "$(hash booth-02-secret)"}
observers:
  - {user: watch, password_hash: "$(hash watch)"}
users:
  - {user: officer, name: "Demo officer", role: officer, password_hash: "$(hash officer)"}
  - {user: supervisor, name: "Demo supervisor", role: supervisor, password_hash: "$(hash supervisor)"}
YAML

bin/hubd -config "$RUN/hub.yaml" 2>"$RUN/logs/hubd.log" &
started hubd "$RUN/logs/hubd.log"

# Devices: each a pseudo-terminal at a stable path, fed by a recorded trace.
# demo/devices.txt lists: box device driver speed trace [options-yaml]
declare -A box_devices
while read -r box dev driver speed trace opts; do
  case "$box" in ''|\#*) continue ;; esac
  link="$RUN/dev/$box-$dev"
  bin/hwtest replay -loop -speed "$speed" -link "$link" "$trace" 2>"$RUN/logs/replay-$box-$dev.log" &
  started "the replay of $box/$dev" "$RUN/logs/replay-$box-$dev.log"
  box_devices[$box]+="  - id: $dev
    driver: $driver
    transport: {type: serial, path: $link}
    options: ${opts:-{\}}
"
done < demo/devices.txt

# Wait until every pseudo-terminal exists (the replayers create them).
for _ in $(seq 1 100); do
  n=$(ls "$RUN/dev" | wc -l)
  [ "$n" -ge "$(grep -cv '^\s*\(#\|$\)' demo/devices.txt)" ] && break
  sleep 0.1
done

port_of() { [ "$1" = booth-01 ] && echo "$BOOTH1_HTTP" || echo "$BOOTH2_HTTP"; }
screen_of() { [ "$1" = booth-01 ] && echo "$BOOTH1_SCREEN" || echo "$BOOTH2_SCREEN"; }
for box in $(printf '%s\n' "${!box_devices[@]}" | sort); do
  mkdir -p "$RUN/$box"
  cat > "$RUN/$box/edged.yaml" <<YAML
crossing: $CROSSING
box: $box
state_dir: $RUN/$box/state
http: "127.0.0.1:$(port_of "$box")"
hub: {address: "tcp://127.0.0.1:$MQTT_PORT", username: $box, password: $box-secret}
booth: {clear_after: 45s, lang: en, title: "$box", listen: "127.0.0.1:$(screen_of "$box")"}
devices:
${box_devices[$box]}
YAML
  bin/edged -config "$RUN/$box/edged.yaml" 2>"$RUN/logs/edged-$box.log" &
  started "edged of $box" "$RUN/logs/edged-$box.log"
done

# Up means answering: the hub's and each booth's HTTP, and nobody dead.
ready() { curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; }
for _ in $(seq 1 150); do
  if d=$(dead); then died "$d"; fi
  ready "$HTTP_PORT" && ready "$BOOTH1_HTTP" && ready "$BOOTH2_HTTP" && break
  sleep 0.1
done
if d=$(dead); then died "$d"; fi
for p in "$HTTP_PORT" "$BOOTH1_HTTP" "$BOOTH2_HTTP"; do
  ready "$p" || fail "nothing answers on http://127.0.0.1:$p/healthz after 15 s (logs: $RUN/logs/)"
done

cat <<TXT

  Kordon simulated crossing "$CROSSING" is running.

  BLO dashboard (alerts, boxes, history): http://127.0.0.1:$HTTP_PORT/dash/
      log in as supervisor / supervisor   (or officer / officer)
  Booth screens (officer's readout):      http://127.0.0.1:$BOOTH1_SCREEN/   http://127.0.0.1:$BOOTH2_SCREEN/
  Plain live feed (after log-in):        http://127.0.0.1:$HTTP_PORT/live
  Box status (on this machine; from the network a technician's log-in):
                                         http://127.0.0.1:$BOOTH1_HTTP/status   http://127.0.0.1:$BOOTH2_HTTP/status
  Hub API (log-in or -u supervisor:supervisor):  http://127.0.0.1:$HTTP_PORT/api/readings  /api/alerts
  Hub health (open):                     http://127.0.0.1:$HTTP_PORT/metrics  /healthz
  MQTT (read-only observer):
    mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -u watch -P watch -t 'kordon/v1/$CROSSING/#' -v
  Logs:                                 $RUN/logs/

  booth-01 reads the ICAO specimen passport (expired in 2012) and screens a
  traveller with a fever; booth-02 reads a document whose check digit fails.
  Each raises alerts on the dashboard; the traces loop, so the same alerts
  come again: the dashboard folds each run of them into one, with
  "Acknowledge all".   Ctrl-C stops everything.

TXT

if [ $smoke -eq 1 ]; then
  start=$(date +%s%3N)
  ok=0
  for _ in $(seq 1 300); do
    r=$(curl -fsS -u supervisor:supervisor "http://127.0.0.1:$HTTP_PORT/api/readings?limit=100" 2>/dev/null || true)
    a=$(curl -fsS -u supervisor:supervisor "http://127.0.0.1:$HTTP_PORT/api/alerts?limit=100" 2>/dev/null || true)
    if grep -q '"box":"booth-01"' <<<"$r" && grep -q '"valid":true' <<<"$r" && grep -q '"issuer":"UTO"' <<<"$r" \
       && grep -q '"rule":"document-check-failed"' <<<"$a"; then
      ok=1; break
    fi
    sleep 0.1
  done
  took_ms=$(( $(date +%s%3N) - start ))
  took="$((took_ms / 1000)).$(printf '%03d' $((took_ms % 1000)))"
  if [ $ok -eq 1 ]; then
    echo "smoke: specimen reading and bad-document alert at the hub ${took}s after the boxes started"
    exit 0
  fi
  echo "smoke: FAILED: no specimen reading and alert within 30 s" >&2
  tail -n 20 "$RUN"/logs/*.log >&2
  exit 1
fi
# Until Ctrl-C; a process that dies meanwhile is reported, and the rest
# stopped, rather than left running half a crossing.
while true; do
  wait -n "${pids[@]}" 2>/dev/null || true
  if d=$(dead); then died "$d"; fi
done
