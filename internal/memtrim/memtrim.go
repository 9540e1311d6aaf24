// Package memtrim gives back to the kernel the pages of the running
// executable that were touched once, at start-up, and are not needed again.
//
// Starting a Go program runs every package's init and, in edged, compiles
// schemas and rules and loads the config: that touches code and read-only
// data all over the binary, and the kernel maps each touched page with its
// neighbours (fault-around), so most of the executable ends up resident
// and counted in RSS although the steady work uses a small part of it. The
// pages are clean and backed by the file; giving them back changes nothing
// but residency, and the ones still used are faulted in again on the next
// touch.
package memtrim

// Stats is what a Release did.
type Stats struct {
	Mappings int   // mappings of the executable advised
	Before   int64 // resident bytes of the process before (VmRSS)
	After    int64 // and after
}
