// BLO dashboard. Live updates arrive as server-sent events; alert events
// carry the alert log's sequence number as their id, so the browser's own
// reconnect (Last-Event-ID) resumes without losing an alert. Nothing polls.
//
// Every word on it comes from the translation files: rule summaries by
// rule id (rule.<id>.summary), payload fields by name (field.<name>),
// codes by value. Names of things (boxes, devices, users, document codes)
// are marked translate="no"; the browser tests fail on any other text the
// translation files did not give.
"use strict";
const T = (k, v) => I18N.t(k, v);
const $ = id => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}
// name is a name of a thing, not a word: it is the same in every language.
function name(tag, cls, text) {
  const e = el(tag, cls, text);
  e.translate = false;
  return e;
}
const SEVERITIES = ["critical", "high", "medium", "low", "info"];
const STATES = ["open", "acknowledged", "resolved"];
const LOUD = new Set(["high", "critical"]);

let me = null;
let lastSeq = 0;
let es = null;
let filter = "active";
let searched = false; // the history has results on screen that an alert change may date
const alerts = new Map(); // id -> view
const expanded = new Set(); // groups the officer opened
const pending = []; // alerts that arrived while the officer was acting on the list

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts || {}));
  if (r.status === 401) { location.href = "/dash/login"; throw new Error("logged out"); }
  if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
  return r.json();
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf }, body: JSON.stringify(body) });
}

// A rule's summary in the page's language, by the rule's id. A site's own
// rule that the translation files do not know keeps the summary its rules
// file gives (written by the site, often in its own language).
function summaryOf(a) {
  const k = "rule." + a.rule + ".summary";
  return I18N.has(k) ? T(k) : a.summary;
}

function kindLabel(k) { return I18N.has("kind." + k) ? T("kind." + k) : (k || ""); }

// ---- alerts -------------------------------------------------------------

function visible(a) {
  if (filter === "all") return true;
  if (filter === "resolved") return a.state === "resolved";
  return a.state !== "resolved";
}

// Alerts one rule raised at one device again and again (a looping fault, a
// queue of feverish travellers at one thermometer) are one group: the
// newest stands for them, the rest fold under it.
function groupKey(a) { return a.state === "resolved" ? "" : a.rule + "\u0000" + a.box + "\u0000" + a.device; }

function liOf(id) { return document.querySelector(`#alerts > li[data-id="${CSS.escape(id)}"]`); }

function renderAlert(a) {
  let li = liOf(a.id);
  const fresh = !li;
  if (fresh) li = el("li");
  li.className = `alert sev-${a.severity} st-${a.state}`;
  li.dataset.id = a.id;
  li.dataset.state = a.state;
  li.dataset.rule = a.rule;
  li.dataset.group = groupKey(a);
  const keepForm = li.querySelector(":scope > .act-form");
  li.textContent = "";
  const head = el("div", "a-head");
  head.append(el("span", "badge sev-" + a.severity, T("sev." + a.severity)));
  head.append(name("span", "a-booth", a.box));
  head.append(name("span", "a-device", a.device));
  head.append(el("time", "a-time", I18N.fmtDateTime(a.time)));
  head.append(el("span", "a-state st-" + a.state, T("state." + a.state)));
  li.append(head);
  li.append(el("div", "a-summary", summaryOf(a)));
  const meta = el("div", "a-meta");
  if (a.readings && a.readings.length > 1) meta.append(el("span", "linked", T("alert.linked", { n: a.readings.length })));
  if (a.repeats > 0) meta.append(el("span", "repeats", T("alert.repeats", { n: a.repeats })));
  if (a.cleared_at) meta.append(el("span", "cleared", T("alert.cleared", { time: I18N.fmtTime(a.cleared_at) })));
  if (a.ack_by) meta.append(el("span", "ack-by", T("alert.ack_by", { user: a.ack_by, time: I18N.fmtTime(a.ack_at) })));
  if (a.ack_note) meta.append(name("q", "note", a.ack_note));
  if (a.resolved_by) meta.append(el("span", "resolved-by", T("alert.resolved_by", { user: a.resolved_by, time: I18N.fmtTime(a.resolved_at) })));
  if (a.resolved_note) meta.append(name("q", "note", a.resolved_note));
  li.append(meta);
  const actions = el("div", "a-actions");
  if (me && me.can_act && a.state === "open") actions.append(actButton(a, "ack"));
  if (me && me.can_act && a.state !== "resolved") actions.append(actButton(a, "resolve"));
  const more = el("button", "details", T("alert.details"));
  more.type = "button";
  more.addEventListener("click", () => showDetail(a.id));
  actions.append(more);
  li.append(actions);
  li.append(el("div", "group-bar"));
  if (keepForm && a.state !== "resolved" && !(keepForm.dataset.action === "ack" && a.state !== "open")) li.append(keepForm);
  if (fresh) insertSorted(li, a);
  return li;
}

function insertSorted(li, a) {
  const list = $("alerts");
  for (const other of list.children) {
    const o = alerts.get(other.dataset.id);
    if (o && o.raised < a.raised) { list.insertBefore(li, other); return; }
  }
  list.append(li);
}

// regroup folds each group under its newest alert and gives that one the
// group's count and its bulk actions.
function regroup() {
  const groups = new Map();
  for (const li of $("alerts").children) {
    const a = alerts.get(li.dataset.id);
    if (!a || !visible(a) || !li.dataset.group) continue;
    if (!groups.has(li.dataset.group)) groups.set(li.dataset.group, []);
    groups.get(li.dataset.group).push(a);
  }
  for (const li of $("alerts").children) {
    const a = alerts.get(li.dataset.id);
    const g = a && li.dataset.group ? groups.get(li.dataset.group) : null;
    const headOf = g && g[0].id === a.id;
    const folded = g && g.length > 1 && !headOf && !expanded.has(li.dataset.group);
    li.hidden = !a || !visible(a) || folded;
    li.classList.toggle("in-group", !!(g && g.length > 1 && !headOf));
    const bar = li.querySelector(":scope > .group-bar");
    if (!bar) continue;
    bar.textContent = "";
    bar.hidden = !(headOf && g.length > 1);
    if (bar.hidden) continue;
    const open = g.filter(x => x.state === "open");
    bar.append(el("span", "group-count", T("group.more", { n: g.length - 1, first: I18N.fmtTime(g[g.length - 1].time) })));
    const tog = el("button", "group-toggle", T(expanded.has(li.dataset.group) ? "group.fold" : "group.show"));
    tog.type = "button";
    tog.addEventListener("click", () => {
      if (expanded.has(li.dataset.group)) expanded.delete(li.dataset.group); else expanded.add(li.dataset.group);
      regroup();
    });
    bar.append(tog);
    if (me && me.can_act && open.length > 1) {
      const b = el("button", "ack-all", T("group.ack_all", { n: open.length }));
      b.type = "button";
      b.addEventListener("click", () => openActForm(a.id, "ack", open.map(x => x.id)));
      bar.append(b);
    }
  }
}

function actButton(a, action) {
  const b = el("button", action, T(action === "ack" ? "alert.ack" : "alert.resolve"));
  b.type = "button";
  b.addEventListener("click", () => openActForm(a.id, action));
  return b;
}

// openActForm asks for the note; ids, when given, are the whole group the
// note is for (one acknowledgement for a run of the same alert).
function openActForm(id, action, ids) {
  const li = liOf(id);
  if (!li) return;
  li.querySelectorAll(".act-form").forEach(f => f.remove());
  const f = el("form", "act-form");
  f.dataset.action = action;
  if (ids) f.dataset.bulk = String(ids.length);
  const ta = el("textarea", "note-input");
  ta.rows = 2;
  ta.maxLength = 2000;
  ta.placeholder = T(action === "ack" ? "alert.note_optional" : "alert.note_required");
  if (action === "resolve") ta.required = true;
  const ok = el("button", "confirm", ids ? T("group.confirm_ack", { n: ids.length }) : T(action === "ack" ? "alert.confirm_ack" : "alert.confirm_resolve"));
  ok.type = "submit";
  const cancel = el("button", "cancel", T("alert.cancel"));
  cancel.type = "button";
  cancel.addEventListener("click", () => { f.remove(); settle(); });
  const err = el("span", "error");
  f.append(ta, ok, cancel, err);
  f.addEventListener("submit", async ev => {
    ev.preventDefault();
    ok.disabled = true;
    try {
      if (ids) await post(`/dash/api/alert-groups/${action}`, { ids, note: ta.value });
      else await post(`/dash/api/alerts/${encodeURIComponent(id)}/${action}`, { note: ta.value });
      f.remove(); // the alert events from the stream redraw the alerts
      settle();
    } catch (e) {
      err.textContent = T("error.action", { why: e.message });
      ok.disabled = false;
    }
  });
  li.append(f);
  ta.focus();
}

// While the officer is acting on the list (a note being written, the
// pointer over the alerts) a new alert does not push what they are acting
// on away: it waits in the bar above the list until they are done.
let pointerOnList = false;
function busy() { return pointerOnList || !!document.querySelector("#alerts .act-form"); }

function settle() {
  if (busy() || !pending.length) return showPending();
  const batch = pending.splice(0);
  batch.forEach(a => { alerts.set(a.id, a); renderAlert(a); });
  regroup();
  updateCounts();
  showPending();
}

function showPending() {
  const b = $("pending");
  b.textContent = pending.length ? T("alerts.pending", { n: pending.length }) : "";
  b.classList.toggle("has", pending.length > 0);
}

function upsert(a, live) {
  const shown = !!liOf(a.id);
  if (live && !shown && busy()) {
    const i = pending.findIndex(p => p.id === a.id);
    if (i >= 0) pending[i] = a; else pending.push(a);
    showPending();
    updateCounts();
    return;
  }
  alerts.set(a.id, a);
  renderAlert(a);
  regroup();
  updateCounts();
}

function updateCounts() {
  let open = 0, ack = 0;
  const all = new Map(alerts);
  pending.forEach(a => all.set(a.id, a));
  for (const a of all.values()) { if (a.state === "open") open++; else if (a.state === "acknowledged") ack++; }
  $("counts").textContent = T("alerts.counts", { open, ack });
  const shown = [...$("alerts").children].some(li => !li.hidden);
  $("no-alerts").hidden = shown;
  document.title = (open ? `(${open}) ` : "") + T("dash.title");
}

function setFilter(f) {
  filter = f;
  document.querySelectorAll(".filter").forEach(b => b.classList.toggle("on", b.dataset.filter === f));
  regroup();
  updateCounts();
}

// ---- sound and desktop notification ---------------------------------------

function muted() { try { return localStorage.getItem("kordon.mute") === "1"; } catch (e) { return false; } }

function soundButton() {
  const b = $("sound");
  const m = muted();
  b.textContent = T(m ? "sound.off" : "sound.on");
  b.classList.toggle("muted", m);
  b.setAttribute("aria-pressed", String(!m));
}

let audio = null;
// chime sounds a high or critical alert and shows it as a desktop
// notification (when the officer allowed them); the mute stops both.
function chime(a) {
  if (muted()) return;
  document.body.dataset.chimes = String(Number(document.body.dataset.chimes || 0) + 1);
  try {
    audio = audio || new AudioContext();
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = a.severity === "critical" ? 1046 : 880;
    g.gain.setValueAtTime(0.25, audio.currentTime);
    g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.6);
  } catch (e) { /* no audio device: the notification and the red row remain */ }
  if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
    new Notification(T("sev." + a.severity) + " · " + a.box, { body: summaryOf(a), tag: a.id });
  }
}

// ---- readings -------------------------------------------------------------

function label(field) { return T("field." + field); }

// Each family's view of its readings (drivers/<family>/dash.js: line,
// value, why), served by the hub as /dash/families.js before this script.
const views = window.KordonDashViews || {};
// What a family's view may use of this page.
const kit = { T, label, has: k => I18N.has(k), num: (v, n) => I18N.num(v, n), fmtDay: d => I18N.fmtDay(d) };

const TIMES = new Set(["device_time", "decision_time"]);

// value renders one payload value for a person: codes by their words (the
// family's view first), dates by the language, personal data as withheld.
function value(k, v, kind) {
  if (v === "[personal]") return T("reading.withheld");
  if (typeof v === "boolean") return T(v ? "yes" : "no");
  const view = views[kind];
  if (view && view.value) {
    const s = view.value(k, v, kit);
    if (s !== undefined) return s;
  }
  if (TIMES.has(k)) return I18N.fmtDateTime(v);
  if (typeof v === "number") return I18N.num(v);
  if (Array.isArray(v)) {
    const words = v.filter(x => typeof x !== "object").map(x => I18N.has("value." + k + "." + x) ? T("value." + k + "." + x) : String(x));
    return words.length ? words.join(", ") : null;
  }
  if (typeof v === "string" && I18N.has("value." + k + "." + v)) return T("value." + k + "." + v);
  if (typeof v === "object") return null;
  return String(v);
}

// Codes whose values are not words but names (the same in every language).
const NAMES = new Set(["number", "nationality", "issuer", "sensor", "model", "code", "owner", "serial", "lane", "line", "channel", "detector", "substance_list", "category"]);

// qualityText is the reading's quality and why, in the page's language.
// The drivers write their reasons in English for technicians; the
// dashboard says what they mean from the payload's own codes, and leaves
// out a reason it has no words for (the quality itself is still shown).
function qualityText(r) {
  const q = r.quality || {};
  const p = r.payload || {};
  let s = T("quality." + (q.status || "ok"));
  let why = "";
  if (q.status && q.status !== "ok") {
    const view = views[r.kind];
    why = view && view.why ? view.why(r, kit) : "";
    if (!why && I18N.lang === "en" && q.reason) why = q.reason;
  }
  return why ? s + " (" + why + ")" : s;
}

function renderReading(r, withMeta) {
  const box = el("div", "reading q-" + ((r.quality && r.quality.status) || "ok"));
  Object.assign(box.dataset, { box: r.box, device: r.device, seq: r.seq, incarnation: r.incarnation || "" }); // evidence.js finds the reading's files by these
  const head = el("div", "r-head");
  head.append(name("span", null, `${r.box} / ${r.device}`), el("span", null, " · " + kindLabel(r.kind) + " · "), name("span", null, "#" + r.seq));
  box.append(head);
  if (withMeta) {
    let m = I18N.fmtDateTime(r.origin) + " · " + qualityText(r);
    if (r.historical) m += " · " + T("reading.historical");
    box.append(el("div", "meta", m));
  }
  const dl = el("dl", "kv");
  const tech = el("dl", "kv");
  const p = r.payload || {};
  for (const [k, v] of Object.entries(p)) {
    if (v === null || v === undefined || k === "rows" || k === "candidates") continue;
    const known = I18N.has("field." + k);
    const text = known ? value(k, v, r.kind) : (typeof v === "object" ? JSON.stringify(v) : String(v));
    if (text === null || text === "") continue;
    const dd = NAMES.has(k) || !known ? name("dd", null, text) : el("dd", null, text);
    if (known) dl.append(el("dt", null, label(k)), dd);
    else tech.append(name("dt", null, k), dd);
  }
  box.append(dl);
  if (tech.children.length) {
    // Fields the translation files have no words for are for technicians:
    // shown under their own names, folded.
    const d = el("details", "tech");
    d.append(el("summary", null, T("reading.technical", { n: tech.children.length / 2 })), tech);
    box.append(d);
  }
  return box;
}

// readingLine is the one line the latest-readings column shows: what the
// reading says, not only what it is.
function readingLine(r) {
  const p = r.payload || {};
  const bad = r.quality && r.quality.status === "bad";
  const view = views[r.kind];
  if (view && view.line) return view.line(r, kit);
  if (typeof p.alarm === "boolean") return { text: T(p.alarm ? "alarm.yes" : "alarm.no"), cls: p.alarm ? "bad" : "ok" };
  for (const [k, v] of Object.entries(p)) {
    if (I18N.has("field." + k) && (typeof v === "string" || typeof v === "number" || typeof v === "boolean")) {
      const t = value(k, v, r.kind);
      if (t) return { text: label(k) + ": " + t, cls: bad ? "warn" : "" };
    }
  }
  return { text: T("quality." + ((r.quality && r.quality.status) || "ok")), cls: bad ? "warn" : "" };
}

async function showDetail(id) {
  const d = $("detail");
  d.hidden = false;
  document.body.classList.add("detail-open");
  d.textContent = T("loading");
  try {
    const r = await api(`/dash/api/alerts/${encodeURIComponent(id)}`);
    d.textContent = "";
    d.dataset.id = id;
    const close = el("button", "close", "×");
    close.type = "button";
    close.setAttribute("aria-label", T("alert.close"));
    close.addEventListener("click", () => { d.hidden = true; document.body.classList.remove("detail-open"); });
    d.append(close, el("h2", null, summaryOf(r.alert)));
    const m = el("div", "meta");
    m.append(el("span", null, T("sev." + r.alert.severity) + " · "), name("span", null, `${r.alert.box} / ${r.alert.device}`),
      el("span", null, ` · ${T("col.rule")}: `), name("span", null, r.alert.rule), el("span", null, " · " + I18N.fmtDateTime(r.alert.time)));
    d.append(m);
    d.append(el("h3", null, T("alert.readings")));
    if (!r.readings.length) d.append(el("p", "meta", T("alert.no_readings")));
    r.readings.forEach(x => d.append(renderReading(x, true)));
    d.append(el("h3", null, T("alert.history")));
    const ol = el("ol", "log");
    for (const e of r.log || []) {
      const li = el("li", null, `${I18N.fmtDateTime(e.time)} · ${T("action." + e.action)}`);
      if (e.user) li.append(el("span", null, " · "), name("span", null, e.user), el("span", null, ` (${T("role." + e.role)})`));
      if (e.note) li.append(name("q", "note", e.note));
      ol.append(li);
    }
    d.append(ol);
  } catch (e) {
    d.textContent = T("error.load", { why: e.message });
  }
}

// The latest reading of each device, newest first: one line per device
// (a thermometer sending every second must not push a document off).
function addReading(r) {
  const list = $("readings");
  const key = r.box + "/" + r.device;
  let li = [...list.children].find(x => x.dataset.key === key);
  if (!li) li = el("li");
  li.textContent = "";
  li.dataset.key = key;
  const line = readingLine(r);
  li.className = "r-" + (line.cls || "plain");
  li.append(el("time", "meta", I18N.fmtTime(r.origin)));
  const what = el("div", "r-what");
  what.append(name("span", "r-where", key.replace("/", " / ")), el("span", "r-kind", kindLabel(r.kind)));
  li.append(what, el("div", "r-value", line.text));
  li.reading = r;
  if (list.firstChild !== li) list.prepend(li);
  while (list.children.length > 30) list.lastChild.remove();
}

// ---- live stream ----------------------------------------------------------

function setConn(state) {
  const c = $("conn");
  c.dataset.state = state;
  c.textContent = T("conn." + state);
}

function connect() {
  if (es) es.close();
  es = new EventSource(`/dash/events?since=${lastSeq}`);
  es.onopen = () => setConn("live");
  es.onerror = async () => {
    setConn("reconnecting");
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (e.g. the hub restarted and the
      // session is gone): check the session, then reconnect from lastSeq.
      try { await api("/dash/api/me"); } catch (e) { return; }
      setTimeout(connect, 3000);
    }
  };
  es.addEventListener("alert", e => {
    const ev = JSON.parse(e.data);
    lastSeq = Math.max(lastSeq, ev.seq);
    if (ev.action === "raised" && LOUD.has(ev.alert.severity) && ev.alert.state === "open") chime(ev.alert);
    upsert(ev.alert, true);
    scheduleHistory();
  });
  es.addEventListener("reading", e => addReading(JSON.parse(e.data)));
  es.addEventListener("health", () => scheduleHealth());
  es.addEventListener("rules", () => scheduleHealth());
}

// ---- health, commands and rules -----------------------------------------

let healthTimer = null;
function scheduleHealth() {
  // Several availability messages arrive together when a box connects; one fetch answers them.
  if (healthTimer || $("view-health").hidden) return;
  healthTimer = setTimeout(() => { healthTimer = null; loadHealth(); }, 500);
}

// command sends one command to a box through the hub's command API and
// shows what the box answered.
async function command(box, cmd, args, out) {
  out.className = "cmd-result pending";
  out.textContent = T("cmd.pending");
  try {
    const rec = await post(`/dash/api/boxes/${encodeURIComponent(box)}/commands?wait=10s`, { name: cmd, args });
    out.dataset.status = rec.status;
    out.className = "cmd-result st-" + rec.status;
    let s = T("cmd.status." + rec.status);
    if (rec.reply && rec.reply.result && rec.reply.result.action && I18N.has("cmd.action." + rec.reply.result.action)) s += " — " + T("cmd.action." + rec.reply.result.action);
    out.textContent = s;
    if (rec.reply && rec.reply.error) out.append(name("span", "cmd-why", " (" + rec.reply.error + ")"));
  } catch (e) {
    out.className = "cmd-result st-failed";
    out.dataset.status = "refused";
    out.textContent = T("error.action", { why: e.message });
  }
}

function cmdButton(text, cls, onClick) {
  const b = el("button", "cmd " + cls, text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

function boxCommands(b) {
  const wrap = el("div", "commands");
  wrap.append(el("h3", null, T("cmd.title")));
  const out = el("span", "cmd-result");
  // A device family's own commands (its family.yaml, /dash/api/families),
  // one row per device of that kind.
  for (const d of b.devices) {
    const cmds = familyCommands[d.kind] || [];
    if (!cmds.length) continue;
    const row = el("div", "cmd-row");
    row.dataset.device = d.device;
    row.append(name("span", "cmd-dev", d.device), el("span", null, " "));
    const res = el("span", "cmd-result");
    for (const c of cmds) row.append(cmdButton(T("cmd." + c.name.replace(/-/g, "_")), c.name, () => command(b.box, c.name, { device: d.device }, res)));
    row.append(res);
    wrap.append(row);
  }
  // Resend: a device's readings again from a sequence number (the hub
  // asks by itself on a gap; this is for a technician who knows better).
  const f = el("form", "cmd-row resend");
  const sel = el("select");
  sel.name = "device";
  for (const d of b.devices) { const o = name("option", null, d.device); o.value = d.device; sel.append(o); }
  const from = el("input");
  from.name = "from"; from.type = "number"; from.min = "1"; from.required = true;
  from.placeholder = T("cmd.resend_from");
  from.setAttribute("aria-label", T("cmd.resend_from"));
  const res = el("span", "cmd-result");
  const go = el("button", "cmd resend", T("cmd.resend"));
  go.type = "submit";
  f.append(el("span", null, T("cmd.resend_label") + " "), sel, from, go, res);
  f.addEventListener("submit", ev => { ev.preventDefault(); command(b.box, "resend", { device: sel.value, from: from.value }, res); });
  if (b.devices.length) wrap.append(f);
  wrap.append(out);
  return wrap;
}

// Commands by payload kind, from the families' manifests.
let familyCommands = {};
async function loadFamilies() {
  if (Object.keys(familyCommands).length) return;
  const fs = await api("/dash/api/families");
  for (const f of fs || []) familyCommands[f.kind] = f.commands || [];
}

async function loadHealth() {
  await loadFamilies();
  const [h, rules] = await Promise.all([api("/dash/api/health"), api("/dash/api/rules")]);
  const boxes = $("boxes");
  boxes.textContent = "";
  if (!h.boxes.length) boxes.append(el("p", "empty", T("health.none")));
  for (const b of h.boxes) {
    const card = el("div", "box st-" + b.state);
    card.dataset.box = b.box;
    const head = el("h2");
    head.append(name("span", null, b.box), el("span", "badge st-" + b.state, T("box." + b.state)));
    card.append(head);
    const m = [];
    const meta = el("div", "meta");
    if (b.firmware) {
      // The version is a name; the words around it are translated.
      const [before, after] = T("health.firmware", { v: "\u0001" }).split("\u0001");
      meta.append(el("span", null, before), name("span", null, b.firmware), el("span", null, after));
    }
    if (b.since && !b.since.startsWith("0001")) meta.append(el("span", null, (b.firmware ? " · " : "") + T("health.since", { time: I18N.fmtDateTime(b.since) })));
    card.append(meta);
    const scroll = el("div", "scroll");
    const t = el("table", "table");
    const hr = el("tr");
    ["health.device", "health.kind", "health.state", "health.last", "health.count"].forEach(k => hr.append(el("th", null, T(k))));
    t.append(hr);
    for (const d of b.devices) {
      const tr = el("tr", "dev st-" + d.state);
      tr.dataset.device = d.device;
      tr.append(name("td", null, d.device));
      tr.append(el("td", null, d.kind ? kindLabel(d.kind) : ""));
      let st = T("dev." + d.state);
      if (d.reason) st += " — " + (I18N.has("reason." + d.reason) ? T("reason." + d.reason) : d.reason);
      tr.append(el("td", "state", st));
      tr.append(el("td", "nowrap", d.last_reading && !d.last_reading.startsWith("0001") ? I18N.fmtDateTime(d.last_reading) : "—"));
      tr.append(el("td", "num", I18N.num(d.readings_24h)));
      t.append(tr);
    }
    scroll.append(t);
    card.append(scroll);
    if (me.can_command) card.append(boxCommands(b));
    boxes.append(card);
  }
  const r = $("rules");
  r.textContent = "";
  if (rules) {
    r.append(el("h2", null, T("rules.title")));
    const file = el("p", "meta", T("rules.in_force", { n: (rules.rules || []).length, time: I18N.fmtDateTime(rules.loaded) }) + " ");
    file.append(name("code", null, rules.file || "—"));
    r.append(file);
    if (rules.last_error) { const e = el("div", "error", T("rules.refused") + " "); e.append(name("span", null, rules.last_error)); r.append(e); }
    const ol = el("ol", "rule-list");
    for (const id of rules.rules || []) {
      const sev = (rules.severity || {})[id] || "info";
      const li = el("li", "rule");
      li.dataset.rule = id;
      const k = "rule." + id + ".summary";
      li.append(el("span", "badge sev-" + sev, T("sev." + sev)), el("span", "rule-summary", I18N.has(k) ? T(k) : ""), name("code", "rule-id", id));
      ol.append(li);
    }
    r.append(ol);
    for (const [id, e] of Object.entries(rules.errors || {})) {
      const d = el("div", "error rule-error", T("rules.eval_failed", { rule: id, n: e.count }) + " ");
      d.append(name("span", null, e.last));
      r.append(d);
    }
  }
}

// ---- dates typed in the page's language ------------------------------------

// A day picker in the page's language: day, month by name, year. The
// browser's own date input follows the browser's locale, not the page's;
// this one writes the chosen day as YYYY-MM-DD into a hidden input, which
// is what the form sends.
function dayPicker(hidden) {
  const wrap = el("span", "day-picker");
  const d = el("input", "dp-day");
  d.type = "number"; d.min = "1"; d.max = "31"; d.inputMode = "numeric";
  const m = el("select", "dp-month");
  const y = el("input", "dp-year");
  y.type = "number"; y.min = "2000"; y.max = "2100"; y.inputMode = "numeric";
  const sync = () => {
    const ok = d.value && m.value && y.value;
    hidden.value = ok ? `${y.value.padStart(4, "0")}-${m.value}-${String(d.value).padStart(2, "0")}` : "";
  };
  const fill = () => {
    const cur = m.value;
    m.textContent = "";
    const none = el("option", null, T("date.month"));
    none.value = "";
    m.append(none);
    I18N.monthNames().forEach((n, i) => { const o = el("option", null, n); o.value = String(i + 1).padStart(2, "0"); m.append(o); });
    m.value = cur;
    d.placeholder = T("date.day"); y.placeholder = T("date.year");
    d.setAttribute("aria-label", T("date.day")); m.setAttribute("aria-label", T("date.month")); y.setAttribute("aria-label", T("date.year"));
    // The language's own order of day, month and year.
    I18N.dateOrder().forEach(t => wrap.append({ day: d, month: m, year: y }[t]));
  };
  wrap.set = iso => {
    const mm = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (mm) { y.value = mm[1]; m.value = mm[2]; d.value = String(Number(mm[3])); }
    sync();
  };
  [d, m, y].forEach(e => e.addEventListener("input", sync));
  m.addEventListener("change", sync);
  wrap.fill = fill;
  fill();
  hidden.after(wrap);
  return wrap;
}
const pickers = [];

// ---- history -------------------------------------------------------------

let historyTimer = null;
function scheduleHistory() {
  // An acknowledgement (here or on another screen) changes rows already
  // on screen: search again, once for a burst of changes.
  if (!searched || historyTimer) return;
  historyTimer = setTimeout(() => { historyTimer = null; search(); }, 300);
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const f = new FormData($("search"));
  const q = new URLSearchParams();
  for (const [k, v] of f) if (v) q.set(k, v);
  q.set("limit", "500");
  const r = await api("/dash/api/alerts?" + q);
  searched = true;
  const tb = $("history").querySelector("tbody");
  tb.textContent = "";
  for (const a of r.alerts) {
    const tr = el("tr", "sev-" + a.severity);
    tr.dataset.id = a.id;
    tr.dataset.state = a.state;
    tr.append(el("td", "nowrap", I18N.fmtDateTime(a.time)), el("td", null, T("sev." + a.severity)), name("td", null, a.box),
      name("td", null, a.device), el("td", null, summaryOf(a)), el("td", "h-state", T("state." + a.state)),
      name("td", null, [a.ack_by, a.resolved_by].filter(Boolean).join(", ")));
    tr.addEventListener("click", () => { showView("alerts"); showDetail(a.id); });
    tb.append(tr);
  }
  $("history-count").textContent = T("history.count", { n: r.alerts.length });
}

// ---- summary -------------------------------------------------------------

function table(title, rows, label, names) {
  const wrap = el("div", "sum-block");
  wrap.append(el("h3", null, title));
  const t = el("table", "table");
  for (const [k, v] of rows) {
    const tr = el("tr");
    tr.append((names ? name : el)("td", null, label ? label(k) : k), el("td", "num", I18N.num(v)));
    t.append(tr);
  }
  if (!rows.length) t.append(el("tr")).append(el("td", "meta", "—"));
  wrap.append(t);
  return wrap;
}

async function loadSummary(ev) {
  if (ev) ev.preventDefault();
  const from = new FormData($("summary-form")).get("from");
  const s = await api("/dash/api/summary" + (from ? "?from=" + from : ""));
  const box = $("summary");
  box.textContent = "";
  box.append(el("h2", null, T("summary.title", { from: I18N.fmtDay(s.from.slice(0, 10)), to: I18N.fmtDay(new Date(Date.parse(s.to) - 1).toISOString().slice(0, 10)) })));
  const med = s.acknowledged ? I18N.num(Math.round(s.ack_median_seconds)) : "—";
  box.append(el("p", "big", T("summary.totals", { total: s.total, unresolved: s.unresolved, repeats: s.repeats, med })));
  const grid = el("div", "sum-grid");
  grid.append(table(T("summary.by_severity"), SEVERITIES.map(k => [k, s.by_severity[k] || 0]), k => T("sev." + k)));
  grid.append(table(T("summary.by_state"), STATES.map(k => [k, s.by_state[k] || 0]), k => T("state." + k)));
  grid.append(table(T("summary.by_day"), s.by_day.map(c => [c.key, c.count]), k => I18N.fmtDay(k)));
  grid.append(table(T("summary.by_booth"), s.by_booth.map(c => [c.key, c.count]), null, true));
  grid.append(table(T("summary.by_rule"), s.by_rule.map(c => [c.key, c.count]), k => summaryOf({ rule: k, summary: k })));
  box.append(grid);
  if (s.highest && s.highest.length) {
    box.append(el("h3", null, T("summary.highest")));
    const ol = el("ol", "log");
    s.highest.forEach(a => {
      const li = el("li", null, `${I18N.fmtDateTime(a.time)} · ${T("sev." + a.severity)} · `);
      li.append(name("span", null, a.box), el("span", null, ` · ${summaryOf(a)} · ${T("state." + a.state)}`));
      ol.append(li);
    });
    box.append(ol);
  }
}

// ---- views and start -----------------------------------------------------

function showView(v) {
  document.querySelectorAll(".view").forEach(s => { s.hidden = s.id !== "view-" + v; });
  document.querySelectorAll("#nav button").forEach(b => b.classList.toggle("on", b.dataset.view === v));
  if (v === "health") loadHealth();
  if (v === "summary") loadSummary();
  if (v === "history" && searched) search();
}

function today() { return new Date().toISOString().slice(0, 10); }

function fillSelects() {
  const sev = document.querySelector("#search select[name=severity]");
  const st = document.querySelector("#search select[name=state]");
  const keep = [sev.value, st.value];
  sev.querySelectorAll("option:not([value=''])").forEach(o => o.remove());
  st.querySelectorAll("option:not([value=''])").forEach(o => o.remove());
  SEVERITIES.forEach(s => { const o = el("option", null, T("sev." + s)); o.value = s; sev.append(o); });
  STATES.forEach(s => { const o = el("option", null, T("state." + s)); o.value = s; st.append(o); });
  [sev.value, st.value] = keep;
}

function langSelect() {
  const s = $("lang");
  s.textContent = "";
  for (const l of I18N.languages) {
    const o = name("option", null, l.name); // each language by its own name
    o.value = l.code;
    o.selected = l.code === I18N.lang;
    s.append(o);
  }
}

async function start() {
  me = await api("/dash/api/me");
  await I18N.init(me.default_lang);
  $("crossing").textContent = me.crossing;
  $("crossing").translate = false;
  $("who").textContent = me.name;
  $("who").translate = false;
  $("logout-csrf").value = me.csrf;
  $("nav-export").hidden = !me.can_export;
  document.querySelectorAll("input[data-day]").forEach(h => pickers.push(dayPicker(h)));
  langSelect();
  fillSelects();
  soundButton();
  $("role").textContent = T("role." + me.role);
  $("lang").addEventListener("change", e => I18N.use(e.target.value));
  I18N.onChange(() => {
    $("role").textContent = T("role." + me.role);
    fillSelects();
    langSelect();
    soundButton();
    pickers.forEach(p => p.fill());
    for (const a of alerts.values()) renderAlert(a);
    [...$("readings").children].reverse().forEach(li => li.reading && addReading(li.reading));
    regroup();
    updateCounts();
    showPending();
    setConn($("conn").dataset.state);
    if (!$("view-health").hidden) loadHealth();
    if (!$("view-summary").hidden) loadSummary();
    if (searched) search();
    const d = $("detail");
    if (!d.hidden && d.dataset.id) showDetail(d.dataset.id);
  });
  $("sound").addEventListener("click", () => {
    const m = !muted();
    try { localStorage.setItem("kordon.mute", m ? "1" : "0"); } catch (e) { /* private mode */ }
    soundButton();
    // Asked only on the officer's own click, as browsers require.
    if (!m && "Notification" in window && Notification.permission === "default") Notification.requestPermission();
  });
  const list = $("alerts");
  list.addEventListener("pointerenter", () => { pointerOnList = true; });
  list.addEventListener("pointerleave", () => { pointerOnList = false; settle(); });
  $("pending").addEventListener("click", () => { pointerOnList = false; document.querySelectorAll("#alerts .act-form").forEach(f => f.remove()); settle(); });
  document.querySelectorAll("#nav button").forEach(b => b.addEventListener("click", () => showView(b.dataset.view)));
  document.querySelectorAll(".filter").forEach(b => b.addEventListener("click", () => setFilter(b.dataset.filter)));
  $("search").addEventListener("submit", search);
  $("summary-form").addEventListener("submit", loadSummary);
  $("print").addEventListener("click", () => window.print());
  const exportDay = pickers.find(p => p.previousElementSibling === $("export-form").elements.day);
  if (exportDay) exportDay.set(today());
  $("export-form").addEventListener("submit", ev => {
    ev.preventDefault();
    const day = $("export-form").elements.day.value;
    if (!day) return;
    location.href = "/dash/export.csv?day=" + encodeURIComponent(day);
  });
  setConn("connecting");
  const r = await api("/dash/api/alerts?limit=200");
  lastSeq = r.seq;
  r.alerts.slice().reverse().forEach(a => { alerts.set(a.id, a); renderAlert(a); });
  regroup();
  updateCounts();
  connect();
  document.body.dataset.ready = "1";
}

start().catch(e => { setConn("error"); console.error(e); });
