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
let hub = { state: "never", since: null }; // the box's link to the hub (the BLO)
let boxLink = "connecting"; // this page's link to the box

// Urgency of a card: the officer's eye goes to the top left first, so the
// cards are ordered by it (ties by device id, so order is stable).
//   0 an alarm about the traveller (fever, inspection alarm)
//   1 a document that failed (check digits, expired, unreadable)
//   2 a device that is not working or not trustworthy
//   3 a reading that is fine
//   4 nothing to show (ready, empty lane)
// A family's view (views, below) judges its own readings.
function urgency(d) {
  const r = d.reading;
  const down = d.availability && d.availability.state !== "up";
  if (!r) return down ? 2 : 4;
  const v = views[r.kind];
  if (v && v.urgency) return v.urgency(r, down);
  if (alarmState(r.payload || {}) === true) return 0;
  return down ? 2 : 3;
}

function reorder() {
  const list = $("devices");
  const cards = [...list.children];
  cards.sort((a, b) => (a.dataset.urgency - b.dataset.urgency) || (a.dataset.device < b.dataset.device ? -1 : a.dataset.device > b.dataset.device ? 1 : 0));
  // Move only what is out of place: a card that stays put is not redrawn.
  cards.forEach((c, i) => { if (list.children[i] !== c) list.insertBefore(c, list.children[i] || null); });
}

function kindLabel(k) { return I18N.has("kind." + k) ? T("kind." + k) : (k || ""); }

function fmtDate(s) {
  // MRZ dates arrive as YYYY-MM-DD; show them the way the language writes dates.
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s || "")) return s || "—";
  return I18N.fmtDay(s); // month by name: 04/05 reads differently in different countries
}

function field(label, value, bad, after) {
  const f = el("div", "field" + (bad ? " bad" : ""));
  const v = el("div", "v", value === undefined || value === null || value === "" ? "—" : value);
  if (after) v.append(el("span", "after", after));
  f.append(el("div", "k", label), v);
  return f;
}

// A date is one unit: "12 авг. 1974 г." must not break after the month.
function dateField(label, iso, bad, after) {
  const f = field(label, "", bad, after);
  const v = f.querySelector(".v");
  v.firstChild.textContent = "";
  v.prepend(el("span", "date", fmtDate(iso)));
  return f;
}

function num(v) { return typeof v === "number" ? I18N.num(v, 1) : null; }

// Each family's view of its readings (drivers/<family>/booth.js, or the
// fields its family.yaml names for the generic view), served by the box as
// /booth/families.js before this script runs.
const views = window.KordonBoothViews || {};
// What a family's view may use of this page.
const kit = { T, el, field, dateField, num, digits: (v, n) => I18N.num(v, n), has: k => I18N.has(k) };

// Families without a view of their own (scanners, trace detectors, portal
// monitors, ...) are shown generically: an alarm verdict when the payload
// says so, and the fields their family names.
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

function genericView(card, r, out, fields) {
  const p = r.payload || {};
  const a = alarmState(p);
  if (a !== null) {
    card.classList.add(a ? "bad" : "ok");
    out.append(el("div", "verdict " + (a ? "bad" : "ok"), T(a ? "alarm.yes" : "alarm.no")));
  } else if (r.quality && r.quality.status === "bad") {
    card.classList.add("warn");
  }
  const dl = el("dl", "kv");
  let n = 0;
  for (const [k, v] of Object.entries(p)) {
    if (n >= 8 || v === null || v === undefined || typeof v === "object" && !Array.isArray(v)) continue;
    // Only the fields the family names: a raw payload key means nothing to an officer.
    if (!fields.includes(k)) continue;
    let text = Array.isArray(v) ? v.filter(x => typeof x !== "object").join(", ") : typeof v === "boolean" ? T(v ? "yes" : "no") : String(v);
    if (!text) continue;
    dl.append(el("dt", null, T("field." + k)), el("dd", null, text));
    n++;
  }
  if (n) out.append(dl);
}

function renderCard(d) {
  let card = document.querySelector(`.card[data-device="${CSS.escape(d.device)}"]`);
  if (!card) {
    card = el("section", "card");
    card.dataset.device = d.device;
    $("devices").append(card);
  }
  const r = d.reading;
  const down = d.availability && d.availability.state !== "up";
  card.className = "card kind-" + (d.kind || (r && r.kind) || "unknown") + (down ? " down" : "");
  card.dataset.state = r ? "showing" : "waiting";
  card.dataset.kind = d.kind || "";
  card.dataset.seq = d.seq || "";
  card.dataset.urgency = urgency(d);
  card.textContent = "";
  const head = el("div", "card-head");
  // What the device is first, in words; its id (for the technician) after.
  head.append(el("span", "kind", kindLabel(d.kind || (r && r.kind))), el("span", "dev", d.device));
  if (d.availability && !down) head.append(el("span", "avail up", T("avail.up")));
  card.append(head);
  if (down) {
    // The device is the news: large. What it said before it stopped is
    // kept below, small and dimmed, so nobody takes it for a live reading.
    const why = d.availability.reason && I18N.has("reason." + d.availability.reason) ? T("reason." + d.availability.reason) : "";
    card.append(el("div", "avail down", T("avail.down") + (why ? " — " + why : "")));
    card.append(el("div", "hint", T("avail.down_hint")));
  }
  if (!r) {
    if (!down) card.append(el("div", "waiting", T("booth.waiting")));
    return;
  }
  const body = el("div", "body" + (down ? " stale" : ""));
  if (down) body.append(el("div", "stale-label", T("booth.stale")));
  const v = views[r.kind] || {};
  if (v.render) v.render(card, r, body, kit);
  else genericView(card, r, body, v.fields || []);
  body.append(el("div", "time", T("booth.read_at", { time: I18N.fmtTime(r.origin) })));
  card.append(body);
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
      reorder();
    }
  }, Math.max(0, left) + 250));
}

function update(d) {
  const prev = devices.get(d.device);
  devices.set(d.device, d);
  // Same reading and availability as shown: leave the card alone.
  if (prev && JSON.stringify(prev) === JSON.stringify(d)) return;
  renderCard(d);
  reorder();
  scheduleClear(d);
  $("no-devices").hidden = devices.size > 0;
}

// The pill says whether what the booth reads reaches the BLO: the screen
// works without the hub, so "live" alone would be a false comfort.
function setLink(state) {
  if (state) boxLink = state;
  const l = $("link");
  // A box that has just started is given a few seconds to reach the hub.
  const hubDown = boxLink === "live" && (hub.state === "lost" ||
    hub.state === "never" && Date.now() + skew - Date.parse(hub.since) > 5000);
  l.dataset.state = boxLink === "live" ? (hubDown ? "nohub" : "live") : boxLink;
  l.textContent = T("link." + l.dataset.state);
  const b = $("hub-banner");
  b.hidden = !hubDown;
  if (hubDown) {
    const since = hub.since ? I18N.fmtTime(hub.since) : "";
    const detail = " " + T(hub.state === "never" ? "hub.never" : "hub.lost_since", { time: since }) + " " + T("hub.kept");
    // Redrawn only when the words change: the clock tick calls this too.
    if (b.dataset.text !== T("hub.lost") + detail) {
      b.dataset.text = T("hub.lost") + detail;
      b.textContent = "";
      b.append(el("strong", null, T("hub.lost")), el("span", null, detail));
    }
  }
}

function tick() {
  setLink();
  $("clock").textContent = I18N.fmt(new Date(Date.now() + skew), { hour: "2-digit", minute: "2-digit" });
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
    if (s.hub) hub = s.hub;
    setLink("live");
    document.body.dataset.ready = "1";
  });
  es.addEventListener("device", e => update(JSON.parse(e.data)));
  es.addEventListener("hub", e => { hub = JSON.parse(e.data).hub; setLink(); });
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
  I18N.onChange(() => { langButtons(); setLink(); tick(); for (const d of devices.values()) renderCard(d); });
  tick();
  setInterval(tick, 2000);
  connect();
})();
