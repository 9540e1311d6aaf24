// Booth view of a weighing (drivers/weighbridge): the weight large in the
// unit the indicator shows, whether it is over the site's gross limit, and
// an overloaded indicator said plainly. Registered with the booth page
// (edge/booth/web/booth.js); h is its kit of helpers (T, el, field, digits).
"use strict";
(function (views) {
  function shown(h, v, unit) { return typeof v === "number" ? h.digits(v, unit === "t" ? 3 : 0) + " " + unit : "—"; }
  views.weight = {
    urgency(r, down) {
      const p = r.payload || {};
      if (p.overweight) return 0;
      if (p.state === "overload") return 2;
      if (p.kg === 0) return down ? 2 : 4;
      return down ? 2 : 3;
    },
    render(card, r, out, h) {
      const T = h.T, el = h.el, field = h.field;
      const p = r.payload || {};
      let cls = "ok", text = T("weigh.ok"), big = "temp";
      if (p.state === "overload") { cls = "warn"; big += " muted"; text = T("weigh.overload"); }
      else if (p.overweight) { cls = "bad"; big += " bad"; text = T("weigh.over"); }
      else if (p.kg === 0) { cls = "idle"; big += " small muted"; text = T("weigh.empty"); }
      card.classList.add(cls);
      out.append(el("div", big, shown(h, p.value, p.unit)), el("div", "verdict " + cls, text));
      const f = el("div", "fields");
      if (p.mode) f.append(field(T("field.mode"), T("value.mode." + p.mode)));
      if (typeof p.limit_kg === "number" && p.mode === "gross") f.append(field(T("weigh.limit"), shown(h, p.limit_kg, "kg"), p.overweight));
      out.append(f);
    },
  };
})(window.KordonBoothViews = window.KordonBoothViews || {});
