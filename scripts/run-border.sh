#!/usr/bin/env bash
# Starts two crossings facing each other across a border — Kordai (KZ) and
# Ak-Zhol (KG), each with hubd, its boxes and their devices — and the
# national coordination centre (three NATS nodes, kordon-centre, a private
# PostgreSQL). Kordai's radiation portal alarms; the alarm is shared with
# Ak-Zhol automatically by the policy and reaches the centre.
#   scripts/run-border.sh           run until Ctrl-C
#   scripts/run-border.sh --smoke   start, check the shared alarm reached
#                                   Ak-Zhol and the centre, stop
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
[ "${1:-}" = "--smoke" ] && smoke=1

RUN=${KORDON_BORDER_DIR:-$PWD/run/border}
BASE=${KORDON_BORDER_PORT:-19000}   # every port below is BASE + n
p() { echo $((BASE + $1)); }

rm -rf "$RUN"
mkdir -p "$RUN/logs" "$RUN/dev" "$RUN/pki"
go build -o bin/ ./cmd/edged ./cmd/hubd ./cmd/hwtest ./cmd/kordon-centre ./cmd/kordon-certs

pids=()
PG=""
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$PG" ]; then pg_run "$PGBIN/pg_ctl" -D "$PG/data" -m fast -w stop >/dev/null 2>&1 || true; rm -rf "$PG"; fi
}
trap cleanup INT TERM EXIT

# --- PKI: each site its own CA and link certificate -------------------------
for site in kordai akzhol centre; do
  bin/kordon-certs ca -crossing "$site" -dir "$RUN/pki/$site" >/dev/null
  bin/kordon-certs link -site "$site" -dir "$RUN/pki/$site" -names 127.0.0.1,localhost >/dev/null
done
key() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; echo; }
key > "$RUN/pki/kordai-akzhol.key"    # agreed by the two BLOs (document keys)
key > "$RUN/pki/national.key"         # shared with the centre (pseudonymous document keys)
chmod 600 "$RUN"/pki/*.key

# --- PostgreSQL: a private cluster (initdb refuses root: run as postgres) ---
PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
PG=$(mktemp -d /tmp/kordon-border-pg.XXXXXX)
pg_run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$PG"
pg_run "$PGBIN/initdb" -D "$PG/data" -U kordon --auth=trust -E UTF8 --no-instructions >"$RUN/logs/initdb.log"
pg_run "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/log" -w -o "-p $(p 500) -k $PG -c listen_addresses=127.0.0.1" start >/dev/null
pg_run "$PGBIN/createdb" -h 127.0.0.1 -p "$(p 500)" -U kordon kordon
DSN="postgres://kordon@127.0.0.1:$(p 500)/kordon?sslmode=disable"

hash() { printf '%s\n' "$1" | bin/hubd passwd; }

# --- the centre: three NATS nodes and kordon-centre in one process ----------
{
  echo "postgres: \"$DSN\""
  echo "http: \"127.0.0.1:$(p 90)\""
  echo "report_dir: $RUN/centre/reports"
  echo "reader_user: centre"
  echo "reader_password: centre-reader"
  echo "cert: $RUN/pki/centre/link.pem   # kordon-centre to its nodes: mutual TLS"
  echo "key: $RUN/pki/centre/link.key"
  echo "ca: $RUN/pki/centre/ca.pem"
  echo "crossings: [kordai, akzhol]"
  echo "users:"
  echo "  - {user: analyst, name: \"Demo analyst\", role: analyst, password_hash: \"$(hash analyst)\"}"
  echo "  - {user: supervisor, name: \"Demo supervisor\", role: supervisor, password_hash: \"$(hash supervisor)\"}"
  echo "nodes:"
  for i in 1 2 3; do
    echo "  - name: c$i"
    echo "    listen: \"127.0.0.1:$(p $((420 + i)))\""
    echo "    leaf_listen: \"127.0.0.1:$(p $((430 + i)))\""
    echo "    cluster_listen: \"127.0.0.1:$(p $((440 + i)))\""
    echo "    routes: [\"nats-route://127.0.0.1:$(p 441)\", \"nats-route://127.0.0.1:$(p 442)\", \"nats-route://127.0.0.1:$(p 443)\"]"
    echo "    cert: $RUN/pki/centre/link.pem"
    echo "    key: $RUN/pki/centre/link.key"
    echo "    ca: $RUN/pki/centre/ca.pem"
    echo "    store_dir: $RUN/centre/c$i"
    echo "    reader_user: centre"
    echo "    reader_password: centre-reader"
    echo "    crossings:"
    echo "      - {site: kordai, ca: $RUN/pki/kordai/ca.pem}"
    echo "      - {site: akzhol, ca: $RUN/pki/akzhol/ca.pem}"
  done
} > "$RUN/centre.yaml"
bin/kordon-centre all -config "$RUN/centre.yaml" 2>"$RUN/logs/centre.log" &
pids+=($!)
CENTRE_LEAFS="[\"tls://127.0.0.1:$(p 431)\", \"tls://127.0.0.1:$(p 432)\", \"tls://127.0.0.1:$(p 433)\"]"

# --- sharing policies, as the two BLOs agreed them --------------------------
cat > "$RUN/kordai-akzhol.yaml" <<YAML
# What Kordai (KZ) shares with Ak-Zhol (KG).
policy: kordai-akzhol/1
neighbour: akzhol
auto:
  - rule: rpm-alarm            # a radiation alarm crosses as raised
  - rule: document-watchlist   # so does a watchlist hit
manual:
  - rule: "*"                  # anything else only when an officer presses Share
handling_codes: [H1, H2, H3]
alert_fields: [summary, severity, time, device]
reading_fields: [/payload/event, /payload/alarm/channel, /payload/alarm/sigma, /payload/issuer]
document_key: {key_file: $RUN/pki/kordai-akzhol.key}
YAML
cat > "$RUN/akzhol-kordai.yaml" <<YAML
# What Ak-Zhol (KG) shares with Kordai (KZ).
policy: akzhol-kordai/1
neighbour: kordai
auto: [{rule: rpm-alarm}, {rule: document-watchlist}]
manual: [{rule: "*"}]
handling_codes: [H1, H2, H3]
alert_fields: [summary, severity, time]
reading_fields: [/payload/issuer, /payload/expired]
document_key: {key_file: $RUN/pki/kordai-akzhol.key}
YAML

# --- a crossing: hubd with its blo section, boxes, devices ------------------
# crossing  language  mqtt-port  http-port  first-booth-port  neighbour-yaml
start_crossing() {
  local x=$1 lang=$2 mqtt=$3 http=$4 booth=$5 nb=$6
  mkdir -p "$RUN/$x/hub"
  cat > "$RUN/$x/hub.yaml" <<YAML
crossing: $x
language: $lang
mqtt: "127.0.0.1:$mqtt"
http: "127.0.0.1:$http"
data_dir: $RUN/$x/hub
boxes:
  - {box: booth-01, password_hash: "$(hash booth-01-secret)"}
  - {box: lane-01, password_hash: "$(hash lane-01-secret)"}
users:
  - {user: officer, name: "Demo officer", role: officer, password_hash: "$(hash officer)"}
  - {user: supervisor, name: "Demo supervisor", role: supervisor, password_hash: "$(hash supervisor)"}
blo:
  cert: $RUN/pki/$x/link.pem
  key: $RUN/pki/$x/link.key
  document_key: $RUN/pki/national.key
$nb
  centre: {site: centre, ca: $RUN/pki/centre/ca.pem, urls: $CENTRE_LEAFS}
YAML
  bin/hubd -config "$RUN/$x/hub.yaml" 2>"$RUN/logs/hubd-$x.log" &
  pids+=($!)
  declare -A devs=()
  while read -r bx dev driver speed trace opts; do
    case "$bx" in ''|\#*) continue ;; esac
    local link="$RUN/dev/$x-$bx-$dev"
    bin/hwtest replay -loop -speed "$speed" -link "$link" "$trace" 2>"$RUN/logs/replay-$x-$bx-$dev.log" &
    pids+=($!)
    devs[$bx]+="  - id: $dev
    driver: $driver
    transport: {type: serial, path: $link}
    options: ${opts:-{\}}
"
  done < "demo/border/$x-devices.txt"
  for _ in $(seq 1 100); do
    [ "$(ls "$RUN/dev" | grep -c "^$x-")" -ge "$(grep -cv '^\s*\(#\|$\)' "demo/border/$x-devices.txt")" ] && break
    sleep 0.1
  done
  local port=$booth
  for bx in $(printf '%s\n' "${!devs[@]}" | sort); do
    mkdir -p "$RUN/$x/$bx"
    cat > "$RUN/$x/$bx/edged.yaml" <<YAML
crossing: $x
box: $bx
state_dir: $RUN/$x/$bx/state
http: "127.0.0.1:$port"
booth: {listen: "127.0.0.1:$((port + 50))"}
hub: {address: "tcp://127.0.0.1:$mqtt", username: $bx, password: $bx-secret}
devices:
${devs[$bx]}
YAML
    bin/edged -config "$RUN/$x/$bx/edged.yaml" 2>"$RUN/logs/edged-$x-$bx.log" &
    pids+=($!)
    port=$((port + 1))
  done
}

# Kordai accepts Ak-Zhol's link; Ak-Zhol dials it. Each dashboard opens in
# its crossing's language: Kazakh at Kordai; Russian at Ak-Zhol, until
# there is a Kyrgyz translation (i18n/ky.json), which it then takes.
akzhol_lang=ru
[ -f i18n/ky.json ] && akzhol_lang=ky
start_crossing kordai kk "$(p 830)" "$(p 80)" "$(p 81)" "  listen: \"127.0.0.1:$(p 460)\"
  neighbours:
    - {site: akzhol, ca: $RUN/pki/akzhol/ca.pem, policy: $RUN/kordai-akzhol.yaml}"
start_crossing akzhol "$akzhol_lang" "$(p 831)" "$(p 85)" "$(p 86)" "  neighbours:
    - {site: kordai, ca: $RUN/pki/kordai/ca.pem, urls: [\"tls://127.0.0.1:$(p 460)\"], policy: $RUN/akzhol-kordai.yaml}"

cat <<TXT

  Two crossings facing each other, and the coordination centre, are running.

  Kordai (KZ) BLO dashboard:    http://127.0.0.1:$(p 80)/dash/    officer / officer, supervisor / supervisor  (in kk)
  Ak-Zhol (KG) BLO dashboard:   http://127.0.0.1:$(p 85)/dash/    officer / officer, supervisor / supervisor  (in $akzhol_lang)
      alerts shared across the border: /dash/api/blo/incoming   (links: /dash/api/blo/status)
  Coordination centre:          http://127.0.0.1:$(p 90)/         (in ru; EN at the top of each page)
      analyst / analyst:         search /search, i2 export /export/i2/entities.csv and /links.csv, weekly reports /reports, trends /trends
      supervisor / supervisor:   every crossing live (links, health, open alerts) /live, trends /trends
  Centre database:              psql "$DSN"
  Logs:                         $RUN/logs/

  Kordai's radiation portal (lane-01) alarms within seconds; the policy shares
  it with Ak-Zhol automatically and it reaches the centre. Ctrl-C stops everything.

TXT

if [ $smoke -eq 1 ]; then
  start=$(date +%s)
  for _ in $(seq 1 600); do
    shared=$(psql -At "$DSN" -c "SELECT count(*) FROM audit WHERE crossing='akzhol' AND direction='received' AND kind='share'" 2>/dev/null || echo 0)
    up=$(psql -At "$DSN" -c "SELECT count(*) FROM alerts WHERE crossing='kordai' AND rule='rpm-alarm'" 2>/dev/null || echo 0)
    if [ "${shared:-0}" -ge 1 ] && [ "${up:-0}" -ge 1 ]; then
      echo "border smoke: Kordai's radiation alarm shared with Ak-Zhol and at the centre $(( $(date +%s) - start ))s after start"
      exit 0
    fi
    sleep 0.1
  done
  echo "border smoke: FAILED: no shared alarm at Ak-Zhol and the centre within 60 s" >&2
  tail -n 20 "$RUN"/logs/*.log >&2
  exit 1
fi
wait
