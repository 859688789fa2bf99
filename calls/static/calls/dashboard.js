// The dashboard's figures refresh themselves; needs PB from live_script.html.
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  // Whenever a call anywhere changes (the live marker moves), fetch this page again and swap
  // its figures in: at most every few seconds, since the figures are aggregates over today.
  const EVERY = 4000;
  let first = true, last = 0, timer = null;
  async function refresh() {
    timer = null;
    last = Date.now();
    try {
      const response = await fetch(location.href, {credentials: "same-origin", headers: {Accept: "text/html"}});
      if (!response.ok || response.redirected) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("dashboard");
      if (fresh) root.innerHTML = fresh.innerHTML;
    } catch (err) { /* the next change tries again */ }
  }
  PB.poll(root.dataset.liveUrl, 3000, (data) => {
    if (data.changed && !first && !timer) timer = setTimeout(refresh, Math.max(0, last + EVERY - Date.now()));
    first = false;
    return true;
  });
})();
