// Booth readout. One card per device; a card is rebuilt only when its
// device's state changes, so nothing on screen flickers. The box clears each
// reading after clear_after; the page clears it too at the same moment, so
// personal data leaves the screen even if the stream is down.
"use strict";
const T = (k, v) => I18N.t(k, v);
const $ = id => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

const devices = new Map(); // id -> state from the box
let skew = 0; // box clock minus this browser's clock, ms
let lostTimer = null;

function kindLabel(k) { return I18N.has("kind." + k) ? T("kind." + k) : (k || ""); }

function fmtDate(s) {
  // MRZ dates arrive as YYYY-MM-DD; show them the way the language writes dates.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s || "")) return s || "—";
  const d = new Date(s + "T00:00:00Z");
  // Month by name: 04/05 reads differently in different countries.
  return d.toLocaleDateString(I18N.lang, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
}

function field(label, value, bad) {
  const f = el("div", "field" + (bad ? " bad" : ""));
  f.append(el("div", "k", label), el("div", "v", value === undefined || value === null || value === "" ? "—" : value));
  return f;
}

function documentView(card, r) {
  const p = r.payload || {};
  if (p.failure) {
    // The reader sent part of a document or a corrupt block: nothing to
    // compare, the officer must present the document again.
    card.classList.add("bad");
    card.append(el("div", "verdict bad", T("doc.failed")));
    card.append(el("div", "note", T("doc.failure." + p.failure)));
    return;
  }
  const failed = (p.checks || []).filter(c => !c.ok).map(c => T("field." + c.field));
  let cls = "ok", text = T("doc.valid");
  if (!p.valid) { cls = "bad"; text = T("doc.invalid", { fields: failed.join(", ") || "?" }); }
  else if (p.expired) { cls = "bad"; text = T("doc.expired"); }
  else if (r.quality && r.quality.status === "suspect") { cls = "warn"; text = T("doc.suspect"); }
  card.classList.add(cls);
  card.append(el("div", "verdict " + cls, text));
  card.append(el("div", "name", p.primary_name || ""));
  card.append(el("div", "given", p.secondary_name || ""));
  const f = el("div", "fields");
  f.append(field(T("field.number"), p.number, (p.checks || []).some(c => c.field === "number" && !c.ok)));
  f.append(field(T("field.nationality"), p.nationality));
  f.append(field(T("field.birth_date"), fmtDate(p.birth_date), (p.checks || []).some(c => c.field === "birth_date" && !c.ok)));
  f.append(field(T("field.sex"), p.sex === "F" ? T("sex.f") : p.sex === "M" ? T("sex.m") : (p.sex || "—")));
  f.append(field(T("field.expiry_date"), fmtDate(p.expiry_date) + (p.expired ? " — " + T("doc.expired_short") : ""), p.expired));
  f.append(field(T("field.document"), [p.document_code, p.format].filter(Boolean).join(" · ")));
  f.append(field(T("field.issuer"), p.issuer));
  if (p.minor) f.append(field(T("field.minor"), T("yes"), true));
  card.append(f);
  const checks = el("div", "checks");
  for (const c of p.checks || []) checks.append(el("span", "check " + (c.ok ? "ok" : "bad"), (c.ok ? "✓ " : "✗ ") + T("field." + c.field)));
  card.append(checks);
  if (r.quality && r.quality.reason) card.append(el("div", "note", r.quality.reason));
}

function num(v) { return typeof v === "number" ? v.toLocaleString(I18N.lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) : null; }

function temperatureView(card, r) {
  const p = r.payload || {};
  const c = p.celsius !== undefined ? p.celsius : (p.temperature !== undefined ? p.temperature : p.value);
  const measured = p.measured_celsius;
  let cls, text;
  if (p.fault || (r.quality && r.quality.status === "bad")) {
    cls = "warn"; text = T("temp.fault", { why: p.fault ? (I18N.has("fault." + p.fault) ? T("fault." + p.fault) : p.fault) : (r.quality.reason || "") });
  } else if (p.fever) { cls = "bad"; text = T("temp.fever"); }
  else { cls = "ok"; text = T("temp.normal"); }
  card.classList.add(cls);
  const shown = num(c) !== null ? num(c) : num(measured);
  const big = el("div", "temp" + (cls === "bad" ? " bad" : cls === "warn" ? " muted" : ""), shown !== null ? shown + " °C" : "—");
  card.append(big, el("div", "verdict " + cls, text));
  const f = el("div", "fields");
  if (typeof p.fever_threshold === "number") f.append(field(T("temp.threshold"), num(p.fever_threshold) + " °C"));
  if (typeof p.housing_celsius === "number") f.append(field(T("temp.housing"), num(p.housing_celsius) + " °C"));
  if (p.fault && typeof measured === "number") f.append(field(T("temp.measured"), num(measured) + " °C", true));
  if (f.children.length) card.append(f);
}

// Inspection devices (scanners, trace detectors, portal monitors, ...) are
// shown generically: an alarm verdict when the payload says so, and its
// simple fields.
function alarmState(p) {
  if (typeof p.alarm === "boolean") return p.alarm;
  for (const k of ["decision", "result", "alarm_decision", "state", "status"]) {
    const v = p[k];
    if (typeof v === "string") {
      if (/alarm|threat|positive|detect/i.test(v)) return true;
      if (/clear|no.?alarm|negative|ok/i.test(v)) return false;
    }
  }
  return null;
}

function genericView(card, r) {
  const p = r.payload || {};
  const a = alarmState(p);
  if (a !== null) {
    card.classList.add(a ? "bad" : "ok");
    card.append(el("div", "verdict " + (a ? "bad" : "ok"), T(a ? "alarm.yes" : "alarm.no")));
  } else if (r.quality && r.quality.status === "bad") {
    card.classList.add("warn");
  }
  const dl = el("dl", "kv");
  let n = 0;
  for (const [k, v] of Object.entries(p)) {
    if (n >= 8 || v === null || v === undefined || typeof v === "object" && !Array.isArray(v)) continue;
    let text = Array.isArray(v) ? v.filter(x => typeof x !== "object").join(", ") : typeof v === "boolean" ? T(v ? "yes" : "no") : String(v);
    if (!text) continue;
    dl.append(el("dt", null, I18N.has("field." + k) ? T("field." + k) : k), el("dd", null, text));
    n++;
  }
  if (n) card.append(dl);
}

function renderCard(d) {
  let card = document.querySelector(`.card[data-device="${CSS.escape(d.device)}"]`);
  if (!card) {
    card = el("section", "card");
    card.dataset.device = d.device;
    const list = $("devices");
    const after = [...list.children].find(c => c.dataset.device > d.device);
    list.insertBefore(card, after || null);
  }
  const r = d.reading;
  card.className = "card kind-" + (d.kind || (r && r.kind) || "unknown");
  card.dataset.state = r ? "showing" : "waiting";
  card.dataset.kind = d.kind || "";
  card.dataset.seq = d.seq || "";
  card.textContent = "";
  const head = el("div", "card-head");
  head.append(el("span", "dev", d.device), el("span", "kind", kindLabel(d.kind)));
  if (d.availability) {
    const up = d.availability.state === "up";
    let s = T(up ? "avail.up" : "avail.down");
    if (!up && d.availability.reason) s += " — " + (I18N.has("reason." + d.availability.reason) ? T("reason." + d.availability.reason) : d.availability.reason);
    head.append(el("span", "avail " + (up ? "up" : "down"), s));
  }
  card.append(head);
  if (!r) {
    card.append(el("div", "waiting", T("booth.waiting")));
    return;
  }
  if (r.kind === "document") documentView(card, r);
  else if (r.kind === "temperature") temperatureView(card, r);
  else genericView(card, r);
  card.append(el("div", "time", T("booth.read_at", { time: I18N.fmtTime(r.origin) })));
  if (d.clears_at) {
    const left = Date.parse(d.clears_at) - (Date.now() + skew);
    const bar = el("div", "countdown");
    bar.style.animationDuration = Math.max(0, left) + "ms";
    card.append(bar);
  }
}

// localClear drops a reading from the page when its time is up, whether or
// not the box's clear event arrives.
const clearTimers = new Map();
function scheduleClear(d) {
  clearTimeout(clearTimers.get(d.device));
  if (!d.reading || !d.clears_at) return;
  const left = Date.parse(d.clears_at) - (Date.now() + skew);
  clearTimers.set(d.device, setTimeout(() => {
    const cur = devices.get(d.device);
    if (cur && cur.seq === d.seq && cur.reading) {
      cur.reading = null; cur.clears_at = null;
      renderCard(cur);
    }
  }, Math.max(0, left) + 250));
}

function update(d) {
  const prev = devices.get(d.device);
  devices.set(d.device, d);
  // Same reading and availability as shown: leave the card alone.
  if (prev && JSON.stringify(prev) === JSON.stringify(d)) return;
  renderCard(d);
  scheduleClear(d);
  $("no-devices").hidden = devices.size > 0;
}

function setLink(state) {
  const l = $("link");
  l.dataset.state = state;
  l.textContent = T("link." + state);
}

function tick() {
  $("clock").textContent = new Date(Date.now() + skew).toLocaleTimeString(I18N.lang, { hour: "2-digit", minute: "2-digit" });
}

function langButtons() {
  const box = $("langs");
  box.textContent = "";
  for (const l of I18N.languages) {
    const b = el("button", l.code === I18N.lang ? "on" : "", l.code.toUpperCase());
    b.type = "button";
    b.title = l.name;
    b.dataset.lang = l.code;
    b.addEventListener("click", () => I18N.use(l.code));
    box.append(b);
  }
}

function connect() {
  const es = new EventSource("/booth/events");
  es.addEventListener("snapshot", e => {
    const s = JSON.parse(e.data);
    skew = Date.parse(s.now) - Date.now();
    $("booth-name").textContent = s.title;
    const seen = new Set();
    for (const d of s.devices) { seen.add(d.device); update(d); }
    for (const id of [...devices.keys()]) if (!seen.has(id)) { devices.delete(id); document.querySelector(`.card[data-device="${CSS.escape(id)}"]`)?.remove(); }
    $("no-devices").hidden = devices.size > 0;
    clearTimeout(lostTimer);
    setLink("live");
    document.body.dataset.ready = "1";
  });
  es.addEventListener("device", e => update(JSON.parse(e.data)));
  es.onerror = () => {
    // Only say so after a moment: a reconnect usually succeeds within a second.
    clearTimeout(lostTimer);
    lostTimer = setTimeout(() => setLink("lost"), 3000);
  };
}

(async function start() {
  const s = await fetch("/booth/state").then(r => r.json()).catch(() => ({ lang: "ru" }));
  await I18N.init(s.lang || "ru");
  langButtons();
  setLink("connecting");
  I18N.onChange(() => { langButtons(); setLink($("link").dataset.state); tick(); for (const d of devices.values()) renderCard(d); });
  tick();
  setInterval(tick, 5000);
  connect();
})();
