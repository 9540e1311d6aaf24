#!/bin/sh
# Builds a static, udev-free libusb-1.0 for arm64 from Debian's source package,
# so cgo programs using github.com/google/gousb link into fully static binaries
# that run on gokrazy (no glibc, no libudev at run time).
#   build-libusb.sh OUTDIR   -> OUTDIR/lib/libusb-1.0.a, OUTDIR/include/libusb-1.0/libusb.h
set -eu
out=$(realpath -m "$1")
if [ -f "$out/lib/libusb-1.0.a" ]; then exit 0; fi
need() { command -v "$1" >/dev/null 2>&1; }
if ! need aarch64-linux-gnu-gcc || ! need dpkg-source || ! need make; then
	apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross dpkg-dev make
fi
if ! ls /etc/apt/sources.list.d/ | grep -q kordon-src; then
	# deb-src for the same suites as the binary sources (Debian's archive only).
	cat > /etc/apt/sources.list.d/kordon-src.sources <<EOS
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
	apt-get update -q
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get source -q --download-only libusb-1.0 >/dev/null
dpkg-source -x --no-check libusb-1.0_*.dsc src >/dev/null
cd src
if [ ! -x configure ]; then
	need autoreconf || apt-get install -y autoconf automake libtool
	autoreconf -fi >/dev/null 2>&1
fi
./configure -q --host=aarch64-linux-gnu --prefix="$out" --disable-udev --enable-static --disable-shared >/dev/null
make -s -j"$(nproc)" >/dev/null 2>&1
make -s install >/dev/null
echo "static libusb installed in $out"
