// Dashboard view of a weighing (drivers/weighbridge): its one line in the
// latest readings. Registered with the dashboard (hub/dash/web/dash.js); h
// is its kit of helpers (T, num).
"use strict";
(function (views) {
  views.weight = {
    line(r, h) {
      const T = h.T, p = r.payload || {};
      if (p.state === "overload") return { text: T("weigh.overload"), cls: "warn" };
      const w = typeof p.value === "number" ? h.num(p.value, p.unit === "t" ? 3 : 0) + " " + p.unit : "—";
      return { text: w + " · " + T("value.mode." + p.mode) + (p.overweight ? " · " + T("weigh.over") : ""), cls: p.overweight ? "bad" : "ok" };
    },
  };
})(window.KordonDashViews = window.KordonDashViews || {});
