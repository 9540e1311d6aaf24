// Dashboard view of a document read (drivers/passport): its one line in
// the latest readings, its coded values in words, and why a read is
// doubtful. Registered with the dashboard (hub/dash/web/dash.js); h is its
// kit of helpers (T, has, label, fmtDay).
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
    line(r, h) {
      const T = h.T, p = r.payload || {};
      if (p.failure) return { text: T("doc.failed_short"), cls: "bad" };
      if (!p.valid) return { text: T("doc.invalid_short"), cls: "bad" };
      if (p.expired) return { text: T("doc.expired"), cls: "bad" };
      return { text: docType(h, p.document_code) + " · " + T("doc.valid"), cls: "ok" };
    },
    value(k, v, h) {
      const T = h.T;
      if (k === "checks" && Array.isArray(v)) return v.map(c => (c.ok ? "✓ " : "✗ ") + h.label(c.field)).join(", ");
      if (k === "sex") return v === "F" ? T("sex.f") : v === "M" ? T("sex.m") : T("sex.x");
      if (k === "document_code") return docType(h, v);
      if (k === "birth_date" || k === "expiry_date") return h.fmtDay(v);
      if (k === "failure" && typeof v === "string") return h.has("doc.failure." + v) ? T("doc.failure." + v) : v;
      return undefined;
    },
    why(r, h) {
      const p = r.payload || {};
      if (p.failure && h.has("doc.failure." + p.failure)) return h.T("doc.failure." + p.failure);
      if (Array.isArray(p.checks) && p.checks.some(c => !c.ok)) return h.T("qreason.check_digit", { fields: p.checks.filter(c => !c.ok).map(c => h.label(c.field)).join(", ") });
      return "";
    },
  };
})(window.KordonDashViews = window.KordonDashViews || {});
