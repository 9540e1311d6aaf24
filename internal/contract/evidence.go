package contract

// Evidence on request (docs/mqtt.md, "Evidence files"): the hub asks a box
// for a file one of its readings references (an X-ray image, an N42
// export), and the box sends it back in bounded, individually hashed chunks.

// EvidenceRequests is where the hub asks a box for chunks of a file; only
// the hub may publish here, and only that box may read it (hub/auth.go).
func EvidenceRequests(crossing, box string) string {
	return Prefix + "/" + crossing + "/" + box + "/evidence-requests"
}

// Evidence is where a box answers: chunks of the file, or a refusal. The
// hub consumes these inside the broker; they are never passed on to
// subscribers (observers do not see evidence).
func Evidence(crossing, box string) string { return Prefix + "/" + crossing + "/" + box + "/evidence" }

// Schema tags of the evidence messages.
const (
	EvidenceRequestV1 = "kordon.evidence-request/1"
	EvidenceChunkV1   = "kordon.evidence-chunk/1"
)

// EvidenceRequest asks a box for up to Chunks chunks of one file, from Offset.
// The file is named by the reading that references it: Path and SHA256 must
// be exactly what that reading said, or the box refuses.
type EvidenceRequest struct {
	Schema    string `json:"schema"`
	ID        string `json:"id"` // the transfer; every chunk carries it back
	Device    string `json:"device"`
	Seq       uint64 `json:"seq"`
	Path      string `json:"path"`
	SHA256    string `json:"sha256"`
	Offset    int64  `json:"offset"`
	ChunkSize int    `json:"chunk_size"` // bytes of file per chunk
	Chunks    int    `json:"chunks"`     // how many chunks to send now
}

// Refusal codes a box may answer with (EvidenceChunk.Code).
const (
	EvidenceNotReferenced = "not-referenced" // no reading this box took references this path and hash
	EvidenceChanged       = "changed"        // the file no longer has the reading's SHA-256
	EvidenceMissing       = "missing"        // the file is gone
	EvidenceNotRegular    = "not-regular"    // a symlink, directory or device, never served
	EvidenceTooLarge      = "too-large"
	EvidenceBadRequest    = "bad-request"
	EvidenceUnavailable   = "unavailable" // the box cannot read it now (I/O error)
)

// EvidenceChunk is one piece of a file, or (Code set, no Data) a refusal.
type EvidenceChunk struct {
	Schema      string `json:"schema"`
	ID          string `json:"id"`
	SHA256      string `json:"sha256"`                 // the whole file's
	Offset      int64  `json:"offset"`                 // of Data in the file
	Size        int64  `json:"size"`                   // of the whole file
	Data        []byte `json:"data,omitempty"`         // base64 in JSON
	ChunkSHA256 string `json:"chunk_sha256,omitempty"` // of Data
	Code        string `json:"code,omitempty"`         // a refusal
	Error       string `json:"error,omitempty"`        // what the refusal means, for people
}
