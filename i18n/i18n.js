// Kordon screens' translation helper. Elements carry data-i18n="key" (text),
// data-i18n-placeholder / data-i18n-title / data-i18n-aria-label (attributes).
// The chosen language is kept in localStorage, so a screen keeps it across reloads.
"use strict";
(function () {
  const base = document.currentScript.src.replace(/i18n\.js(\?.*)?$/, "");
  const I = {
    lang: "", dict: {}, languages: [], listeners: [],
    t(key, vars) {
      let s = this.dict[key];
      if (s === undefined) s = key;
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
    fmtTime(iso) {
      const d = new Date(iso);
      return isNaN(d) ? "" : d.toLocaleTimeString(this.lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    },
    fmtDateTime(iso) {
      const d = new Date(iso);
      return isNaN(d) ? "" : d.toLocaleString(this.lang, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
    },
  };
  window.I18N = I;
})();
