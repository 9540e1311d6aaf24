# What each flood of the hostile suite costs a legitimate box: p50/p99
# alone and during the flood, in one run (docs/security.md, "Tests").
.PHONY: bench-hostile
bench-hostile:
	$(GO) test -run '^$$' -bench BenchmarkLegitLatencyUnderFlood -benchtime 1x -timeout 20m ./hub/
