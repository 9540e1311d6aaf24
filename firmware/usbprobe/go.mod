module github.com/kordon/kordon/firmware/usbprobe

go 1.26.8

require github.com/google/gousb v1.1.3
