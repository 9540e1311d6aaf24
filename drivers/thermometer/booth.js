// Booth view of a thermometer (drivers/thermometer): the temperature large,
// a fever or a fault in words, and an empty lane shown as nobody there.
// Registered with the booth page (edge/booth/web/booth.js); h is its kit of
// helpers (T, el, field, num, has).
"use strict";
(function (views) {
  // Below this a thermometer sees the lane, not a traveller: a person's skin
  // reads 34 °C or more even on a cold day, an empty lane reads the room.
  const EMPTY_LANE_BELOW = 34;
  function tempOf(p) { return p.celsius !== undefined ? p.celsius : (p.temperature !== undefined ? p.temperature : p.value); }
  views.temperature = {
    urgency(r, down) {
      const p = r.payload || {};
      if (p.fault || (r.quality && r.quality.status === "bad")) return 2;
      if (p.fever) return 0;
      const c = tempOf(p);
      if (typeof c === "number" && c < EMPTY_LANE_BELOW) return down ? 2 : 4;
      return down ? 2 : 3;
    },
    render(card, r, out, h) {
      const T = h.T, el = h.el, field = h.field, num = h.num;
      const p = r.payload || {};
      const c = tempOf(p);
      const measured = p.measured_celsius;
      let cls, text, big = "temp";
      if (p.fault || (r.quality && r.quality.status === "bad")) {
        cls = "warn"; big += " muted";
        text = T("temp.fault", { why: p.fault && h.has("fault." + p.fault) ? T("fault." + p.fault) : T("fault.other") });
      } else if (p.fever) { cls = "bad"; big += " bad"; text = T("temp.fever"); }
      else if (typeof c === "number" && c < EMPTY_LANE_BELOW) {
        // Nobody in front of the sensor: the room's temperature is no verdict.
        cls = "idle"; big += " small muted"; text = T("temp.nobody");
      } else { cls = "ok"; text = T("temp.normal"); }
      card.classList.add(cls);
      const shown = num(c) !== null ? num(c) : num(measured);
      out.append(el("div", big, shown !== null ? shown + " °C" : "—"), el("div", "verdict " + cls, text));
      const f = el("div", "fields");
      if (typeof p.fever_threshold === "number" && cls !== "idle") f.append(field(T("temp.threshold"), num(p.fever_threshold) + " °C"));
      if (p.fault && typeof measured === "number") f.append(field(T("temp.measured"), num(measured) + " °C", true));
      if (f.children.length) out.append(f);
    },
  };
})(window.KordonBoothViews = window.KordonBoothViews || {});
