// BLO dashboard. Live updates arrive as server-sent events; alert events
// carry the alert log's sequence number as their id, so the browser's own
// reconnect (Last-Event-ID) resumes without losing an alert. Nothing polls.
"use strict";
const T = (k, v) => I18N.t(k, v);
const $ = id => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}
const SEVERITIES = ["critical", "high", "medium", "low", "info"];
const STATES = ["open", "acknowledged", "resolved"];

let me = null;
let lastSeq = 0;
let es = null;
let filter = "active";
const alerts = new Map(); // id -> view

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, opts || {}));
  if (r.status === 401) { location.href = "/dash/login"; throw new Error("logged out"); }
  if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
  return r.json();
}

function summaryOf(a) {
  const k = "rule." + a.rule;
  // A rule's summary is translated when the translation files have
  // "rule.<id>"; rules whose summary names what was found (summary_expr)
  // have no such key, so their text stays as raised.
  return I18N.has(k) ? T(k) : a.summary;
}

// ---- alerts -------------------------------------------------------------

function visible(a) {
  if (filter === "all") return true;
  if (filter === "resolved") return a.state === "resolved";
  return a.state !== "resolved";
}

function renderAlert(a) {
  let li = document.querySelector(`#alerts > li[data-id="${CSS.escape(a.id)}"]`);
  const fresh = !li;
  if (fresh) li = el("li");
  li.className = `alert sev-${a.severity} st-${a.state}`;
  li.dataset.id = a.id;
  li.dataset.state = a.state;
  li.dataset.rule = a.rule;
  li.hidden = !visible(a);
  const keepForm = li.querySelector(".act-form");
  li.textContent = "";
  const head = el("div", "a-head");
  head.append(el("span", "badge sev-" + a.severity, T("sev." + a.severity)));
  head.append(el("span", "a-booth", a.box));
  head.append(el("span", "a-device", a.device));
  head.append(el("time", "a-time", I18N.fmtDateTime(a.time)));
  head.append(el("span", "a-state st-" + a.state, T("state." + a.state)));
  li.append(head);
  li.append(el("div", "a-summary", summaryOf(a)));
  const meta = el("div", "a-meta");
  if (a.readings && a.readings.length > 1) meta.append(el("span", "linked", T("alert.linked", { n: a.readings.length })));
  if (a.repeats > 0) meta.append(el("span", "repeats", T("alert.repeats", { n: a.repeats })));
  if (a.cleared_at) meta.append(el("span", "cleared", T("alert.cleared", { time: I18N.fmtTime(a.cleared_at) })));
  if (a.ack_by) meta.append(el("span", "ack-by", T("alert.ack_by", { user: a.ack_by, time: I18N.fmtTime(a.ack_at) })));
  if (a.ack_note) meta.append(el("q", "note", a.ack_note));
  if (a.resolved_by) meta.append(el("span", "resolved-by", T("alert.resolved_by", { user: a.resolved_by, time: I18N.fmtTime(a.resolved_at) })));
  if (a.resolved_note) meta.append(el("q", "note", a.resolved_note));
  li.append(meta);
  const actions = el("div", "a-actions");
  if (me && me.can_act && a.state === "open") actions.append(actButton(a, "ack"));
  if (me && me.can_act && a.state !== "resolved") actions.append(actButton(a, "resolve"));
  const more = el("button", "details", T("alert.details"));
  more.type = "button";
  more.addEventListener("click", () => showDetail(a.id));
  actions.append(more);
  li.append(actions);
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

function actButton(a, action) {
  const b = el("button", action, T(action === "ack" ? "alert.ack" : "alert.resolve"));
  b.type = "button";
  b.addEventListener("click", () => openActForm(a.id, action));
  return b;
}

function openActForm(id, action) {
  const li = document.querySelector(`#alerts > li[data-id="${CSS.escape(id)}"]`);
  if (!li) return;
  li.querySelectorAll(".act-form").forEach(f => f.remove());
  const f = el("form", "act-form");
  f.dataset.action = action;
  const ta = el("textarea", "note-input");
  ta.rows = 2;
  ta.maxLength = 2000;
  ta.placeholder = T(action === "ack" ? "alert.note_optional" : "alert.note_required");
  if (action === "resolve") ta.required = true;
  const ok = el("button", "confirm", T(action === "ack" ? "alert.confirm_ack" : "alert.confirm_resolve"));
  ok.type = "submit";
  const cancel = el("button", "cancel", T("alert.cancel"));
  cancel.type = "button";
  cancel.addEventListener("click", () => f.remove());
  const err = el("span", "error");
  f.append(ta, ok, cancel, err);
  f.addEventListener("submit", async ev => {
    ev.preventDefault();
    ok.disabled = true;
    try {
      await api(`/dash/api/alerts/${encodeURIComponent(id)}/${action}`, {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf },
        body: JSON.stringify({ note: ta.value }),
      });
      f.remove(); // the alert event from the stream redraws the alert
    } catch (e) {
      err.textContent = e.message;
      ok.disabled = false;
    }
  });
  li.append(f);
  ta.focus();
}

function upsert(a) {
  alerts.set(a.id, a);
  renderAlert(a);
  updateCounts();
}

function updateCounts() {
  let open = 0, ack = 0;
  for (const a of alerts.values()) { if (a.state === "open") open++; else if (a.state === "acknowledged") ack++; }
  $("counts").textContent = T("alerts.counts", { open, ack });
  const shown = [...$("alerts").children].some(li => !li.hidden);
  $("no-alerts").hidden = shown;
  document.title = (open ? `(${open}) ` : "") + T("dash.title");
}

function setFilter(f) {
  filter = f;
  document.querySelectorAll(".filter").forEach(b => b.classList.toggle("on", b.dataset.filter === f));
  for (const li of $("alerts").children) { const a = alerts.get(li.dataset.id); if (a) li.hidden = !visible(a); }
  updateCounts();
}

// ---- alert detail and readings -----------------------------------------

function label(field) { return I18N.has("field." + field) ? T("field." + field) : field; }

function renderReading(r, withMeta) {
  const box = el("div", "reading q-" + ((r.quality && r.quality.status) || "ok"));
  Object.assign(box.dataset, { box: r.box, device: r.device, seq: r.seq }); // evidence.js finds the reading's files by these
  box.append(el("div", "r-head", `${r.box} / ${r.device} · ${T("kind." + r.kind) !== "kind." + r.kind ? T("kind." + r.kind) : r.kind} · #${r.seq}`));
  if (withMeta) {
    let m = I18N.fmtDateTime(r.origin) + " · " + T("quality." + r.quality.status);
    if (r.quality.reason) m += " (" + r.quality.reason + ")";
    if (r.historical) m += " · " + T("reading.historical");
    box.append(el("div", "meta", m));
  }
  const dl = el("dl", "kv");
  const p = r.payload || {};
  for (const [k, v] of Object.entries(p)) {
    if (v === null || v === undefined || k === "rows") continue;
    let text;
    if (v === "[personal]") text = T("reading.withheld");
    else if (k === "checks" && Array.isArray(v)) text = v.map(c => (c.ok ? "✓ " : "✗ ") + label(c.field)).join(", ");
    else if (Array.isArray(v)) { if (!v.length) continue; text = v.map(x => typeof x === "object" ? JSON.stringify(x) : x).join(", "); }
    else if (typeof v === "object") text = JSON.stringify(v);
    else if (typeof v === "boolean") text = T(v ? "yes" : "no");
    else text = String(v);
    dl.append(el("dt", null, label(k)), el("dd", null, text));
  }
  box.append(dl);
  return box;
}

async function showDetail(id) {
  const d = $("detail");
  d.hidden = false;
  d.textContent = T("loading");
  try {
    const r = await api(`/dash/api/alerts/${encodeURIComponent(id)}`);
    d.textContent = "";
    const close = el("button", "close", "×");
    close.type = "button";
    close.setAttribute("aria-label", T("alert.close"));
    close.addEventListener("click", () => { d.hidden = true; });
    d.append(close, el("h2", null, summaryOf(r.alert)));
    d.append(el("div", "meta", `${T("sev." + r.alert.severity)} · ${r.alert.box} / ${r.alert.device} · ${T("col.rule")}: ${r.alert.rule} · ${I18N.fmtDateTime(r.alert.time)}`));
    d.append(el("h3", null, T("alert.readings")));
    if (!r.readings.length) d.append(el("p", "meta", T("alert.no_readings")));
    r.readings.forEach(x => d.append(renderReading(x, true)));
    d.append(el("h3", null, T("alert.history")));
    const ol = el("ol", "log");
    for (const e of r.log || []) {
      let s = `${I18N.fmtDateTime(e.time)} · ${T("action." + e.action)}`;
      if (e.user) s += ` · ${e.user} (${T("role." + e.role)})`;
      const li = el("li", null, s);
      if (e.note) li.append(el("q", "note", e.note));
      ol.append(li);
    }
    d.append(ol);
  } catch (e) {
    d.textContent = e.message;
  }
}

function addReading(r) {
  const list = $("readings");
  const li = el("li");
  li.append(renderReading(r, false));
  li.prepend(el("time", "meta", I18N.fmtTime(r.origin)));
  list.prepend(li);
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
    upsert(ev.alert);
  });
  es.addEventListener("reading", e => addReading(JSON.parse(e.data)));
  es.addEventListener("health", () => scheduleHealth());
  es.addEventListener("rules", () => scheduleHealth());
}

// ---- health --------------------------------------------------------------

let healthTimer = null;
function scheduleHealth() {
  // Several availability messages arrive together when a box connects; one fetch answers them.
  if (healthTimer || $("view-health").hidden) return;
  healthTimer = setTimeout(() => { healthTimer = null; loadHealth(); }, 500);
}

async function loadHealth() {
  const [h, rules] = await Promise.all([api("/dash/api/health"), api("/dash/api/rules")]);
  const boxes = $("boxes");
  boxes.textContent = "";
  if (!h.boxes.length) boxes.append(el("p", "empty", T("health.none")));
  for (const b of h.boxes) {
    const card = el("div", "box st-" + b.state);
    card.dataset.box = b.box;
    const head = el("h2", null, b.box);
    head.append(el("span", "badge st-" + b.state, T("box." + b.state)));
    card.append(head);
    const m = [];
    if (b.firmware) m.push(T("health.firmware", { v: b.firmware }));
    if (b.since && !b.since.startsWith("0001")) m.push(T("health.since", { time: I18N.fmtDateTime(b.since) }));
    card.append(el("div", "meta", m.join(" · ")));
    const t = el("table", "table");
    const hr = el("tr");
    ["health.device", "health.kind", "health.state", "health.last", "health.count"].forEach(k => hr.append(el("th", null, T(k))));
    t.append(hr);
    for (const d of b.devices) {
      const tr = el("tr", "dev st-" + d.state);
      tr.dataset.device = d.device;
      tr.append(el("td", null, d.device));
      tr.append(el("td", null, d.kind ? (I18N.has("kind." + d.kind) ? T("kind." + d.kind) : d.kind) : ""));
      let st = T("dev." + d.state);
      if (d.reason) st += " — " + (I18N.has("reason." + d.reason) ? T("reason." + d.reason) : d.reason);
      tr.append(el("td", "state", st));
      tr.append(el("td", null, d.last_reading && !d.last_reading.startsWith("0001") ? I18N.fmtDateTime(d.last_reading) : "—"));
      tr.append(el("td", "num", String(d.readings_24h)));
      t.append(tr);
    }
    card.append(t);
    boxes.append(card);
  }
  const r = $("rules");
  r.textContent = "";
  if (rules) {
    r.append(el("span", null, T("rules.in_force", { n: (rules.rules || []).length, file: rules.file, time: I18N.fmtDateTime(rules.loaded) })));
    if (rules.last_error) r.append(el("div", "error", T("rules.refused") + " " + rules.last_error));
  }
}

// ---- history -------------------------------------------------------------

async function search(ev) {
  if (ev) ev.preventDefault();
  const f = new FormData($("search"));
  const q = new URLSearchParams();
  for (const [k, v] of f) if (v) q.set(k, v);
  q.set("limit", "500");
  const r = await api("/dash/api/alerts?" + q);
  const tb = $("history").querySelector("tbody");
  tb.textContent = "";
  for (const a of r.alerts) {
    const tr = el("tr", "sev-" + a.severity);
    tr.dataset.id = a.id;
    tr.append(el("td", null, I18N.fmtDateTime(a.time)), el("td", null, T("sev." + a.severity)), el("td", null, a.box),
      el("td", null, a.device), el("td", null, summaryOf(a)), el("td", null, T("state." + a.state)),
      el("td", null, [a.ack_by, a.resolved_by].filter(Boolean).join(", ")));
    tr.addEventListener("click", () => { showView("alerts"); showDetail(a.id); });
    tb.append(tr);
  }
  $("history-count").textContent = T("history.count", { n: r.alerts.length });
}

// ---- summary -------------------------------------------------------------

function table(title, rows, label) {
  const wrap = el("div", "sum-block");
  wrap.append(el("h3", null, title));
  const t = el("table", "table");
  for (const [k, v] of rows) {
    const tr = el("tr");
    tr.append(el("td", null, label ? label(k) : k), el("td", "num", String(v)));
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
  box.append(el("h2", null, T("summary.title", { from: s.from.slice(0, 10), to: new Date(Date.parse(s.to) - 1).toISOString().slice(0, 10) })));
  const med = s.acknowledged ? Math.round(s.ack_median_seconds) : "—";
  box.append(el("p", "big", T("summary.totals", { total: s.total, unresolved: s.unresolved, repeats: s.repeats, med })));
  const grid = el("div", "sum-grid");
  grid.append(table(T("summary.by_severity"), SEVERITIES.map(k => [k, s.by_severity[k] || 0]), k => T("sev." + k)));
  grid.append(table(T("summary.by_state"), STATES.map(k => [k, s.by_state[k] || 0]), k => T("state." + k)));
  grid.append(table(T("summary.by_day"), s.by_day.map(c => [c.key, c.count])));
  grid.append(table(T("summary.by_booth"), s.by_booth.map(c => [c.key, c.count])));
  grid.append(table(T("summary.by_rule"), s.by_rule.map(c => [c.key, c.count]), k => I18N.has("rule." + k) ? T("rule." + k) : k));
  box.append(grid);
  if (s.highest && s.highest.length) {
    box.append(el("h3", null, T("summary.highest")));
    const ol = el("ol", "log");
    s.highest.forEach(a => ol.append(el("li", null, `${I18N.fmtDateTime(a.time)} · ${T("sev." + a.severity)} · ${a.box} · ${summaryOf(a)} · ${T("state." + a.state)}`)));
    box.append(ol);
  }
}

// ---- views and start -----------------------------------------------------

function showView(v) {
  document.querySelectorAll(".view").forEach(s => { s.hidden = s.id !== "view-" + v; });
  document.querySelectorAll("#nav button").forEach(b => b.classList.toggle("on", b.dataset.view === v));
  if (v === "health") loadHealth();
  if (v === "summary") loadSummary();
}

function today() { return new Date().toISOString().slice(0, 10); }

function fillSelects() {
  const sev = document.querySelector("#search select[name=severity]");
  const st = document.querySelector("#search select[name=state]");
  sev.querySelectorAll("option[value]:not([value=''])").forEach(o => o.remove());
  st.querySelectorAll("option[value]:not([value=''])").forEach(o => o.remove());
  SEVERITIES.forEach(s => { const o = el("option", null, T("sev." + s)); o.value = s; sev.append(o); });
  STATES.forEach(s => { const o = el("option", null, T("state." + s)); o.value = s; st.append(o); });
}

function langSelect() {
  const s = $("lang");
  s.textContent = "";
  for (const l of I18N.languages) {
    const o = el("option", null, l.name);
    o.value = l.code;
    o.selected = l.code === I18N.lang;
    s.append(o);
  }
}

async function start() {
  me = await api("/dash/api/me");
  await I18N.init(me.default_lang);
  $("crossing").textContent = me.crossing;
  $("who").textContent = me.name;
  $("logout-csrf").value = me.csrf;
  $("nav-export").hidden = !me.can_export;
  langSelect();
  fillSelects();
  $("role").textContent = T("role." + me.role);
  $("lang").addEventListener("change", e => I18N.use(e.target.value));
  I18N.onChange(() => {
    $("role").textContent = T("role." + me.role);
    fillSelects();
    langSelect();
    for (const a of alerts.values()) renderAlert(a);
    updateCounts();
    setConn($("conn").dataset.state);
    if (!$("view-health").hidden) loadHealth();
    if (!$("view-summary").hidden) loadSummary();
  });
  document.querySelectorAll("#nav button").forEach(b => b.addEventListener("click", () => showView(b.dataset.view)));
  document.querySelectorAll(".filter").forEach(b => b.addEventListener("click", () => setFilter(b.dataset.filter)));
  $("search").addEventListener("submit", search);
  $("summary-form").addEventListener("submit", loadSummary);
  $("print").addEventListener("click", () => window.print());
  $("export-form").elements.day.value = today();
  $("export-form").addEventListener("submit", ev => {
    ev.preventDefault();
    location.href = "/dash/export.csv?day=" + encodeURIComponent($("export-form").elements.day.value);
  });
  setConn("connecting");
  const r = await api("/dash/api/alerts?limit=200");
  lastSeq = r.seq;
  r.alerts.slice().reverse().forEach(upsert);
  updateCounts();
  connect();
  document.body.dataset.ready = "1";
}

start().catch(e => { setConn("error"); console.error(e); });
