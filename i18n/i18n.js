// Kordon screens' translation helper. Elements carry data-i18n="key" (text),
// data-i18n-placeholder / data-i18n-title / data-i18n-aria-label (attributes).
// The chosen language is kept in localStorage, so a screen keeps it across reloads.
"use strict";
(function () {
  const base = document.currentScript.src.replace(/i18n\.js(\?.*)?$/, "");
  const I = {
    lang: "", dict: {}, languages: [], listeners: [],
    // Keys asked for that no translation file has: the browser tests fail
    // on any, so an untranslated string cannot reach a screen unnoticed.
    missing: new Set(),
    t(key, vars) {
      let s = this.dict[key];
      if (s === undefined) { this.missing.add(key); s = key; }
      if (vars) for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
      return s;
    },
    has(key) { return Object.prototype.hasOwnProperty.call(this.dict, key); },
    apply(root) {
      root = root || document;
      root.querySelectorAll("[data-i18n]").forEach(e => { e.textContent = this.t(e.dataset.i18n); });
      for (const a of ["placeholder", "title", "aria-label"]) {
        const attr = "data-i18n-" + a;
        root.querySelectorAll("[" + attr + "]").forEach(e => e.setAttribute(a, this.t(e.getAttribute(attr))));
      }
    },
    async use(lang) {
      const r = await fetch(base + encodeURIComponent(lang) + ".json");
      if (!r.ok) throw new Error("no translation " + lang);
      this.dict = await r.json();
      this.lang = lang;
      document.documentElement.lang = lang;
      try { localStorage.setItem("kordon.lang", lang); } catch (e) { /* private mode */ }
      this.apply();
      this.listeners.forEach(f => f(lang));
    },
    onChange(f) { this.listeners.push(f); },
    async init(fallback) {
      this.languages = await fetch(base + "languages.json").then(r => r.json());
      const codes = this.languages.map(l => l.code);
      const q = new URLSearchParams(location.search).get("lang");
      let saved = null;
      try { saved = localStorage.getItem("kordon.lang"); } catch (e) { /* private mode */ }
      const pick = [q, saved, fallback, "ru", "en"].find(c => c && codes.includes(c));
      await this.use(pick);
    },
    // Dates and times are written the way the page's language writes them
    // (Intl with the page's language, never the browser's), months by name:
    // 04/05 reads differently in different countries.
    fmt(iso, opts) {
      const d = iso instanceof Date ? iso : new Date(iso);
      if (isNaN(d)) return "";
      try { return new Intl.DateTimeFormat(this.lang, opts).format(d); } catch (e) { return d.toISOString(); }
    },
    fmtTime(iso) { return this.fmt(iso, { hour: "2-digit", minute: "2-digit", second: "2-digit" }); },
    fmtDateTime(iso) { return this.fmt(iso, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" }); },
    // A calendar day (YYYY-MM-DD, as documents and day pickers carry them).
    fmtDay(day) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day || "")) return day || "";
      return this.fmt(new Date(day + "T00:00:00Z"), { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
    },
    monthNames() {
      const out = [];
      for (let m = 0; m < 12; m++) out.push(this.fmt(new Date(Date.UTC(2020, m, 1)), { month: "long", timeZone: "UTC" }));
      return out;
    },
    num(v, digits) {
      return new Intl.NumberFormat(this.lang, digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
    },
  };
  window.I18N = I;
})();
