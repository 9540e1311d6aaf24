package edge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/evidence"
	"github.com/kordon/kordon/internal/logging"
	"github.com/kordon/kordon/internal/reading"
)

type fileRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

type refPayload struct {
	Image fileRef `json:"image"`
}

func (refPayload) Kind() string { return "test_report" }

func sumOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func evidenceBoxForTest(t *testing.T) *Box {
	return &Box{cfg: &Config{Crossing: "c", Box: "b", StateDir: t.TempDir()}, log: logging.Discard(),
		counters: map[string]map[string]int64{}}
}

// ask runs one request through the box and returns what it sent.
func ask(b *Box, path, sum string, offset int64, chunks int) []contract.EvidenceChunk {
	q, _ := json.Marshal(contract.EvidenceRequest{Schema: contract.EvidenceRequestV1, ID: "ev-t", Device: "x1", Seq: 1,
		Path: path, SHA256: sum, Offset: offset, ChunkSize: 1000, Chunks: chunks})
	var out []contract.EvidenceChunk
	b.serveEvidence(q, func(c contract.EvidenceChunk) error {
		out = append(out, c)
		return nil
	})
	return out
}

func refused(t *testing.T, got []contract.EvidenceChunk, code string) {
	t.Helper()
	if len(got) != 1 || got[0].Code != code || got[0].Error == "" || len(got[0].Data) != 0 {
		for i := range got {
			got[i].Data = nil
		}
		t.Fatalf("want one refusal %q with a reason, got %+v", code, got)
	}
}

func TestBoxServesOnlyWhatItsReadingsReference(t *testing.T) {
	b := evidenceBoxForTest(t)
	dir := t.TempDir()
	img := bytes.Repeat([]byte("xray"), 1000) // 4000 bytes: 4 chunks of 1000
	path := filepath.Join(dir, "scan-0001.dcs")
	os.WriteFile(path, img, 0o644)
	b.noteEvidence(reading.Reading{Device: "x1", Seq: 1, Payload: refPayload{Image: fileRef{Path: path, SHA256: sumOf(img)}}})

	got := ask(b, path, sumOf(img), 0, 3)
	if len(got) != 3 || got[2].Offset != 2000 || got[0].Size != 4000 {
		t.Fatalf("first window: %d chunks %+v", len(got), got)
	}
	got = append(got, ask(b, path, sumOf(img), 3000, 3)...)
	var whole []byte
	for _, c := range got {
		js, _ := json.Marshal(c)
		dc, err := evidence.DecodeChunk(js, 1000)
		if err != nil {
			t.Fatal(err)
		}
		whole = append(whole, dc.Data...)
	}
	if !bytes.Equal(whole, img) {
		t.Fatalf("reassembled %d bytes differ", len(whole))
	}

	// Another file on the box, asked for with its true hash: never served.
	passwd := []byte("root:x:0:0::/root:/bin/sh\n")
	secret := filepath.Join(dir, "passwd")
	os.WriteFile(secret, passwd, 0o644)
	refused(t, ask(b, secret, sumOf(passwd), 0, 1), contract.EvidenceNotReferenced)
	// The referenced hash under another path, or a path climbing out.
	refused(t, ask(b, dir+"/../"+filepath.Base(dir)+"/scan-0001.dcs", sumOf(img), 0, 1), contract.EvidenceNotReferenced)
	refused(t, ask(b, secret, sumOf(img), 0, 1), contract.EvidenceNotReferenced)

	// A reading whose path climbs is never indexed, whatever it points at.
	b.noteEvidence(reading.Reading{Device: "x1", Seq: 2, Payload: refPayload{Image: fileRef{Path: dir + "/../" + filepath.Base(dir) + "/passwd", SHA256: sumOf(passwd)}}})
	refused(t, ask(b, dir+"/../"+filepath.Base(dir)+"/passwd", sumOf(passwd), 0, 1), contract.EvidenceNotReferenced)
	if n := b.Status().Counters["x1"]["evidence_unindexed"]; n != 1 {
		t.Errorf("evidence_unindexed = %d, want 1", n)
	}

	// The same content at a second path: both paths are served.
	copyPath := filepath.Join(dir, "scan-0001-copy.dcs")
	os.WriteFile(copyPath, img, 0o644)
	b.noteEvidence(reading.Reading{Device: "x1", Seq: 3, Payload: refPayload{Image: fileRef{Path: copyPath, SHA256: sumOf(img)}}})
	for _, p := range []string{path, copyPath} {
		if got := ask(b, p, sumOf(img), 0, 1); len(got) != 1 || got[0].Code != "" {
			t.Fatalf("%s: %+v", p, got[0].Code)
		}
	}

	// The index survives a restart of edged.
	b2 := evidenceBoxForTest(t)
	b2.cfg.StateDir = b.cfg.StateDir
	if got := ask(b2, path, sumOf(img), 0, 1); len(got) != 1 || got[0].Code != "" {
		t.Fatalf("after restart: %+v", got)
	}
}

func TestBoxRefusesAChangedMissingOrSymlinkedFile(t *testing.T) {
	b := evidenceBoxForTest(t)
	dir := t.TempDir()
	img := []byte("the image as scanned")
	path := filepath.Join(dir, "scan.dcs")
	os.WriteFile(path, img, 0o644)
	b.noteEvidence(reading.Reading{Device: "x1", Seq: 1, Payload: refPayload{Image: fileRef{Path: path, SHA256: sumOf(img)}}})

	os.WriteFile(path, []byte("the image, edited"), 0o644)
	refused(t, ask(b, path, sumOf(img), 0, 1), contract.EvidenceChanged)

	// Same content behind a symlink: still refused, the link is not followed.
	real := filepath.Join(dir, "elsewhere")
	os.WriteFile(real, img, 0o644)
	os.Remove(path)
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	refused(t, ask(b, path, sumOf(img), 0, 1), contract.EvidenceNotRegular)

	os.Remove(path)
	refused(t, ask(b, path, sumOf(img), 0, 1), contract.EvidenceMissing)

	// A malformed request is answered too, when it can be.
	var out []contract.EvidenceChunk
	q, _ := json.Marshal(contract.EvidenceRequest{Schema: contract.EvidenceRequestV1, ID: "ev-t", Path: path, SHA256: sumOf(img), ChunkSize: 0, Chunks: 1})
	b.serveEvidence(q, func(c contract.EvidenceChunk) error { out = append(out, c); return nil })
	refused(t, out, contract.EvidenceBadRequest)
	if n := b.Status().Counters["_evidence"]["refused_changed"]; n != 1 {
		t.Errorf("refused_changed = %d, want 1", n)
	}
}
