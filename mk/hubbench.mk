# The hub benchmark (README.md, "Hub benchmark"): hubd beside Debian's
# mosquitto at 10, 50 and 200 boxes, routine and mixed readings (three
# alternating round pairs each, and their medians), the drain
# of one box's backlog, and ingest with 10M readings stored. Prints figures;
# asserts nothing. HUBBENCH_FLAGS adds or overrides flags (see -h).
HUBBENCH_FLAGS ?=
.PHONY: bench-hub
bench-hub: deps
	$(GO) build -o bin/hubbench ./cmd/hubbench
	$(GO) build -o bin/hubd ./cmd/hubd
	bin/hubbench -hubd bin/hubd -boxes 10,50,200 -sets routine,mixed -duration 10s -pairs 3 -drain 100000 -nominal 1 \
	  -stored 10000000 -cpuprofile bin/hubbench $(HUBBENCH_FLAGS)
