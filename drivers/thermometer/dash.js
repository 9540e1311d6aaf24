// Dashboard view of a thermometer (drivers/thermometer): its one line in
// the latest readings, temperatures in °C and faults in words. Registered
// with the dashboard (hub/dash/web/dash.js); h is its kit of helpers (T,
// has, num).
"use strict";
(function (views) {
  const CELSIUS = new Set(["celsius", "measured_celsius", "housing_celsius", "fever_threshold"]);
  function fault(h, f) { return f && h.has("fault." + f) ? h.T("fault." + f) : h.T("fault.other"); }
  views.temperature = {
    line(r, h) {
      const T = h.T, p = r.payload || {};
      const bad = r.quality && r.quality.status === "bad";
      const c = typeof p.celsius === "number" ? h.num(p.celsius, 1) + " °C" : "—";
      if (p.fault || bad) return { text: T("temp.fault", { why: fault(h, p.fault) }), cls: "warn" };
      return { text: c + (p.fever ? " · " + T("temp.fever") : ""), cls: p.fever ? "bad" : "ok" };
    },
    value(k, v, h) {
      if (typeof v === "number" && CELSIUS.has(k)) return h.num(v, 1) + " °C";
      if (k === "fault" && typeof v === "string") return h.has("fault." + v) ? h.T("fault." + v) : v;
      return undefined;
    },
    why(r, h) { return (r.payload || {}).fault ? fault(h, r.payload.fault) : ""; },
  };
})(window.KordonDashViews = window.KordonDashViews || {});
