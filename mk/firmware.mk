# Firmware: gokrazy images for Kordon edge boxes (issue 8). Included by the
# main Makefile (-include mk/firmware.mk). See firmware/README.md.
#
#   make image            both targets: firmware/build/kordon-{vm,rpi}.img (+ .root.squashfs)
#   make image-vm         generic arm64 UEFI image (VMs, QEMU tests)
#   make image-rpi        Raspberry Pi 4/5 image
#   make firmware-test    unit tests + QEMU boot, USB and OTA tests (~15 min)
#   make firmware-release FW_VERSION=1.2.0 [FW_TARGET=vm] [RELEASE_KEY=...]  signed release dir
#
# Variables: FW_VERSION (baked into /etc/kordon/version; default $(VERSION),
# else 0.1.0), UPDATE_PUB (trusted release key(s); default the committed dev
# key), EDGED_PKG (edged package), FW_SRC=head (build from the last commit).

# This fragment must not become the main Makefile's default goal.
_fw_saved_default_goal := $(.DEFAULT_GOAL)

FW_DIR        := firmware
FW_BUILD      := $(FW_DIR)/build
FW_GOK        := $(FW_BUILD)/bin/gok
FW_LIBUSB     := $(FW_BUILD)/libusb/lib/libusb-1.0.a
FW_PARENT     := $(FW_BUILD)/gokrazy
FW_STORAGE    ?= 1258299392
FW_VERSION    ?= $(or $(VERSION),0.1.0)
UPDATE_PUB    ?= $(FW_DIR)/keys/dev-release.pub
RELEASE_KEY   ?= $(FW_DIR)/keys/dev-release.key
FW_TARGET     ?= vm
FW_TEST_TIMEOUT ?= 25m

FW_APT := qemu-system-aarch64:qemu-system-arm \
	/usr/share/qemu-efi-aarch64/QEMU_EFI.fd:qemu-efi-aarch64 \
	aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu \
	/usr/aarch64-linux-gnu/include/stdio.h:libc6-dev-arm64-cross \
	pkg-config:pkg-config mkfs.ext4:e2fsprogs debugfs:e2fsprogs \
	dpkg-source:dpkg-dev make:make

.PHONY: image image-vm image-rpi firmware-deps firmware-test firmware-unit firmware-qemu-test firmware-release firmware-clean

# Install missing Debian packages (only what is missing).
firmware-deps:
	@missing=""; for e in $(FW_APT); do f=$${e%%:*}; p=$${e##*:}; \
	  if [ "$${f#/}" != "$$f" ]; then [ -e "$$f" ] || missing="$$missing $$p"; \
	  else command -v $$f >/dev/null 2>&1 || missing="$$missing $$p"; fi; done; \
	if [ -n "$$missing" ]; then echo "firmware: installing$$missing"; \
	  (apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >/dev/null; fi

$(FW_GOK): $(FW_DIR)/tools/go.mod $(FW_DIR)/tools/go.sum
	cd $(FW_DIR)/tools && GOFLAGS=-mod=readonly go build -o ../build/bin/gok github.com/gokrazy/tools/cmd/gok

$(FW_LIBUSB): $(FW_DIR)/scripts/build-libusb.sh | firmware-deps
	$(FW_DIR)/scripts/build-libusb.sh $(FW_BUILD)/libusb

# One image per target; gok caches builds, so a rebuild takes seconds.
image: image-vm image-rpi

image-vm image-rpi: image-%: $(FW_GOK) $(FW_LIBUSB) | firmware-deps
	@[ "$(UPDATE_PUB)" != "$(FW_DIR)/keys/dev-release.pub" ] || echo "firmware: WARNING: image trusts the committed DEV release key (set UPDATE_PUB for production)"
	VERSION=$(FW_VERSION) UPDATE_PUB=$(UPDATE_PUB) $(FW_DIR)/scripts/build-image.sh $* $(FW_BUILD)/kordon-$*

# A release's version must be the one baked into its root (the box checks
# which version it booted), so the image is (re)built with FW_VERSION first.
firmware-release: image-$(FW_TARGET)
	@test "$$(cat $(FW_BUILD)/kordon-$(FW_TARGET).root.squashfs.version)" = "$(FW_VERSION)" || \
	  { echo "firmware-release: root was built as $$(cat $(FW_BUILD)/kordon-$(FW_TARGET).root.squashfs.version), not $(FW_VERSION)"; exit 1; }
	go run ./cmd/kordon-update release -key $(RELEASE_KEY) -target $(FW_TARGET) -version $(FW_VERSION) \
	  -root $(FW_BUILD)/kordon-$(FW_TARGET).root.squashfs -out $(FW_BUILD)/releases/$(FW_TARGET)/$(FW_VERSION)

firmware-unit:
	go test ./cmd/kordon-update ./cmd/kordon-install

# QEMU tests reuse firmware/build outputs; they build what is missing.
firmware-qemu-test: image-vm
	@mkdir -p $(FW_BUILD)
	cd $(FW_DIR)/qemutest && (KORDON_QEMU_TEST=1 go test -v -count=1 -timeout $(FW_TEST_TIMEOUT) . 2>&1; echo $$? > ../build/firmware-test.rc) \
	  | tee ../build/firmware-test.log \
	  | grep --line-buffered -E '^(=== RUN|--- |FIGURE|PASS|FAIL|ok|panic)|^    [a-z_]+_test.go'; \
	  rc=$$(cat ../build/firmware-test.rc); [ "$$rc" = 0 ] || echo "firmware-test failed: full log in $(FW_BUILD)/firmware-test.log"; exit $$rc

firmware-test: firmware-unit firmware-qemu-test

firmware-clean:
	rm -rf $(FW_BUILD)

.DEFAULT_GOAL := $(_fw_saved_default_goal)
