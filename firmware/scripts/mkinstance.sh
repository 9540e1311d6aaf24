#!/bin/sh
# mkinstance.sh TARGET PARENT_DIR — writes a gokrazy instance (config.json and
# pinned builddir go.mod files) to PARENT_DIR/kordon-TARGET.
#   TARGET: vm (generic arm64 UEFI, used under QEMU) or rpi (Raspberry Pi 4/5)
# Environment:
#   VERSION      release version baked into /etc/kordon/version (default: dev)
#   UPDATE_PUB   ed25519 public key file (base64, one line) trusted for OTA
#   EDGED_CONFIG path edged is started with (tests use a bad path to build a
#                release that fails its health check)
#   EDGED_PKG    package started as edged (default github.com/kordon/kordon/cmd/edged)
#   LIBUSB       prefix of the static arm64 libusb (lib/libusb-1.0.a)
set -eu
target=$1
parent=$(realpath -m "$2")
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/firmware/versions.env"
VERSION=${VERSION:-dev}
UPDATE_PUB=${UPDATE_PUB:-$repo/firmware/keys/dev-release.pub}
EDGED_CONFIG=${EDGED_CONFIG:-/perm/kordon/edged.yaml}
EDGED_PKG=${EDGED_PKG:-github.com/kordon/kordon/cmd/edged}
LIBUSB=$(realpath -m "${LIBUSB:-$repo/firmware/build/libusb}")
pub=$(tr -d ' \n' < "$UPDATE_PUB")
# source tree the Kordon programs are built from (build-image.sh FW_SRC=head
# points this at an export of the last commit)
SRC=${FW_SRC_DIR:-$repo}

case $target in
vm)
	kernel=github.com/gokrazy/kernel.arm64
	firmware='""'; eeprom='""'; serial='"ttyAMA0,115200"'
	;;
rpi)
	kernel=github.com/gokrazy/kernel.rpi
	firmware='"github.com/gokrazy/firmware"'; eeprom='"github.com/gokrazy/rpi-eeprom"'; serial='"serial0,115200"'
	;;
*) echo "mkinstance: unknown target $target (vm or rpi)" >&2; exit 2 ;;
esac

inst="$parent/kordon-$target"
mkdir -p "$inst"
# cgo settings for edged: its USB drivers link gousb (static, udev-free libusb)
cgo_env='"CGO_ENABLED=1",
                "CC=aarch64-linux-gnu-gcc",
                "PKG_CONFIG_PATH='"$LIBUSB"'/lib/pkgconfig",
                "CGO_CFLAGS=-I'"$LIBUSB"'/include/libusb-1.0",
                "CGO_LDFLAGS=-L'"$LIBUSB"'/lib"'
cgo_flags='"-ldflags=-linkmode=external -extldflags=-static -s -w -X github.com/kordon/kordon/internal/version.Version='"$VERSION"'"'

cat > "$inst/config.json.tmp" <<EOF
{
    "Hostname": "kordon",
    "Update": {"NoPassword": true},
    "SerialConsole": $serial,
    "KernelPackage": "$kernel",
    "FirmwarePackage": $firmware,
    "EEPROMPackage": $eeprom,
    "GokrazyPackages": [
        "github.com/gokrazy/gokrazy/cmd/dhcp",
        "github.com/gokrazy/gokrazy/cmd/ntp",
        "github.com/gokrazy/gokrazy/cmd/randomd"
    ],
    "Packages": [
        "$EDGED_PKG",
        "github.com/kordon/kordon/cmd/kordon-update"
    ],
    "PackageConfig": {
        "$EDGED_PKG": {
            "Basename": "edged",
            "GoBuildEnvironment": [
                $cgo_env
            ],
            "GoBuildFlags": [$cgo_flags],
            "CommandLineFlags": ["-config", "$EDGED_CONFIG"]
        },
        "github.com/kordon/kordon/cmd/kordon-update": {
            "CommandLineFlags": ["agent"],
            "ExtraFileContents": {
                "/etc/kordon/version": "$VERSION\n",
                "/etc/kordon/target": "$target\n",
                "/etc/kordon/update.pub": "$pub\n"
            }
        }
    }
}
EOF
mv "$inst/config.json.tmp" "$inst/config.json"

# Pinned builddirs: gok would otherwise "go get" each package at @latest,
# which the module proxy refuses. One builddir for gokrazy's own modules, one
# for this repository (a replace to the checkout).
mk() { # dir module lines... ("require m v" / "replace a => b")
	d="$inst/builddir/$1"; mod=$2; shift 2
	mkdir -p "$d"
	{ echo "module $mod"; echo; echo "go $GO_VERSION"; echo; for l in "$@"; do echo "$l"; done; } > "$d/go.mod.new"
	# go build -mod=mod adds indirect requirements to go.mod; keep them unless
	# the pinned input changed.
	if ! cmp -s "$d/go.mod.new" "$d/go.mod.in" 2>/dev/null || [ ! -f "$d/go.mod" ]; then
		cp "$d/go.mod.new" "$d/go.mod.in"; cp "$d/go.mod.new" "$d/go.mod"
	fi
	rm -f "$d/go.mod.new"
}
mk github.com/gokrazy gokrazy/build/kordon-gokrazy \
	"require github.com/gokrazy/gokrazy $GOKRAZY" \
	"require github.com/gokrazy/kernel.arm64 $KERNEL_ARM64" \
	"require github.com/gokrazy/kernel.rpi $KERNEL_RPI" \
	"require github.com/gokrazy/firmware $RPI_FIRMWARE" \
	"require github.com/gokrazy/rpi-eeprom $RPI_EEPROM" \
	"require github.com/gokrazy/serial-busybox $SERIAL_BUSYBOX"
mk github.com/kordon/kordon gokrazy/build/kordon \
	"require github.com/kordon/kordon v0.0.0-00010101000000-000000000000" \
	"replace github.com/kordon/kordon => $SRC"
echo "$inst"
