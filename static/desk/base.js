// Behaviour every page shares, kept out of the templates so a strict Content-Security-Policy (script-src 'self',
// no inline handlers) holds: selects marked data-submit-on-change submit their form; the skip link finds <main>.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    const target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-submit-on-change") && target.form) {
      target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
    }
  });
  const main = document.querySelector("main");
  if (main && !main.id) main.id = "main";
  if (main && !main.hasAttribute("tabindex")) main.setAttribute("tabindex", "-1");
})();
