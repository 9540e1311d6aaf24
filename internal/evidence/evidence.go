// Package evidence is the chunk protocol that carries a file a reading
// references (an X-ray image, an N42 export) from its box to the hub over
// the box's MQTT link (docs/mqtt.md, "Evidence files"): finding the
// references in a payload, checking requests and chunks, and the hub's
// content-addressed store that assembles verified chunks into a file.
package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kordon/kordon/internal/contract"
)

// Bounds of the protocol.
const (
	// MaxChunk is the most file bytes in one chunk: base64 makes it 4/3
	// larger, which keeps a chunk under the hub's default 256 KiB payload.
	MaxChunk = 128 << 10
	// MaxWindow is the most chunks one request may ask for.
	MaxWindow = 64
	// MaxFile is the largest file served (a CT volume fits; a disk does not).
	MaxFile = 1 << 30
)

var (
	hexSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)
	idRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
)

// ValidSHA256 says whether s is a lower-case hex SHA-256.
func ValidSHA256(s string) bool { return hexSHA.MatchString(s) }

// ChunkSize is the chunk size for a broker that takes payloads up to
// maxPayload bytes: base64 of the data plus room for the JSON around it.
func ChunkSize(maxPayload int) int {
	n := (maxPayload - 1024) / 4 * 3
	return max(min(n, MaxChunk), 1024)
}

// Ref is one file a payload references: a JSON object with a "path" and a
// "sha256" anywhere in it. Pointer (RFC 6901) says where, e.g. "/images/0".
type Ref struct {
	Pointer string `json:"pointer"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size,omitempty"`
}

// Refs finds every file reference in a payload. Families name their
// reference fields as they like; a reference is recognised by its shape.
func Refs(payload []byte) []Ref {
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return nil
	}
	var out []Ref
	walk(v, "", &out)
	return out
}

func walk(v any, ptr string, out *[]Ref) {
	switch x := v.(type) {
	case map[string]any:
		path, _ := x["path"].(string)
		sum, _ := x["sha256"].(string)
		if path != "" && ValidSHA256(sum) {
			r := Ref{Pointer: ptr, Path: path, SHA256: sum}
			if n, ok := x["size"].(float64); ok && n > 0 {
				r.Size = int64(n)
			}
			*out = append(*out, r)
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(x[k], ptr+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), out)
		}
	case []any:
		for i, e := range x {
			walk(e, ptr+"/"+strconv.Itoa(i), out)
		}
	}
}

// Find returns the reference at pointer, if the payload has one there.
func Find(payload []byte, pointer string) (Ref, bool) {
	for _, r := range Refs(payload) {
		if r.Pointer == pointer {
			return r, true
		}
	}
	return Ref{}, false
}

// DecodeRequest reads and checks a request (the box's side).
func DecodeRequest(b []byte) (contract.EvidenceRequest, error) {
	var q contract.EvidenceRequest
	if len(b) > 16<<10 {
		return q, errors.New("request larger than 16 KiB")
	}
	if err := json.Unmarshal(b, &q); err != nil {
		return q, errors.New("not a JSON evidence request")
	}
	switch {
	case q.Schema != contract.EvidenceRequestV1:
		return q, fmt.Errorf("schema is not %s", contract.EvidenceRequestV1)
	case !idRe.MatchString(q.ID):
		return q, errors.New("id must be 1-128 letters, digits or ._:-")
	case !ValidSHA256(q.SHA256):
		return q, errors.New("sha256 must be 64 lower-case hex digits")
	case q.Path == "" || len(q.Path) > 4096:
		return q, errors.New("path missing or longer than 4096 bytes")
	case q.Offset < 0 || q.Offset > MaxFile:
		return q, errors.New("offset out of range")
	case q.ChunkSize < 1 || q.ChunkSize > MaxChunk:
		return q, fmt.Errorf("chunk_size must be 1-%d", MaxChunk)
	case q.Chunks < 1 || q.Chunks > MaxWindow:
		return q, fmt.Errorf("chunks must be 1-%d", MaxWindow)
	}
	return q, nil
}

// NewChunk builds the chunk of a file at offset.
func NewChunk(id, sum string, offset, size int64, data []byte) contract.EvidenceChunk {
	h := sha256.Sum256(data)
	return contract.EvidenceChunk{Schema: contract.EvidenceChunkV1, ID: id, SHA256: sum, Offset: offset, Size: size,
		Data: data, ChunkSHA256: hex.EncodeToString(h[:])}
}

// Refusal builds a refusal answer to a request.
func Refusal(id, sum, code, msg string) contract.EvidenceChunk {
	return contract.EvidenceChunk{Schema: contract.EvidenceChunkV1, ID: id, SHA256: sum, Code: code, Error: msg}
}

// DecodeChunk reads and verifies one chunk (the hub's side): its fields are
// in range, and its data has the hash it claims. A refusal decodes without
// error; its Code is set. maxData bounds the data (the chunk size asked).
func DecodeChunk(b []byte, maxData int) (contract.EvidenceChunk, error) {
	var c contract.EvidenceChunk
	if len(b) > 2*MaxChunk+16<<10 {
		return c, errors.New("chunk message too large")
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, errors.New("not a JSON evidence chunk")
	}
	switch {
	case c.Schema != contract.EvidenceChunkV1:
		return c, fmt.Errorf("schema is not %s", contract.EvidenceChunkV1)
	case !idRe.MatchString(c.ID):
		return c, errors.New("bad id")
	case !ValidSHA256(c.SHA256):
		return c, errors.New("bad sha256")
	}
	if c.Code != "" {
		if len(c.Data) > 0 || len(c.Code) > 32 || len(c.Error) > 1024 {
			return c, errors.New("a refusal carries a short code and message and no data")
		}
		return c, nil
	}
	switch {
	case c.Size < 1 || c.Size > MaxFile:
		return c, errors.New("size out of range")
	case c.Offset < 0 || c.Offset >= c.Size:
		return c, errors.New("offset out of range")
	case len(c.Data) == 0 || len(c.Data) > maxData:
		return c, fmt.Errorf("data must be 1-%d bytes", maxData)
	case int64(len(c.Data)) > c.Size-c.Offset:
		return c, errors.New("data runs past the end of the file")
	}
	h := sha256.Sum256(c.Data)
	if hex.EncodeToString(h[:]) != c.ChunkSHA256 {
		return c, errors.New("chunk does not match its chunk_sha256")
	}
	return c, nil
}
