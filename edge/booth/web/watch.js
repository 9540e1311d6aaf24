// Technician's live view of a box's devices: every reading as it arrives,
// the bytes the device sent beside what the driver decoded from them. It
// keeps the last 200 frames on screen and nothing anywhere else.
"use strict";
const T = (k, v) => I18N.t(k, v);
const $ = id => document.getElementById(id);
let es = null;
let paused = false;

// hexdump writes bytes 16 to a line, hex then printable ASCII.
function hexdump(hex) {
  const b = (hex.match(/../g) || []).map(h => parseInt(h, 16));
  const lines = [];
  for (let i = 0; i < b.length; i += 16) {
    const row = b.slice(i, i + 16);
    const h = row.map(x => x.toString(16).padStart(2, "0")).join(" ").padEnd(47, " ");
    const a = row.map(x => (x >= 32 && x < 127 ? String.fromCharCode(x) : ".")).join("");
    lines.push(i.toString(16).padStart(4, "0") + "  " + h + "  " + a);
  }
  return lines.join("\n") || "—";
}

function cell(text, pre) {
  const td = document.createElement("td");
  if (pre) { const p = document.createElement("pre"); p.textContent = text; td.append(p); } else td.textContent = text;
  return td;
}

function frame(f) {
  if (paused) return;
  const r = f.reading || {};
  const tr = document.createElement("tr");
  tr.className = "q-" + ((r.quality && r.quality.status) || "ok");
  tr.dataset.device = f.device;
  tr.dataset.seq = f.seq;
  const decoded = { quality: r.quality, payload: r.payload };
  tr.append(cell(I18N.fmtTime(f.arrived)), cell(f.device), cell(String(f.seq)), cell(hexdump(f.raw_hex || ""), true), cell(JSON.stringify(decoded, null, 1), true));
  const tb = $("frames");
  tb.prepend(tr);
  while (tb.children.length > 200) tb.lastChild.remove();
}

function connect() {
  if (es) es.close();
  const dev = $("device").value;
  es = new EventSource("/booth/watch/events" + (dev ? "?device=" + encodeURIComponent(dev) : ""));
  es.addEventListener("hello", e => {
    const h = JSON.parse(e.data);
    const sel = $("device");
    const keep = sel.value;
    sel.querySelectorAll("option:not([value=''])").forEach(o => o.remove());
    for (const d of h.devices) { const o = document.createElement("option"); o.value = d; o.textContent = d; sel.append(o); }
    sel.value = keep;
    $("state").textContent = T("link.live");
    document.body.dataset.ready = "1";
  });
  es.addEventListener("frame", e => frame(JSON.parse(e.data)));
  es.onerror = () => { $("state").textContent = T("link.lost"); };
}

(async function start() {
  await I18N.init(new URLSearchParams(location.search).get("lang") || "en");
  const q = new URLSearchParams(location.search).get("device");
  if (q) { const o = document.createElement("option"); o.value = q; o.textContent = q; $("device").append(o); $("device").value = q; }
  $("device").addEventListener("change", connect);
  $("pause").addEventListener("click", () => { paused = !paused; $("pause").textContent = T(paused ? "watch.resume" : "watch.pause"); });
  $("clear").addEventListener("click", () => { $("frames").textContent = ""; });
  connect();
})();
