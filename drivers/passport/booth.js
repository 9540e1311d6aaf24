// Booth view of a document read (drivers/passport): the verdict first, then
// who the traveller is and what the document says, each check digit marked.
// Registered with the booth page (edge/booth/web/booth.js); h is its kit of
// helpers (T, el, field, dateField).
"use strict";
(function (views) {
  // The document's type as the officer names it (ICAO 9303 document codes),
  // not the reader's format code.
  function docType(h, code) {
    const c = (code || "").charAt(0);
    if (c === "P") return h.T("doctype.passport");
    if (c === "V") return h.T("doctype.visa");
    if (c === "I" || c === "A" || c === "C") return h.T("doctype.id_card");
    return code || "";
  }
  views.document = {
    // A document that failed (check digits, expired, unreadable) comes
    // right after an alarm about a traveller.
    urgency(r, down) {
      const p = r.payload || {};
      if (p.failure || !p.valid || p.expired) return 1;
      return down ? 2 : 3;
    },
    render(card, r, out, h) {
      const T = h.T, el = h.el, field = h.field, dateField = h.dateField;
      const p = r.payload || {};
      if (p.failure) {
        // The reader sent part of a document or a corrupt block: nothing to
        // compare, the officer must present the document again.
        card.classList.add("bad");
        out.append(el("div", "verdict bad", T("doc.failed")));
        out.append(el("div", "note", T("doc.failure." + p.failure)));
        return;
      }
      const failed = (p.checks || []).filter(c => !c.ok).map(c => T("field." + c.field));
      let cls = "ok", text = T("doc.valid");
      if (!p.valid) { cls = "bad"; text = T("doc.invalid", { fields: failed.join(", ") || "?" }); }
      else if (p.expired) { cls = "bad"; text = T("doc.expired"); }
      else if (r.quality && r.quality.status === "suspect") { cls = "warn"; text = T("doc.suspect"); }
      card.classList.add(cls);
      out.append(el("div", "verdict " + cls, text));
      out.append(el("div", "name", p.primary_name || ""));
      out.append(el("div", "given", p.secondary_name || ""));
      const f = el("div", "fields");
      f.append(field(T("field.number"), p.number, (p.checks || []).some(c => c.field === "number" && !c.ok)));
      f.append(field(T("field.nationality"), p.nationality));
      f.append(dateField(T("field.birth_date"), p.birth_date, (p.checks || []).some(c => c.field === "birth_date" && !c.ok)));
      f.append(field(T("field.sex"), p.sex === "F" ? T("sex.f") : p.sex === "M" ? T("sex.m") : T("sex.x")));
      f.append(dateField(T("field.expiry_date"), p.expiry_date, p.expired, p.expired ? " — " + T("doc.expired_short") : ""));
      f.append(field(T("field.document"), docType(h, p.document_code)));
      f.append(field(T("field.issuer"), p.issuer));
      if (p.minor) f.append(field(T("field.minor"), T("yes"), true));
      out.append(f);
      const checks = el("div", "checks");
      for (const c of p.checks || []) checks.append(el("span", "check " + (c.ok ? "ok" : "bad"), (c.ok ? "✓ " : "✗ ") + T("field." + c.field)));
      out.append(checks);
      // The driver's own words are English and technical; the verdict and the
      // checks above already say what failed.
    },
  };
})(window.KordonBoothViews = window.KordonBoothViews || {});
