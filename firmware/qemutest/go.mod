module github.com/kordon/kordon/firmware/qemutest

go 1.26.8
