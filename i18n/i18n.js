// Kordon screens' translation helper. Elements name their key in a data-i18n attribute (text),
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
    // 04/05 reads differently in different countries. A browser whose
    // locale data lacks the language (Chromium's ICU carries no Kazakh
    // calendar) gets the month names and order from the translation file.
    intl() {
      if (this._intl && this._intl.lang === this.lang) return this._intl.ok;
      let ok = false;
      try {
        // Without month names a locale's calendar data is missing: its
        // months come out as "M01".
        ok = Intl.DateTimeFormat.supportedLocalesOf([this.lang]).length > 0 &&
          !/^M\d+$/.test(new Intl.DateTimeFormat(this.lang, { month: "long", timeZone: "UTC" }).format(Date.UTC(2020, 0, 15)));
      } catch (e) { ok = false; }
      this._intl = { lang: this.lang, ok };
      return ok;
    },
    fmt(iso, opts) {
      const d = iso instanceof Date ? iso : new Date(iso);
      if (isNaN(d)) return "";
      if (this.intl()) return new Intl.DateTimeFormat(this.lang, opts).format(d);
      return this.own(d, opts);
    },
    own(d, opts) {
      const utc = opts.timeZone === "UTC";
      const part = (f, l) => String(utc ? d["getUTC" + f]() : d["get" + f]()).padStart(l, "0");
      const time = opts.hour ? part("Hours", 2) + ":" + part("Minutes", 2) + (opts.second ? ":" + part("Seconds", 2) : "") : "";
      if (!opts.day && !opts.month) return time;
      const m = utc ? d.getUTCMonth() : d.getMonth();
      const names = this.t(opts.month === "long" ? "date.months" : "date.months_short").split(",");
      if (!opts.day) return names[m] || String(m + 1);
      const date = this.t("date.format", { d: utc ? d.getUTCDate() : d.getDate(), mon: names[m] || String(m + 1), y: part("FullYear", 4) });
      return time ? date + ", " + time : date;
    },
    fmtTime(iso) { return this.fmt(iso, { hour: "2-digit", minute: "2-digit", second: "2-digit" }); },
    fmtDateTime(iso) { return this.fmt(iso, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" }); },
    // A calendar day (YYYY-MM-DD, as documents and day pickers carry them).
    fmtDay(day) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day || "")) return day || "";
      return this.fmt(new Date(day + "T00:00:00Z"), { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
    },
    monthNames() {
      if (!this.intl()) return this.t("date.months").split(",");
      const out = [];
      for (let m = 0; m < 12; m++) out.push(this.fmt(new Date(Date.UTC(2020, m, 1)), { month: "long", timeZone: "UTC" }));
      return out;
    },
    // The order the language writes day, month and year in.
    dateOrder() {
      if (!this.intl()) return this.t("date.order").split(",");
      return new Intl.DateTimeFormat(this.lang, { day: "numeric", month: "long", year: "numeric" }).formatToParts(new Date(Date.UTC(2020, 0, 2)))
        .map(p => p.type).filter(t => t === "day" || t === "month" || t === "year");
    },
    num(v, digits) {
      const o = digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits };
      if (this.intl()) return new Intl.NumberFormat(this.lang, o).format(v);
      return new Intl.NumberFormat("en", Object.assign({ useGrouping: false }, o)).format(v).replace(".", this.t("num.decimal"));
    },
  };
  window.I18N = I;
})();
