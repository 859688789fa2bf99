// The call list, live: the panel of live calls (obeying the page's search and filters, with
// per-row hang-up) and the history table below it, both refreshed while the page is open.
// Needs PB from templates/admin/calls/call/live_script.html.
(function () {
  "use strict";
  const panel = document.getElementById("live-calls");
  if (!panel) return;
  const body = document.getElementById("live-calls-body");
  const more = document.getElementById("live-calls-more");
  const note = document.getElementById("live-calls-note");
  const csrf = panel.querySelector("input[name=csrfmiddlewaretoken]");
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  let canHangUp = false;

  function badge(call) {
    let html = `<span class="pb-badge pb-status-${esc(call.status)}" data-call-status="${esc(call.id)}">${esc(call.status_label)}</span>`;
    if (call.simulated) html += ' <span class="pb-badge pb-simulated">simulated</span>';
    return html;
  }

  function carrier(call) {
    return `<span class="pb-badge pb-carrier pb-carrier-${esc(call.carrier)}" data-call-carrier="${esc(call.id)}">${esc(call.carrier_label)}</span>`;
  }

  function duration(call) {
    if (call.duration_s !== null) return PB.clock(call.duration_s);
    if (call.live && call.answered_at) return `<span data-elapsed-since="${esc(call.answered_at)}">live</span>`;
    return "—";
  }

  function hangUpCell(call) {
    if (!canHangUp || !call.live) return "<td></td>";
    return `<td><button type="button" class="pb-hangup" data-hangup-url="${esc(call.hangup_url)}"
      data-call-label="${esc(call.from)} → ${esc(call.to)}">Hang up</button></td>`;
  }

  function row(call) {
    const started = new Date(call.created_at).toLocaleTimeString([], {hour12: false});
    return `<tr class="${call.live ? "pb-live" : "pb-finished"}" data-call-id="${esc(call.id)}">
      <td><a href="${esc(call.url)}">${esc(started)}</a></td>
      <td>${call.direction === "inbound" ? "← in" : "→ out"}</td>
      <td>${carrier(call)}</td><td>${badge(call)}</td><td>${esc(call.from)}</td><td>${esc(call.to)}</td>
      <td>${duration(call)}</td><td>${esc(call.hangup_cause) || "—"}</td>${hangUpCell(call)}</tr>`;
  }

  function render(data) {
    canHangUp = data.can_hang_up;
    const calls = data.calls;
    document.getElementById("live-count").textContent = `(${data.live_count})`;
    if (!calls.length) {
      const what = data.filtered ? "No live calls match the search and filters." : "No live calls right now.";
      body.innerHTML = `<p class="pb-empty">${what}</p>`;
    } else {
      body.innerHTML = `<div class="pb-scroll"><table><thead><tr><th>Started</th><th>Dir.</th><th>Carrier</th><th>Status</th><th>From</th>
        <th>To</th><th>Duration</th><th>Hangup cause</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>${calls.map(row).join("")}</tbody></table></div>`;
    }
    // A campaign can have hundreds of live calls: the panel shows a few and links to all.
    more.hidden = data.live_count <= data.live_shown;
    if (!more.hidden) {
      more.innerHTML = `Showing ${data.live_shown} of ${data.live_count} live calls.
        <a href="${esc(data.all_live_url)}" id="live-calls-all">Show all ${data.live_count} in the table</a>`;
    }
    if (data.filters_invalid) say("The panel shows all calls: the list's filters are not valid.", "warning");
    // Calls already in the table below: their status badges change at once.
    for (const call of calls) {
      for (const el of document.querySelectorAll(`#result_list [data-call-status="${call.id}"]`)) {
        el.className = `pb-badge pb-status-${call.status}`;
        el.textContent = call.status_label;
      }
    }
    PB.tick();
  }

  function say(text, level) {
    note.hidden = false;
    note.className = `pb-note pb-note-${level}`;
    note.textContent = text;
  }

  // Per-row hang-up goes to the same control endpoint as the detail page's button, with the
  // page's CSRF token; that endpoint answers with a redirect to the call, whose page carries
  // the outcome as an admin message (success, or Telnyx's error), which is read from it.
  async function hangUp(button) {
    if (!confirm(`Hang up the call ${button.dataset.callLabel}?`)) return;
    button.disabled = true;
    const form = new FormData();
    form.append("csrfmiddlewaretoken", csrf ? csrf.value : "");
    try {
      const response = await fetch(button.dataset.hangupUrl, {
        method: "POST", body: form, credentials: "same-origin",
        headers: {"X-CSRFToken": csrf ? csrf.value : ""},
      });
      if (!response.ok) {
        const why = response.status === 403 ? "you may not steer calls, or your session has ended" : response.statusText;
        say(`Could not hang up ${button.dataset.callLabel}: HTTP ${response.status} (${why}).`, "error");
        button.disabled = false;
        return;
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const messages = [...page.querySelectorAll(".messagelist li")];
      const failed = messages.find((li) => li.classList.contains("error") || li.classList.contains("warning"));
      if (failed) {
        say(`${button.dataset.callLabel}: ${failed.textContent.trim()}`, "error");
        button.disabled = false;
      } else {
        const done = messages.map((li) => li.textContent.trim()).join(" ") || "Hang-up sent.";
        say(`${button.dataset.callLabel}: ${done}`, "success");
      }
    } catch (err) {
      say(`Could not hang up ${button.dataset.callLabel}: the server did not answer.`, "error");
      button.disabled = false;
    }
  }

  body.addEventListener("click", (event) => {
    const button = event.target.closest("button.pb-hangup");
    if (button) hangUp(button);
  });

  // The history table ----------------------------------------------------------------

  // Refetched (this very URL, so its search, filters, order and page) when the live marker
  // moves, at most every few seconds: the page is a full changelist query, the marker is not.
  const HISTORY_EVERY = 4000;
  let historyTimer = null, historyAt = 0, historyPending = false;

  function refreshHistorySoon() {
    historyPending = true;
    if (historyTimer) return;
    historyTimer = setTimeout(refreshHistory, Math.max(0, historyAt + HISTORY_EVERY - Date.now()));
  }

  async function refreshHistory() {
    historyTimer = null;
    historyAt = Date.now();
    historyPending = false;
    let page;
    try {
      const response = await fetch(location.href, {credentials: "same-origin", headers: {Accept: "text/html"}});
      if (!response.ok || response.redirected) return;
      page = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch (err) {
      historyPending = true;  // try again with the next poll
      return;
    }
    if (!mergeHistory(page)) historyPending = true;
    PB.tick();
  }

  const rowKey = (tr) => (tr.querySelector("input.action-select") || {}).value || (tr.querySelector("a[href]") || {}).href;
  const selection = () => [...document.querySelectorAll("#result_list input.action-select:checked")];

  // Returns false when the change had to wait (the operator has rows selected).
  function mergeHistory(page) {
    const form = document.getElementById("changelist-form");
    const freshForm = page.getElementById("changelist-form");
    if (!form || !freshForm) return true;
    const table = document.getElementById("result_list");
    const freshTable = page.getElementById("result_list");
    const rows = table ? [...table.tBodies[0].rows] : [];
    const freshRows = freshTable ? [...freshTable.tBodies[0].rows] : [];
    const known = new Map(rows.map((tr) => [rowKey(tr), tr]));
    const sameRows = rows.length === freshRows.length && freshRows.every((tr, i) => rowKey(tr) === rowKey(rows[i]));
    if (sameRows) {
      for (const fresh of freshRows) copyCells(known.get(rowKey(fresh)), fresh);
      const paginator = form.querySelector(".paginator"), freshPaginator = freshForm.querySelector(".paginator");
      if (paginator && freshPaginator) paginator.innerHTML = freshPaginator.innerHTML;
      return true;
    }
    // Rows come or go: never under an operator's selection, which they are about to act on.
    if (selection().length) {
      for (const fresh of freshRows) if (known.has(rowKey(fresh))) copyCells(known.get(rowKey(fresh)), fresh);
      return false;
    }
    form.replaceChildren(...[...freshForm.childNodes].map((n) => document.importNode(n, true)));
    // Django's actions.js binds to the rows it found at load; it binds again to the new ones
    // (the old elements and their listeners went with the old form).
    const boxes = form.querySelectorAll("tr input.action-select");
    if (boxes.length && window.Actions) window.Actions(boxes);
    return true;
  }

  // Every cell but the checkbox, so a row keeps its selection and its listeners.
  function copyCells(tr, fresh) {
    if (!tr) return;
    const cells = [...tr.cells], freshCells = [...fresh.cells];
    freshCells.forEach((cell, i) => {
      if (i < cells.length && !cell.classList.contains("action-checkbox")) {
        cells[i].replaceWith(document.importNode(cell, true));
      }
    });
  }

  let first = true;
  PB.poll(panel.dataset.url + "?filters=" + encodeURIComponent(location.search.slice(1)), 3000, (data) => {
    if (data.changed) {
      render(data);
      if (!first) refreshHistorySoon();
    } else if (historyPending && !historyTimer) {
      refreshHistorySoon();  // a change that waited for the selection to clear
    }
    first = false;
    document.getElementById("live-updated").textContent = `updated ${new Date().toLocaleTimeString([], {hour12: false})}`;
    return true;
  });
})();
