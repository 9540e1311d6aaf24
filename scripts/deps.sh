#!/usr/bin/env bash
# Installs the Debian packages Kordon's build, demo and tests need, only when
# one is missing. Safe to run again; fast when everything is there.
set -euo pipefail
pkgs=(
  mosquitto mosquitto-clients   # independent MQTT broker for interop tests
  socat                         # linked pseudo-terminal pairs
  libusb-1.0-0-dev pkg-config   # gousb (cgo) for USB HID drivers
  python3-pymodbus              # independent Modbus RTU slave for interop tests
  python3-serial python3-serial-asyncio  # pymodbus's serial transport: only a
                                # Recommends of python3-pymodbus, so name it here
  postgresql                    # the coordination centre's database (tests start a private cluster)
  chromium                      # headless browser tests of the screens
  prometheus                    # promtool checks ops/prometheus (alert rules and their tests)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
