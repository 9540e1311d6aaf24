"use strict";
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
const boxes = {};
function push(list, item) { list.prepend(item); while (list.children.length > 200) list.lastChild.remove(); }
function summary(r) {
  const p = r.payload || {};
  if (r.kind === "document") return `${p.format || "?"} ${p.document_code || ""} issuer ${p.issuer || "?"} — checks ${p.valid ? "passed" : "FAILED"}`;
  return JSON.stringify(p).slice(0, 160);
}
function addReading(r) {
  const li = el("li");
  li.append(el("div", r.quality.status, `${r.box} / ${r.device}: ${r.kind} · ${summary(r)}`));
  li.append(el("div", "meta", `#${r.seq} · ${new Date(r.origin).toLocaleTimeString()} · quality ${r.quality.status}${r.quality.reason ? " (" + r.quality.reason + ")" : ""}${r.historical ? " · historical" : ""}`));
  li.dataset.kind = r.kind;
  push(document.getElementById("readings"), li);
}
function addAlert(a) {
  const li = el("li", "sev-" + a.severity);
  li.append(el("div", null, `${a.severity.toUpperCase()} · ${a.summary}`));
  li.append(el("div", "meta", `${a.box} / ${a.device} · rule ${a.rule} · ${new Date(a.time).toLocaleTimeString()}`));
  li.dataset.rule = a.rule;
  push(document.getElementById("alerts"), li);
}
function showBoxes() {
  const b = document.getElementById("boxes"); b.textContent = "";
  for (const [k, v] of Object.entries(boxes)) b.append(el("span", v === "online" ? "" : "bad", `${k}: ${v}`));
}
async function start() {
  const [rs, as] = await Promise.all([fetch("/api/readings?limit=50").then(r => r.json()), fetch("/api/alerts?limit=50").then(r => r.json())]);
  rs.reverse().forEach(addReading); as.reverse().forEach(addAlert);
  const es = new EventSource("/events");
  es.onopen = () => document.getElementById("conn").textContent = "live";
  es.onerror = () => document.getElementById("conn").textContent = "reconnecting…";
  es.addEventListener("reading", e => addReading(JSON.parse(e.data)));
  es.addEventListener("alert", e => addAlert(JSON.parse(e.data)));
  es.addEventListener("state", e => { const s = JSON.parse(e.data); if (s.schema === "kordon.state/1") { boxes[s.box] = s.state; showBoxes(); } });
}
start();
