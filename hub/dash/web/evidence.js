// Evidence files on the alert detail: for each reading shown, the files it
// references (an X-ray image, an N42 export). On request the hub fetches
// one from its box (or its own store) and the picture is shown here, or
// the file downloaded. The hub decides who may (docs/screens.md).
"use strict";
(() => {
  const T = (k, v) => I18N.t(k, v);
  const mk = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const base = d => `/dash/api/evidence/${encodeURIComponent(d.box)}/${encodeURIComponent(d.device)}/${encodeURIComponent(d.seq)}`;
  // The reading's own box life: a re-provisioned box numbers again from 1.
  const life = d => `incarnation=${encodeURIComponent(d.incarnation || "")}`;

  async function errorText(r) {
    try { return (await r.json()).error || r.statusText; } catch (e) { return r.statusText; }
  }

  async function show(d, f, slot, btn) {
    btn.disabled = true;
    slot.textContent = T("evidence.fetching");
    try {
      const url = `${base(d)}/file?as=png&ref=${encodeURIComponent(f.pointer)}&${life(d)}`;
      let r = await fetch(url, { credentials: "same-origin" });
      // 503: a large file is still on its way from the box; the hub keeps
      // fetching, and asking again joins that fetch.
      for (let i = 0; r.status === 503 && i < 20; i++) {
        await new Promise(ok => setTimeout(ok, 3000));
        r = await fetch(url, { credentials: "same-origin" });
      }
      if (!r.ok) { slot.textContent = T("evidence.failed", { why: await errorText(r) }); btn.disabled = false; return; }
      const blob = await r.blob();
      // A data: URL: the page's policy admits 'self' and data: images only.
      const data = await new Promise((ok, bad) => {
        const fr = new FileReader();
        fr.onload = () => ok(fr.result);
        fr.onerror = () => bad(fr.error);
        fr.readAsDataURL(blob);
      });
      const img = mk("img", "evidence-img");
      img.alt = T("evidence.image_of", { name: f.name });
      img.style.maxWidth = "100%";
      img.style.imageRendering = "pixelated";
      img.src = data;
      slot.textContent = "";
      slot.append(img, mk("div", "meta", T("evidence.source." + (r.headers.get("X-Evidence-Source") === "store" ? "store" : "box"))));
    } catch (e) {
      slot.textContent = T("evidence.failed", { why: e.message });
      btn.disabled = false;
    }
  }

  async function attach(node) {
    const d = node.dataset;
    node.dataset.evidence = "asked";
    let files;
    try {
      const r = await fetch(`${base(d)}?${life(d)}`, { credentials: "same-origin" });
      if (!r.ok) return; // no reading, or the role may not view evidence
      files = await r.json();
    } catch (e) { return; }
    if (!files.length) return;
    const sec = mk("div", "evidence");
    sec.append(mk("h4", null, T("evidence.title")));
    for (const f of files) {
      const row = mk("div", "evidence-file");
      row.dataset.pointer = f.pointer;
      row.append(mk("span", "evidence-name", f.name + (f.size ? ` · ${Math.ceil(f.size / 1024)} KiB` : "")));
      const btn = mk("button", "evidence-show", T("evidence.show"));
      btn.type = "button";
      const slot = mk("div", "evidence-slot");
      btn.addEventListener("click", () => show(d, f, slot, btn));
      const dl = mk("a", "evidence-download", T("evidence.download"));
      dl.href = `${base(d)}/file?ref=${encodeURIComponent(f.pointer)}&${life(d)}`;
      dl.setAttribute("download", f.name);
      row.append(" ", btn, " ", dl, slot);
      sec.append(row);
    }
    node.append(sec);
  }

  function scan() {
    const detail = document.getElementById("detail");
    if (!detail) return;
    for (const n of detail.querySelectorAll(".reading[data-box]:not([data-evidence])")) attach(n);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const detail = document.getElementById("detail");
    if (detail) new MutationObserver(scan).observe(detail, { childList: true, subtree: true });
  });
})();
