// What every page gets from script, all of it optional (the pages work without it):
//
// - Forms marked data-enhance post in the background: the server's message is announced in the
//   page's status region, a refusal is shown (and announced) right after the form, and the page
//   stays where it is, captions and all.
// - Any form marked data-confirm="question" asks first.
// - Panels marked data-panel="URL" are re-fetched from the server after such a post, when the
//   room's roster changes, and every data-refresh-every seconds, keeping keyboard focus in place;
//   a change to an element marked data-announce-changes that the reader did not cause is
//   announced.
// - Times marked data-local are shown in the reader's own time zone.
// - The new-room and room settings forms learn the reader's time zone.
// - A scheduled room counts down to its start, and stops once it is live.

const announcer = document.getElementById("announcer");
// Background posts still waiting for their answer, and all posts made so far: a panel refresh
// that overlaps a post may be showing what that post did, which its own message announces.
let acting = 0;
let posted = 0;

function announce(text) {
  if (!announcer || !text) return;
  // Emptied first so the same message twice is announced twice.
  announcer.textContent = "";
  window.setTimeout(() => { announcer.textContent = text; }, 50);
}

function showError(form, text) {
  const error = document.createElement("p");
  error.className = "form-error";
  error.setAttribute("role", "alert");
  error.textContent = text;
  form.after(error);
}

function clearError(form) {
  const next = form.nextElementSibling;
  if (next && next.classList.contains("form-error")) next.remove();
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  if (!form.hasAttribute("data-enhance")) return;
  event.preventDefault();
  if (form.dataset.busy) return;
  form.dataset.busy = "true";
  acting += 1;
  posted += 1;
  clearError(form);
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form, event.submitter)),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) {
      announce(answer.message);
      form.reset();
      document.dispatchEvent(new CustomEvent("roomscribe:action", { detail: { form } }));
    } else {
      showError(form, answer.detail || "That did not work. Reload the page and try again.");
    }
  } catch (err) {
    showError(form, "The server could not be reached. Check your connection and try again.");
  } finally {
    acting -= 1;
    delete form.dataset.busy;
  }
});

// -- panels ---------------------------------------------------------------------------------------

// How to find "the same" control after a panel is rebuilt: by id, else by its form and value.
function focusKey(element) {
  if (element.id) return { id: element.id };
  if (element.form) {
    return {
      action: element.form.getAttribute("action"), name: element.name || "", value: element.value || "",
    };
  }
  return null;
}

function findByKey(panel, key) {
  if (key.id) return panel.querySelector(`#${CSS.escape(key.id)}`);
  return Array.from(panel.querySelectorAll("form")).filter(
    (form) => form.getAttribute("action") === key.action,
  ).flatMap((form) => Array.from(form.elements)).find(
    (element) => element.type !== "hidden" && (element.name || "") === key.name &&
      (element.value || "") === key.value,
  ) || null;
}

const lastSeen = new WeakMap(); // panel → the markup it was last given

// Texts of a panel's [data-announce-changes] elements, by id.
function watched(panel) {
  return new Map(Array.from(panel.querySelectorAll("[data-announce-changes]"),
    (element) => [element.id, element.textContent.trim()]));
}

// `quiet`: the refresh follows the reader's own action, whose result was announced already.
async function refresh(panel, { quiet = false } = {}) {
  if (panel.dataset.loading) {
    // One more refresh once this one is done, so a change is never answered by a stale reply.
    panel.dataset.again = quiet && panel.dataset.again !== "loud" ? "quiet" : "loud";
    return;
  }
  panel.dataset.loading = "true";
  const postsBefore = posted;
  try {
    const response = await fetch(panel.dataset.panel, {
      headers: { Accept: "text/html" }, credentials: "same-origin",
    });
    // A redirect means the session ended (to the sign-in page): keep the panel as it is.
    if (!response.ok || response.redirected) return;
    const fresh = document.createElement("template");
    fresh.innerHTML = await response.text();
    const markup = fresh.innerHTML.trim();
    // Compared with what the server sent last time, not with the live DOM, which scripts and
    // error messages change: an unchanged panel is never rebuilt under someone's focus.
    if (markup === lastSeen.get(panel)) return;
    const active = document.activeElement;
    const inside = active && panel.contains(active);
    // Someone choosing from a list (a speaker's language) would lose their choice: the next
    // refresh, once they have left it, brings the panel up to date.
    if (inside && active.tagName === "SELECT") return;
    lastSeen.set(panel, markup);
    const key = inside ? focusKey(active) : null;
    const heading = inside ? active.closest("section")?.querySelector("h2") : null;
    const headingId = heading ? heading.id : null;
    const before = watched(panel);
    panel.replaceChildren(fresh.content);
    // The room's event for the reader's own post (or a timed refresh) can overtake the post's
    // answer under load; announcing what it shows would talk over the post's own message.
    if (!quiet && acting === 0 && posted === postsBefore) {
      // What changed by someone else's doing (a request to speak arrived, the host approved
      // yours) is announced; the rest of the panel changes silently.
      for (const [id, text] of watched(panel)) {
        if (before.has(id) && before.get(id) !== text) announce(text);
      }
    }
    if (inside) {
      // The control may be gone (the person it acted on moved): its section's heading then.
      const target = (key && findByKey(panel, key)) ||
        (headingId && document.getElementById(headingId)) || panel.querySelector("h2");
      if (target) target.focus();
    }
  } catch (err) {
    // Offline for a moment: the next refresh catches up.
  } finally {
    delete panel.dataset.loading;
    const again = panel.dataset.again;
    if (again) {
      delete panel.dataset.again;
      refresh(panel, { quiet: again === "quiet" });
    }
  }
}

const panels = Array.from(document.querySelectorAll("[data-panel]"));
let pending = null;

function refreshSoon() {
  window.clearTimeout(pending);
  pending = window.setTimeout(() => panels.forEach((panel) => refresh(panel)), 250);
}

if (panels.length) {
  // This module runs before any other script touches the panels: this is the server's markup.
  for (const panel of panels) lastSeen.set(panel, panel.innerHTML.trim());
  document.addEventListener("roomscribe:action", () => {
    panels.forEach((panel) => refresh(panel, { quiet: true }));
  });
  document.addEventListener("roomscribe:event", (event) => {
    if (event.detail.type === "roster" || event.detail.type === "room") refreshSoon();
  });
  for (const panel of panels) {
    const seconds = Number(panel.dataset.refreshEvery);
    if (seconds > 0) {
      window.setInterval(() => { if (!document.hidden) refresh(panel); }, seconds * 1000);
    }
  }
}

// -- times and time zones -----------------------------------------------------------------------

const format = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", year: "numeric",
  hour: "numeric", minute: "2-digit", timeZoneName: "short",
});
for (const time of document.querySelectorAll("time[data-local]")) {
  const moment = new Date(time.getAttribute("datetime"));
  if (!Number.isNaN(moment.getTime())) time.textContent = format.format(moment);
}

const roomForm = document.querySelector("form[data-room-form]");
if (roomForm && roomForm.elements.timezone) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) {
    roomForm.elements.timezone.value = zone;
    const hint = document.getElementById("f-scheduled-for-hint");
    if (hint) hint.textContent = `Up to 14 days ahead, in your time zone (${zone}).`;
    // A start time the server filled in (in UTC) is shown, and sent back, in the reader's zone.
    const start = roomForm.querySelector("input[data-utc]");
    const moment = start ? new Date(start.dataset.utc) : null;
    if (moment && !Number.isNaN(moment.getTime())) {
      const two = (n) => String(n).padStart(2, "0");
      start.value = `${moment.getFullYear()}-${two(moment.getMonth() + 1)}-` +
        `${two(moment.getDate())}T${two(moment.getHours())}:${two(moment.getMinutes())}`;
    }
  }
}

// -- a scheduled room's countdown ------------------------------------------------------------------

function startsIn(moment) {
  const seconds = Math.max(0, Math.floor((moment - Date.now()) / 1000));
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (seconds >= size) {
      const count = Math.floor(seconds / size);
      return `in ${count} ${unit}${count === 1 ? "" : "s"}`;
    }
  }
  return seconds > 0 ? "in less than a minute" : "any moment now, when the host starts it";
}

const countdown = document.querySelector("[data-countdown]");
if (countdown) {
  const moment = new Date(countdown.dataset.countdown).getTime();
  const tick = () => { countdown.textContent = startsIn(moment); };
  tick();
  window.setInterval(tick, 15000);
  // The captions client (captions.js) dispatches every room event: once the room is live the
  // countdown has done its job.
  document.addEventListener("roomscribe:event", (event) => {
    const panel = document.getElementById("countdown-panel");
    if (panel && event.detail.type === "room" && event.detail.state === "live") {
      panel.hidden = true;
      announce("The room has started.");
    }
  });
}
