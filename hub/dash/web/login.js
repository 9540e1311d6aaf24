"use strict";
(async function () {
  await I18N.init(document.documentElement.lang); // the crossing's default, set by the hub
  const q = new URLSearchParams(location.search);
  const err = document.getElementById("error");
  function showError() {
    if (!q.get("error")) return;
    err.hidden = false;
    err.textContent = I18N.t(q.get("locked") ? "login.locked" : "login.failed");
  }
  function langs() {
    const box = document.getElementById("langs");
    box.textContent = "";
    for (const l of I18N.languages) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = l.name; b.dataset.lang = l.code;
      if (l.code === I18N.lang) b.className = "on";
      b.addEventListener("click", () => I18N.use(l.code));
      box.append(b);
    }
    document.getElementById("form-lang").value = I18N.lang;
    document.title = I18N.t("login.title");
  }
  I18N.onChange(() => { langs(); showError(); });
  langs(); showError();
})();
