// The live captions client: one room's events, shown for people reading and for screen readers.
//
// Events come over the room's caption WebSocket, or over Server-Sent Events when sockets cannot
// connect (proxies that block them). Finals are appended to the role="log" region, which screen
// readers announce politely; the partial line is replaced in place beside the log, outside it, so
// a sentence is announced once, when it is final. The speaker's name starts every change of
// speaker. Reading back pauses auto-scroll; "Jump to live" resumes it. Every event is also
// dispatched on `document` as "roomscribe:event" for the other page scripts.

import { socketUrl } from "./sockets.js";

const KEEP = 1000; // finals kept on the page: hours of talk, bounded memory
const REMEMBER = 5000; // finals' seq numbers remembered, to skip the ones a reconnect replays
const BOTTOM_SLACK = 8; // pixels from the end that still count as "at the live edge"

// Close codes (roomscribe.rooms.connection) after which reconnecting cannot help.
const FINAL = {
  4000: "The room has ended.",
  4002: "You were removed from the room.",
  4003: "You are blocked from this room.",
  4401: "Your sign-in has expired. Sign in again to follow the room.",
  4403: "You may not follow this room.",
  4404: "This room does not exist.",
};
const NOT_LIVE = 4409; // the reason says which: "the room is scheduled|ended|cancelled, not live"

export class RoomStream {
  constructor({ socket, events, onEvent, onStatus }) {
    this.socketPath = socket;
    this.eventsPath = events;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.useEvents = false;
    this.failedHandshakes = 0;
    this.attempt = 0;
    this.stopped = false;
  }

  connect() {
    if (this.stopped) return;
    if (this.useEvents) this.openEvents();
    else this.openSocket();
  }

  openSocket() {
    let socket;
    try {
      socket = new WebSocket(socketUrl(this.socketPath));
    } catch (err) {
      this.useEvents = true; // no WebSocket at all here
      this.openEvents();
      return;
    }
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.failedHandshakes = 0;
      this.connected();
    });
    socket.addEventListener("message", (message) => this.deliver(message.data));
    socket.addEventListener("close", (event) => {
      // A socket that never opened, twice running, is being blocked on the way: use SSE.
      if (!opened && ++this.failedHandshakes >= 2) this.useEvents = true;
      this.closed(event.code, event.reason);
    });
  }

  openEvents() {
    const source = new EventSource(this.eventsPath);
    source.addEventListener("open", () => this.connected());
    source.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "close") {
        source.close();
        this.closed(event.code, event.reason);
      } else {
        this.onEvent(event);
      }
    });
    source.addEventListener("error", () => {
      // EventSource retries dropped connections itself; CLOSED means the server refused.
      if (source.readyState === EventSource.CLOSED) this.closed(1006);
      else this.onStatus("Connection lost. Reconnecting…");
    });
  }

  deliver(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch (err) {
      return;
    }
    this.onEvent(event);
  }

  connected() {
    this.attempt = 0;
    this.onStatus("Connected. Captions are live.");
  }

  // The room is over ("ended" or "cancelled"): whatever closes next is expected, not a reason
  // to reconnect.
  over(state) {
    if (this.stopped) return;
    this.stopped = true;
    this.onStatus(state === "cancelled" ? "The room was cancelled." : "The room has ended.",
      { over: state });
  }

  closed(code, reason = "") {
    if (this.stopped) return;
    if (FINAL[code]) {
      this.stopped = true;
      this.onStatus(FINAL[code], { over: code === 4000 ? "ended" : null });
      return;
    }
    const over = code === NOT_LIVE && /\b(ended|cancelled)\b/.exec(reason);
    if (over) {
      this.over(over[1]);
      return;
    }
    if (code === NOT_LIVE) {
      this.onStatus("The room has not started yet. Captions will appear when it does.");
      window.setTimeout(() => this.connect(), 10000);
      return;
    }
    const seconds = Math.min(15, 2 ** this.attempt++);
    this.onStatus(`Connection lost. Reconnecting in ${seconds} second${seconds === 1 ? "" : "s"}…`);
    window.setTimeout(() => this.connect(), seconds * 1000);
  }
}

export class CaptionView {
  constructor({ log, partials, pause, live, track = "transcribe" }) {
    this.track = track; // "transcribe": as spoken; "translate": the room's English track
    this.kept = { transcribe: [], translate: [] }; // finals of each track, to switch between
    this.log = log;
    this.partials = partials;
    this.pause = pause;
    this.live = live;
    this.seen = new Set(); // seq of finals shown
    this.heard = new Map(); // speaker id → seq of their latest final
    this.lastSpeaker = null;
    this.lines = new Map(); // speaker id → their partial line
    this.epoch = null; // the numbering the seen seq belong to (a restarted server starts anew)
    this.paused = false;
    this.pausedByButton = false;
    this.unseen = 0;
    log.addEventListener("scroll", () => this.scrolled());
    pause.addEventListener("click", () => {
      if (this.paused) this.resume();
      else this.hold(true);
    });
    live.addEventListener("click", () => {
      this.resume();
      this.log.focus();
    });
  }

  // A server that restarted numbers captions from 0 again, under a new epoch: what was seen
  // under the old one says nothing about the new numbers.
  numbering(epoch) {
    if (this.epoch !== null && epoch !== this.epoch) {
      this.seen.clear();
      this.heard.clear();
      this.clearPartials();
    }
    this.epoch = epoch;
  }

  final(event) {
    // A reconnect replays the last two minutes of finals: each is shown once. Finals are never
    // dropped for arriving out of order, only for having been shown.
    if (this.seen.has(event.seq)) return;
    this.seen.add(event.seq);
    if (this.seen.size > REMEMBER) this.seen.delete(this.seen.values().next().value);
    const kept = this.kept[taskOf(event)];
    kept.push(event);
    if (kept.length > KEEP) kept.shift();
    if (taskOf(event) === this.track) this.show(event);
  }

  // The listener chose the other track: its finals so far replace the log's.
  setTrack(track) {
    if (track === this.track) return;
    this.track = track;
    this.clearPartials();
    this.heard.clear();
    this.lastSpeaker = null;
    this.log.replaceChildren();
    for (const event of this.kept[track]) this.show(event, { quiet: true });
    this.follow();
  }

  show(event, { quiet = false } = {}) {
    const speaker = event.speaker.id;
    this.heard.set(speaker, Math.max(event.seq, this.heard.get(speaker) ?? -1));
    // Only a partial this final supersedes goes; a newer one (sent after it) stays on show.
    if (Number(this.lines.get(speaker)?.dataset.seq ?? -1) < event.seq) this.dropPartial(speaker);
    const text = event.text.trim();
    if (!text) return;
    this.log.querySelector(".caption-placeholder")?.remove();
    const line = document.createElement("p");
    line.className = "caption";
    line.dataset.seq = String(event.seq);
    if (event.speaker.id !== this.lastSpeaker) {
      line.classList.add("caption--speaker");
      line.append(speakerName(event.speaker.name));
      this.lastSpeaker = event.speaker.id;
    }
    line.append(spoken(event, text));
    this.log.append(line);
    while (this.log.childElementCount > KEEP) this.log.firstElementChild.remove();
    if (!quiet) this.follow();
  }

  partial(event) {
    if (taskOf(event) !== this.track) return;
    // A partial older than its speaker's latest final has been overtaken by it.
    if (event.seq <= (this.heard.get(event.speaker.id) ?? -1)) return;
    let line = this.lines.get(event.speaker.id);
    if (line && Number(line.dataset.seq) > event.seq) return; // a newer one is on show
    if (!line) {
      line = document.createElement("p");
      line.append(speakerName(event.speaker.name), document.createElement("span"));
      this.partials.append(line);
      this.lines.set(event.speaker.id, line);
    }
    line.dataset.seq = String(event.seq);
    line.lastElementChild.replaceWith(spoken(event, event.text.trim()));
  }

  dropPartial(speakerId) {
    this.lines.get(speakerId)?.remove();
    this.lines.delete(speakerId);
  }

  clearPartials() {
    this.partials.replaceChildren();
    this.lines.clear();
  }

  atEnd() {
    const { scrollHeight, scrollTop, clientHeight } = this.log;
    return scrollHeight - scrollTop - clientHeight <= BOTTOM_SLACK;
  }

  follow() {
    if (this.paused) {
      this.unseen += 1;
      this.showLiveButton();
    } else {
      this.log.scrollTop = this.log.scrollHeight;
    }
  }

  scrolled() {
    if (this.atEnd()) {
      if (this.paused && !this.pausedByButton) this.resume();
    } else if (!this.paused) {
      this.hold(false);
    }
  }

  hold(byButton) {
    this.paused = true;
    this.pausedByButton = byButton;
    this.unseen = 0;
    this.pause.setAttribute("aria-pressed", "true");
    this.showLiveButton();
  }

  resume() {
    this.paused = false;
    this.pausedByButton = false;
    this.unseen = 0;
    this.pause.setAttribute("aria-pressed", "false");
    // Hiding a focused button would drop focus to the top of the page.
    if (document.activeElement === this.live) this.log.focus();
    this.live.hidden = true;
    this.log.scrollTop = this.log.scrollHeight;
  }

  showLiveButton() {
    this.live.textContent = this.unseen
      ? `Jump to live (${this.unseen} new)`
      : "Jump to live";
    this.live.hidden = false;
  }
}

function taskOf(event) {
  return event.task ?? "transcribe";
}

// The words, marked with their language so screen readers speak them in it, and with their
// own direction so Arabic or Hebrew reads right to left inside a left-to-right page.
function spoken(event, text) {
  const span = document.createElement("span");
  if (event.lang) span.lang = event.lang;
  span.dir = "auto";
  span.textContent = text;
  return span;
}

function speakerName(name) {
  const span = document.createElement("span");
  span.className = "speaker";
  span.textContent = `${name}: `;
  return span;
}

const STATE_TEXT = { live: "Live now", ended: "Ended", cancelled: "Cancelled" };

function showRoom(event) {
  const state = document.getElementById("room-state");
  if (state && STATE_TEXT[event.state]) state.textContent = STATE_TEXT[event.state];
}

function showRoster(event) {
  const list = document.getElementById("stage-list");
  if (!list) return;
  const roles = JSON.parse(list.dataset.roles);
  list.replaceChildren(...event.voices.map((voice) => {
    const item = document.createElement("li");
    const details = [roles[voice.role] || voice.role];
    if (voice.muted) details.push("muted");
    if (voice.streaming) details.push("microphone on");
    const role = document.createElement("span");
    role.className = "role";
    role.textContent = `(${details.join(", ")})`;
    let name = voice.name;
    if ("profiles" in list.dataset) {
      // Signed-in readers reach each person's profile, where they can follow them.
      name = document.createElement("a");
      name.href = `/u/${encodeURIComponent(voice.id)}`;
      name.textContent = voice.name;
    }
    item.append(name, " ", role);
    return item;
  }));
  const audience = document.getElementById("audience");
  const count = event.listener_count + event.anonymous;
  audience.textContent = `${count} ${count === 1 ? "person" : "people"} listening` +
    (event.anonymous ? `, ${event.anonymous} without an account.` : ".");
}

function showReaction(event) {
  const feed = document.getElementById("reaction-feed");
  if (!feed) return;
  const names = JSON.parse(feed.dataset.names);
  const item = document.createElement("li");
  const emoji = document.createElement("span");
  emoji.setAttribute("aria-hidden", "true");
  emoji.textContent = event.emoji;
  const name = document.createElement("span");
  name.className = "visually-hidden";
  name.textContent = names[event.emoji] || "reaction";
  item.append(`${event.from.name}: `, emoji, name);
  feed.prepend(item);
  while (feed.childElementCount > 5) feed.lastElementChild.remove();
  document.getElementById("reaction-empty").hidden = true;
}

function showPins(event) {
  const list = document.getElementById("pin-list");
  if (!list) return;
  list.replaceChildren(...event.pins.map((pin) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = pin.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    link.textContent = pin.title || pin.url;
    const note = document.createElement("span");
    note.className = "visually-hidden";
    note.textContent = " (opens in a new tab)";
    link.append(note);
    item.append(link);
    return item;
  }));
  document.getElementById("pin-empty").hidden = event.pins.length > 0;
}

const TRACK_KEY = "roomscribe.captionTrack";

function start(section) {
  const status = section.querySelector("#caption-status");
  const chooser = section.querySelector("#caption-track");
  const chosen = chooser ? (localStorage.getItem(TRACK_KEY) ?? "transcribe") : "transcribe";
  const view = new CaptionView({
    log: section.querySelector("#caption-log"),
    partials: section.querySelector("#caption-partial"),
    pause: section.querySelector("#caption-pause"),
    live: section.querySelector("#caption-live"),
    track: chosen,
  });
  if (chooser) {
    chooser.hidden = false;
    const radio = chooser.querySelector(`input[value="${chosen}"]`);
    if (radio) radio.checked = true;
    chooser.addEventListener("change", (e) => {
      localStorage.setItem(TRACK_KEY, e.target.value);
      view.setTrack(e.target.value);
    });
  }
  const stream = new RoomStream({
    socket: section.dataset.socket,
    events: section.dataset.events,
    onEvent(event) {
      if (event.type === "final") view.final(event);
      else if (event.type === "partial") view.partial(event);
      else if (event.type === "room") {
        view.numbering(event.epoch);
        showRoom(event);
        if (event.state === "ended" || event.state === "cancelled") stream.over(event.state);
      }
      else if (event.type === "roster") showRoster(event);
      else if (event.type === "reaction") showReaction(event);
      else if (event.type === "pins") showPins(event);
      document.dispatchEvent(new CustomEvent("roomscribe:event", { detail: event }));
    },
    onStatus(text, { over = null } = {}) {
      if (over) {
        view.clearPartials();
        showRoom({ state: over });
      }
      if (status.textContent !== text) status.textContent = text;
    },
  });
  stream.connect();
}

const section = document.querySelector("[data-captions]");
if (section) start(section);
