// BLO network on the dashboard (docs/blo-network.md): alerts shared from
// across the border, marked as such, with Seen/Acknowledge that go back to
// the sender as receipts; a Share button on this crossing's alerts (with a
// note and a handling code from the neighbour's policy) and the receipts
// each share got. Kept apart from dash.js: it only reads the alert list's
// data-id attributes and adds its own elements.
"use strict";
(() => {
  const t = k => I18N.t(k);
  const mk = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  let me = null, status = null;

  async function get(url) {
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Error(r.status + " " + (await r.text()).trim());
    return r.json();
  }
  async function post(url, body) {
    const r = await fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf }, body: JSON.stringify(body || {}) });
    if (!r.ok) throw new Error((await r.text()).trim());
    return r.json();
  }

  function panel() {
    let p = document.getElementById("blo-incoming");
    if (p) return p;
    p = mk("section", "blo-incoming");
    p.id = "blo-incoming";
    p.setAttribute("aria-live", "polite");
    const main = document.querySelector("main");
    if (main) main.prepend(p);
    return p;
  }

  function renderLinks(h) {
    const s = mk("span", "blo-links");
    for (const l of status.links || []) {
      s.append(mk("span", "blo-link " + (l.up ? "up" : "down"), (l.peer === "centre" ? t("blo.centre") : l.peer) + ": " + (l.up ? t("blo.link_up") : t("blo.link_down"))));
    }
    h.append(s);
  }

  async function refreshIncoming() {
    let list;
    try { list = await get("/dash/api/blo/incoming?limit=50"); status = await get("/dash/api/blo/status"); } catch (e) { return; }
    const p = panel();
    p.textContent = "";
    const h = mk("h2", null, t("blo.title"));
    renderLinks(h);
    p.append(h);
    if (!list.length) { p.append(mk("p", "meta", t("blo.none"))); return; }
    const ol = mk("ol", "blo-list");
    for (const inc of list) {
      const sh = inc.share, a = sh.alert || {};
      const li = mk("li", "blo-item sev-" + (a.severity || "info") + (inc.ack_at ? " acked" : ""));
      li.dataset.id = sh.id;
      const head = mk("div", "a-head");
      head.append(mk("span", "blo-flag", "⇄ " + t("blo.from") + " " + sh.from));
      if (a.severity) head.append(mk("span", "badge sev-" + a.severity, (window.T ? T("sev." + a.severity) : a.severity)));
      head.append(mk("span", "a-rule", sh.rule));
      if (a.time) head.append(mk("time", "a-time", I18N.fmtDateTime(a.time)));
      li.append(head);
      if (a.summary) li.append(mk("div", "a-summary", a.summary));
      const kv = mk("dl", "kv");
      for (const [k, v] of Object.entries(sh.fields || {})) kv.append(mk("dt", null, k), mk("dd", null, typeof v === "object" ? JSON.stringify(v) : String(v)));
      if ((sh.document_keys || []).length) kv.append(mk("dt", null, t("blo.document_key")), mk("dd", null, sh.document_keys.join(", ")));
      li.append(kv);
      const meta = mk("div", "a-meta", sh.automatic ? t("blo.auto") : `${t("blo.by")}: ${sh.shared_by}` + (sh.handling ? ` · ${sh.handling}` : ""));
      if (sh.note) meta.append(mk("q", "note", sh.note));
      li.append(meta);
      const acts = mk("div", "a-actions");
      if (me && me.can_act && !inc.ack_at) {
        const b = mk("button", "blo-ack", t("blo.ack"));
        b.type = "button";
        b.addEventListener("click", async () => { await post(`/dash/api/blo/incoming/${encodeURIComponent(sh.id)}/acknowledged`); refreshIncoming(); });
        acts.append(b);
      }
      if (inc.ack_at) acts.append(mk("span", "blo-done", `${t("blo.acknowledged")} · ${inc.ack_by}`));
      li.append(acts);
      ol.append(li);
      // Shown on the screen of an officer who can act on it: that is "seen".
      if (me && me.can_act && !inc.seen_at && document.visibilityState === "visible") {
        post(`/dash/api/blo/incoming/${encodeURIComponent(sh.id)}/seen`).catch(() => {});
      }
    }
    p.append(ol);
  }

  async function showShares(li, id) {
    let box = li.querySelector(".blo-shares");
    if (!box) { box = mk("div", "blo-shares"); li.append(box); }
    let list = [];
    try { list = await get(`/dash/api/blo/alerts/${encodeURIComponent(id)}/shares`); } catch (e) { return; }
    box.textContent = "";
    for (const s of list || []) {
      const r = s.receipts || {};
      const parts = [`${t("blo.sent")} → ${s.share.to}`];
      for (const [k, label] of [["delivered", t("blo.delivered")], ["seen", t("blo.seen")], ["acknowledged", t("blo.acknowledged")]]) {
        parts.push((r[k] ? "✓ " : "… ") + label);
      }
      box.append(mk("div", "blo-receipt", parts.join(" · ")));
    }
    // The receipts come back while the officer watches: ask again until
    // every share has all three, for as long as the alert is on the page.
    clearTimeout(box.poll);
    const open = (list || []).some(s => { const r = s.receipts || {}; return !(r.delivered && r.seen && r.acknowledged); });
    if (open && li.isConnected) box.poll = setTimeout(() => showShares(li, id), 2000);
  }

  function shareForm(li, id) {
    if (li.querySelector(".blo-form")) return;
    const f = mk("form", "blo-form");
    const to = mk("select");
    to.setAttribute("aria-label", t("blo.to"));
    const handling = mk("select");
    handling.setAttribute("aria-label", t("blo.handling"));
    const fill = () => {
      handling.textContent = "";
      for (const c of (status.neighbours || {})[to.value] || []) handling.append(new Option(c, c));
    };
    for (const n of Object.keys(status.neighbours || {})) to.append(new Option(n, n));
    to.addEventListener("change", fill);
    fill();
    const note = mk("textarea");
    note.placeholder = t("blo.note");
    note.maxLength = 1000;
    const send = mk("button", null, t("blo.send"));
    send.type = "submit";
    const err = mk("span", "blo-err");
    f.append(to, handling, note, send, err);
    f.addEventListener("submit", async ev => {
      ev.preventDefault();
      try {
        await post(`/dash/api/blo/alerts/${encodeURIComponent(id)}/share`, { to: to.value, note: note.value, handling: handling.value });
        f.remove();
        showShares(li, id);
      } catch (e) { err.textContent = t("blo.err") + e.message; }
    });
    li.append(f);
  }

  function decorate() {
    if (!status || !me) return;
    for (const li of document.querySelectorAll("#alerts > li[data-id]")) {
      const acts = li.querySelector(".a-actions");
      // Marked once: showShares changes the item, which calls decorate again.
      if (!acts || li.dataset.bloDecorated) continue;
      li.dataset.bloDecorated = "1";
      const id = li.dataset.id;
      if (me.can_act && Object.keys(status.neighbours || {}).length) {
        const b = mk("button", "blo-share", t("blo.share"));
        b.type = "button";
        b.addEventListener("click", () => shareForm(li, id));
        acts.append(b);
      }
      showShares(li, id);
    }
  }

  async function start() {
    try { me = await get("/dash/api/me"); status = await get("/dash/api/blo/status"); } catch (e) { return; } // no BLO network here
    const alerts = document.getElementById("alerts");
    if (alerts) new MutationObserver(decorate).observe(alerts, { childList: true, subtree: true });
    decorate();
    refreshIncoming();
    setInterval(refreshIncoming, 3000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
