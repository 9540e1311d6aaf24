package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
	"github.com/kordon/kordon/drivers/xray/xraytest"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/evidence"
)

func evSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// storeEvidenceReading puts a reading of box booth-1 referencing a file
// of this content at the hub, as ingest would.
func storeEvidenceReading(t *testing.T, h *Hub, content []byte) {
	t.Helper()
	body := `{"schema":"kordon.reading/1","crossing":"kz-test","box":"booth-1","device":"xray1","driver":"dicos","seq":1,
		"kind":"threat_report","origin":"2026-11-01T09:00:00Z","quality":{"status":"ok"},
		"payload":{"image":{"path":"/srv/xray/scan.dcs","sha256":"` + evSum(content) + `"}}}`
	if _, err := h.store.db.Exec(`INSERT INTO readings(box, device, seq, kind, origin, received, quality, body) VALUES ('booth-1','xray1',1,'threat_report',?,?,'ok',?)`,
		"2026-11-01T09:00:00Z", time.Now().UTC().Format(time.RFC3339Nano), body); err != nil {
		t.Fatal(err)
	}
}

// evidenceBox answers the hub's evidence requests as a (lying) box would.
func evidenceBox(t *testing.T, h *Hub, box string, answer func(contract.EvidenceRequest) []contract.EvidenceChunk) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + h.MQTTAddr()).SetClientID("kordon-kz-test-" + box).
		SetUsername(box).SetPassword("pw-" + box).SetProtocolVersion(4))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", box, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	tok := c.Subscribe(contract.EvidenceRequests("kz-test", box), 1, func(c paho.Client, m paho.Message) {
		q, err := evidence.DecodeRequest(m.Payload())
		if err != nil {
			t.Errorf("request: %v", err)
			return
		}
		for _, ch := range answer(q) {
			js, _ := json.Marshal(ch)
			c.Publish(contract.Evidence("kz-test", box), 1, false, js).Wait()
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return c
}

func (c *client) fetch(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const evView = "/dash/api/evidence/booth-1/xray1/1/file?ref=/image&as=file"

func TestHubRefusesAChunkStreamThatDoesNotVerify(t *testing.T) {
	h := startCommandHub(t)
	h.evidence.cfg.ChunkTimeout = 300 * time.Millisecond
	file := bytes.Repeat([]byte("scan"), 100_000)
	storeEvidenceReading(t, h, file)
	sup := login(t, h, "sup")

	// Chunks whose data is not what their own hash says.
	evidenceBox(t, h, "booth-1", func(q contract.EvidenceRequest) []contract.EvidenceChunk {
		c := evidence.NewChunk(q.ID, q.SHA256, q.Offset, int64(len(file)), file[q.Offset:q.Offset+1000])
		c.Data[0] ^= 1
		return []contract.EvidenceChunk{c}
	})
	code, body := sup.fetch(t, evView)
	if code != http.StatusBadGateway || !strings.Contains(string(body), "did not verify") {
		t.Fatalf("tampered chunks: %d %s", code, body)
	}
	if h.EvidenceCounters().BadChunks < 3 || h.evidence.store.Has(evSum(file)) {
		t.Errorf("counters %+v; stored: %v", h.EvidenceCounters(), h.evidence.store.Has(evSum(file)))
	}
	if m := scrape(t, h); !strings.Contains(m, `kordon_hub_evidence_total{what="bad_chunks"} 3`) {
		t.Errorf("metrics lack the bad chunks:\n%s", m)
	}
}

func TestHubRefusesAWholeThatDoesNotMatchTheReading(t *testing.T) {
	h := startCommandHub(t)
	file := bytes.Repeat([]byte("scan"), 100_000)
	storeEvidenceReading(t, h, file)
	sup := login(t, h, "sup")
	// Every chunk is sound on its own, but the whole is another file.
	other := bytes.Repeat([]byte("SCAN"), 100_000)
	evidenceBox(t, h, "booth-1", func(q contract.EvidenceRequest) []contract.EvidenceChunk {
		var out []contract.EvidenceChunk
		for off := q.Offset; off < int64(len(other)) && len(out) < q.Chunks; off += int64(q.ChunkSize) {
			end := min(off+int64(q.ChunkSize), int64(len(other)))
			out = append(out, evidence.NewChunk(q.ID, q.SHA256, off, int64(len(other)), other[off:end]))
		}
		return out
	})
	code, body := sup.fetch(t, evView)
	if code != http.StatusBadGateway || h.evidence.store.Has(evSum(file)) {
		t.Fatalf("wrong whole: %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(h.cfg.DataDir, "evidence", "partial", evSum(file)+".part")); err == nil {
		t.Error("the partial file of a whole that did not verify was kept")
	}
	log, _ := h.EvidenceLog(t.Context(), 1)
	if len(log) != 1 || log[0].Outcome != "unverified" {
		t.Errorf("access log %+v", log)
	}
}

func TestOnlyTheBoxAskedCanAnswerAndNoBoxCanAsk(t *testing.T) {
	h := startCommandHub(t)
	h.evidence.cfg.ChunkTimeout = 200 * time.Millisecond
	h.evidence.cfg.FetchTimeout = 2 * time.Second
	file := []byte("an N42 export")
	storeEvidenceReading(t, h, file)
	sup := login(t, h, "sup")
	// booth-2 cannot read booth-1's requests (the ACL), and its chunks
	// under its own topic never count for booth-1's transfer.
	c2 := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + h.MQTTAddr()).SetClientID("kordon-kz-test-booth-2").
		SetUsername("booth-2").SetPassword("pw-booth-2").SetProtocolVersion(4))
	if tok := c2.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c2.Disconnect(0)
	denied := h.Counters().Denied
	c2.Subscribe(contract.EvidenceRequests("kz-test", "booth-1"), 1, nil).WaitTimeout(5 * time.Second)
	if h.Counters().Denied == denied {
		t.Error("booth-2 subscribed to booth-1's evidence requests")
	}
	code, _ := sup.fetch(t, evView)
	if code != http.StatusGatewayTimeout || h.evidence.store.Has(evSum(file)) {
		t.Fatalf("no box answering: %d", code)
	}
	// A box may not publish requests to itself (only the hub asks).
	denied = h.Counters().Denied
	evidenceBox(t, h, "booth-1", func(contract.EvidenceRequest) []contract.EvidenceChunk { return nil }).
		Publish(contract.EvidenceRequests("kz-test", "booth-1"), 1, false, []byte("{}")).WaitTimeout(2 * time.Second)
	waitFor(t, "the ACL to deny the box's own request", func() bool { return h.Counters().Denied > denied })
}

func TestRenderDICOMStretchesThePixelRamp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img.dcs")
	os.WriteFile(path, xraytest.Image(t, 40, 30), 0o600)
	b, err := renderDICOM(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	g, ok := img.(*image.Gray)
	if !ok || g.Bounds().Dx() != 30 || g.Bounds().Dy() != 40 || g.GrayAt(0, 0).Y != 0 || g.GrayAt(29, 39).Y != 255 {
		t.Fatalf("picture %T %v", img, img.Bounds())
	}
	os.WriteFile(path, xraytest.AlarmReport(t), 0o600)
	if _, err := renderDICOM(path); err == nil || !strings.Contains(err.Error(), "pixel data") {
		t.Errorf("a report without pixels: %v", err)
	}
	os.WriteFile(path, []byte("not dicom at all"), 0o600)
	if _, err := renderDICOM(path); err == nil {
		t.Error("garbage rendered")
	}
}

// TestRenderRefusesAHugeDeclaredLength: a file fetched from a box that
// declares a 4 GiB element in a few bytes is refused before the DICOM
// library allocates what it declares.
func TestRenderRefusesAHugeDeclaredLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.dcs")
	for _, vr := range []string{"UT", "OB", "UN"} {
		os.WriteFile(path, dicostest.HugeLength(vr), 0o600)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := renderDICOM(path)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: rendered a file declaring a 4 GiB element", vr)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Errorf("%s: rendering a few bytes allocated %d MiB", vr, grew>>20)
		}
	}
}

func TestAFetchOutlivesTheRequestThatStartedIt(t *testing.T) {
	h := startCommandHub(t)
	h.evidence.cfg.Wait = 300 * time.Millisecond
	file := bytes.Repeat([]byte("n42 "), 50_000)
	storeEvidenceReading(t, h, file)
	sup := login(t, h, "sup")
	release := make(chan struct{})
	asked := make(chan struct{}, 16)
	evidenceBox(t, h, "booth-1", func(q contract.EvidenceRequest) []contract.EvidenceChunk {
		asked <- struct{}{}
		<-release // a slow uplink
		var out []contract.EvidenceChunk
		for off := q.Offset; off < int64(len(file)) && len(out) < q.Chunks; off += int64(q.ChunkSize) {
			end := min(off+int64(q.ChunkSize), int64(len(file)))
			out = append(out, evidence.NewChunk(q.ID, q.SHA256, off, int64(len(file)), file[off:end]))
		}
		return out
	})
	code, body := sup.fetch(t, evView)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "still fetching") {
		t.Fatalf("first request: %d %s", code, body)
	}
	<-asked
	close(release)
	code, body = sup.fetch(t, evView) // joins the fetch under way, or finds the file stored
	if code != http.StatusOK || !bytes.Equal(body, file) {
		t.Fatalf("second request: %d (%d bytes)", code, len(body))
	}
	if c := h.EvidenceCounters(); c.FromBox != 1 || c.Requests != 1 {
		t.Errorf("counters %+v: one fetch, one window, expected", c)
	}
	log, _ := h.EvidenceLog(t.Context(), 2)
	if len(log) != 2 || log[1].Outcome != "pending" || log[0].Action != "download" {
		t.Errorf("access log %+v", log)
	}
}

func TestTheHubFetchesEvidenceItself(t *testing.T) {
	h := startCommandHub(t)
	file := bytes.Repeat([]byte("tdr "), 70_000) // three chunks
	storeEvidenceReading(t, h, file)
	evidenceBox(t, h, "booth-1", func(q contract.EvidenceRequest) []contract.EvidenceChunk {
		var out []contract.EvidenceChunk
		for off := q.Offset; off < int64(len(file)) && len(out) < q.Chunks; off += int64(q.ChunkSize) {
			end := min(off+int64(q.ChunkSize), int64(len(file)))
			out = append(out, evidence.NewChunk(q.ID, q.SHA256, off, int64(len(file)), file[off:end]))
		}
		return out
	})
	path, err := h.FetchEvidence(t.Context(), "booth-1", "xray1", 1, "/image")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, file) || path != h.EvidencePath(evSum(file)) {
		t.Fatalf("stored at %s: %d bytes", path, len(b))
	}
	if _, err := h.FetchEvidence(t.Context(), "booth-1", "xray1", 1, "/nothing"); err == nil {
		t.Error("a pointer the reading lacks was fetched")
	}
	log, _ := h.EvidenceLog(t.Context(), 1)
	if len(log) != 1 || log[0].User != "hub" || log[0].Action != "fetch" || log[0].Outcome != "box" {
		t.Errorf("access log %+v", log)
	}
}

// TestEvidenceOfTheReadingsOwnLife: a re-provisioned box numbers its
// readings from 1 again; the files listed for a reading of its earlier
// life are that reading's, not those of the newer reading with its number.
func TestEvidenceOfTheReadingsOwnLife(t *testing.T) {
	h := startCommandHub(t)
	for _, r := range []struct{ inc, path string }{{"life-1", "/srv/xray/earlier.dcs"}, {"life-2", "/srv/xray/newer.dcs"}} {
		body := `{"schema":"kordon.reading/2","incarnation":"` + r.inc + `","crossing":"kz-test","box":"booth-1","device":"xray1","driver":"dicos","seq":1,
			"kind":"threat_report","origin":"2026-11-01T09:00:00Z","quality":{"status":"ok"},
			"payload":{"image":{"path":"` + r.path + `","sha256":"` + evSum([]byte(r.path)) + `"}}}`
		if _, err := h.store.db.Exec(`INSERT INTO readings(box, incarnation, device, seq, kind, origin, received, quality, body) VALUES ('booth-1',?,'xray1',1,'threat_report','','','ok',?)`, r.inc, body); err != nil {
			t.Fatal(err)
		}
	}
	sup := login(t, h, "sup")
	for query, want := range map[string]string{"?incarnation=life-1": "earlier.dcs", "?incarnation=life-2": "newer.dcs", "": "newer.dcs"} {
		code, body := sup.fetch(t, "/dash/api/evidence/booth-1/xray1/1"+query)
		var files []EvidenceFile
		if code != http.StatusOK || json.Unmarshal(body, &files) != nil || len(files) != 1 || files[0].Name != want {
			t.Errorf("evidence of booth-1/xray1/1%s: %d %s; want %s", query, code, body, want)
		}
	}
	if code, _ := sup.fetch(t, "/dash/api/evidence/booth-1/xray1/1?incarnation=life-3"); code != http.StatusNotFound {
		t.Errorf("a life the hub never saw: %d, want 404", code)
	}
}
