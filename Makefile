# Kordon. `make run` starts a simulated crossing; `make test` runs every test.
# Both install the Debian packages they need when missing (scripts/deps.sh).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/kordon/kordon/internal/version.Version=$(VERSION)
# Go test timeout for the whole suite; CI has 90 minutes for everything.
TEST_TIMEOUT ?= 30m

.PHONY: all build deps run smoke test vet unit fuzz bench blo-faults clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

run: deps
	@scripts/run-world.sh

# The demo, started and checked headlessly: the specimen reading and the
# bad-document alert must reach the hub.
smoke: deps
	@KORDON_RUN_DIR=$(CURDIR)/run/smoke KORDON_MQTT_PORT=28830 KORDON_HTTP_PORT=28080 \
	 KORDON_BOOTH1_PORT=28081 KORDON_BOOTH2_PORT=28082 \
	 KORDON_BOOTH1_SCREEN_PORT=28091 KORDON_BOOTH2_SCREEN_PORT=28092 scripts/run-crossing.sh --smoke
	@KORDON_BORDER_DIR=$(CURDIR)/run/border-smoke KORDON_BORDER_PORT=29000 scripts/run-border.sh --smoke

vet:
	$(GO) vet ./...

unit: deps
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# Everything CI runs: vet, every Go test (race detector), the demo smoke
# check, and the firmware image boot/update tests under QEMU (mk/firmware.mk).
test: deps vet unit smoke firmware-test

# The BLO network's partition / kill -9 test (centre/faults_test.go) three
# times over; about two minutes a run, so not in make test.
blo-faults:
	KORDON_BLO_FAULTS=1 $(GO) test -race -count=3 -timeout 30m -run TestUplinkSurvivesPartitionAndKills -v ./centre/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin run test-artifacts

-include mk/*.mk
