package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/schema"
)

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestRefsFindsEveryPathAndHashWhateverTheFieldIsCalled(t *testing.T) {
	a, b := sum([]byte("a")), sum([]byte("b"))
	payload := `{"file":{"path":"/x/tdr.dcs","sha256":"` + a + `","size":12},
		"images":[{"uid":"1","found":false},{"uid":"2","path":"/x/img.dcs","sha256":"` + b + `"}],
		"n42":{"path":"/y/o.n42","sha256":"not-a-hash"}, "a/b":{"path":"/z","sha256":"` + a + `"}}`
	refs := Refs([]byte(payload))
	want := []Ref{{Pointer: "/a~1b", Path: "/z", SHA256: a}, {Pointer: "/file", Path: "/x/tdr.dcs", SHA256: a, Size: 12}, {Pointer: "/images/1", Path: "/x/img.dcs", SHA256: b}}
	if len(refs) != len(want) {
		t.Fatalf("refs %+v", refs)
	}
	for i := range want {
		if refs[i] != want[i] {
			t.Errorf("ref %d: %+v, want %+v", i, refs[i], want[i])
		}
	}
	if r, ok := Find([]byte(payload), "/images/1"); !ok || r.Path != "/x/img.dcs" {
		t.Errorf("Find: %+v %v", r, ok)
	}
	if _, ok := Find([]byte(payload), "/n42"); ok {
		t.Error("a reference without a valid hash was found")
	}
}

func TestChunksRoundTripAndTamperedDataIsRefused(t *testing.T) {
	data := []byte("0123456789")
	c := NewChunk("ev-1", sum(data), 0, 10, data)
	js, _ := json.Marshal(c)
	got, err := DecodeChunk(js, 1024)
	if err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("decode: %v %+v", err, got)
	}
	c.Data = []byte("0123456788")
	js, _ = json.Marshal(c)
	if _, err := DecodeChunk(js, 1024); err == nil || !strings.Contains(err.Error(), "chunk_sha256") {
		t.Errorf("tampered chunk: %v", err)
	}
	js, _ = json.Marshal(NewChunk("ev-1", sum(data), 5, 10, data))
	if _, err := DecodeChunk(js, 1024); err == nil {
		t.Error("a chunk running past the end of its file was taken")
	}
	js, _ = json.Marshal(Refusal("ev-1", sum(data), contract.EvidenceChanged, "changed"))
	if r, err := DecodeChunk(js, 1024); err != nil || r.Code != contract.EvidenceChanged {
		t.Errorf("refusal: %v %+v", err, r)
	}
}

func TestStoreAssemblesResumesAndRefusesAWrongWhole(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	file := bytes.Repeat([]byte("kordon "), 1000)
	s := sum(file)
	p, _ := st.Begin(s)
	if err := p.Write(NewChunk("ev", s, 0, int64(len(file)), file[:3000])); err != nil {
		t.Fatal(err)
	}
	if err := p.Write(NewChunk("ev", s, 4000, int64(len(file)), file[4000:])); err == nil {
		t.Fatal("a chunk after a gap was written")
	}
	p.Close() // the link dropped
	p, _ = st.Begin(s)
	if p.Len() != 3000 {
		t.Fatalf("resumed at %d, want 3000", p.Len())
	}
	p.Write(NewChunk("ev", s, 3000, int64(len(file)), file[3000:]))
	path, err := p.Finish()
	if err != nil || !st.Has(s) {
		t.Fatalf("finish: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, file) {
		t.Error("stored file differs")
	}

	other := sum([]byte("something else"))
	p, _ = st.Begin(other)
	p.Write(NewChunk("ev", other, 0, int64(len(file)), file))
	if _, err := p.Finish(); !errors.Is(err, ErrMismatch) || st.Has(other) {
		t.Fatalf("wrong whole: %v", err)
	}
	if p, _ := st.Begin(other); p.Len() != 0 {
		t.Errorf("after a mismatch the next fetch starts at %d, want 0", p.Len())
	}
}

func TestChunkSizeFitsThePayloadLimit(t *testing.T) {
	for _, limit := range []int{256 << 10, 64 << 10, 8 << 10} {
		n := ChunkSize(limit)
		data := bytes.Repeat([]byte{0xff}, n)
		js, _ := json.Marshal(NewChunk("ev-"+strings.Repeat("x", 60), sum(data), 1<<29, 1<<30, data))
		if len(js) > limit {
			t.Errorf("limit %d: a chunk of %d bytes is a %d-byte message", limit, n, len(js))
		}
	}
}

func FuzzDecodeChunk(f *testing.F) {
	data := []byte("evidence")
	good, _ := json.Marshal(NewChunk("ev-1", sum(data), 0, 8, data))
	ref, _ := json.Marshal(Refusal("ev-1", sum(data), "changed", "x"))
	f.Add(good)
	f.Add(ref)
	f.Add([]byte(`{"schema":"kordon.evidence-chunk/1","id":"a","sha256":"","offset":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChunk(b, MaxChunk)
		if err != nil || c.Code != "" {
			return
		}
		// Whatever decodes is a chunk that fits its file and its hash.
		if c.Offset < 0 || c.Offset+int64(len(c.Data)) > c.Size || sum(c.Data) != c.ChunkSHA256 {
			t.Fatalf("decoded an impossible chunk %+v", c)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	q, _ := json.Marshal(contract.EvidenceRequest{Schema: contract.EvidenceRequestV1, ID: "ev-1", Path: "/a", SHA256: sum(nil), ChunkSize: 10, Chunks: 1})
	f.Add(q)
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := DecodeRequest(b)
		if err == nil && (q.ChunkSize < 1 || q.ChunkSize > MaxChunk || q.Chunks < 1 || q.Offset < 0 || !ValidSHA256(q.SHA256)) {
			t.Fatalf("decoded an impossible request %+v", q)
		}
	})
}

func TestMessagesMatchTheirJSONSchemas(t *testing.T) {
	v, err := schema.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{7}, MaxChunk)
	q, _ := json.Marshal(contract.EvidenceRequest{Schema: contract.EvidenceRequestV1, ID: "ev-1", Device: "x1", Seq: 3,
		Path: "/srv/x.dcs", SHA256: sum(data), Offset: 0, ChunkSize: MaxChunk, Chunks: MaxWindow})
	c, _ := json.Marshal(NewChunk("ev-1", sum(data), 0, MaxChunk, data))
	r, _ := json.Marshal(Refusal("ev-1", sum(data), contract.EvidenceNotRegular, "a symlink"))
	for _, m := range [][]byte{q, c, r} {
		if err := v.Validate(m); err != nil {
			t.Errorf("%.120s: %v", m, err)
		}
	}
	bad, _ := json.Marshal(contract.EvidenceChunk{Schema: contract.EvidenceChunkV1, ID: "ev-1", SHA256: sum(data), Code: "changed", Error: "x", Data: []byte("x")})
	if v.Validate(bad) == nil {
		t.Error("a refusal carrying data validated")
	}
}
