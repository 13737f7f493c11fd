// Live audio in the browser: WebRTC through the room's media socket (roomscribe.rooms.stage).
//
// - Listening (any room page, [data-listen]): a Play button (browsers need a gesture before
//   sound) and a volume control; the room's mix plays in a plain <audio> element.
// - Speaking (speak and host pages, [data-stage]): a "Join the stage" button opens the
//   microphone (the browser's echo cancellation, noise suppression and gain control on) and two
//   connections: the stage, to hear the other speakers and be heard, and the captions, the same
//   microphone for the caption engine. A mute button (shortcut: M) and a level meter.
// - Both say what is happening in words in a status line screen readers announce (connecting,
//   live, muted by you, muted by the host, reconnecting), and reconnect by themselves, with
//   growing waits, when the network or the media server drops.

import { socketUrl } from "./sockets.js";

const FINAL = {
  4000: "The room has ended.",
  4002: "You were removed from the room.",
  4003: "You are blocked from this room.",
  4401: "Your sign-in has expired. Sign in again to listen.",
  4403: "You may not follow this room.",
  4404: "This room does not exist.",
};

function gathered(pc) {
  // Offers and answers carry every candidate: the media socket does not trickle them.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    window.setTimeout(resolve, 3000); // whatever is gathered by then
  });
}

const CONNECT_WITHIN = 10000; // ms a new connection may take before it is tried again

function watchConnection(pc, onLost) {
  // A connection that fails, stays disconnected (the network dropped) or never connects (no
  // network yet) is made again, until one holds.
  let timer = window.setTimeout(onLost, CONNECT_WITHIN);
  pc.addEventListener("connectionstatechange", () => {
    window.clearTimeout(timer);
    if (pc.connectionState === "failed") onLost();
    else if (pc.connectionState === "disconnected") timer = window.setTimeout(onLost, 3000);
    else if (pc.connectionState !== "connected") timer = window.setTimeout(onLost, CONNECT_WITHIN);
  });
}

class MediaLink {
  // The media socket, reconnecting with growing waits; `onMessage` gets each message.
  constructor(room, { onMessage, onOpen, onClosed }) {
    this.room = room;
    this.onMessage = onMessage;
    this.onOpen = onOpen;
    this.onClosed = onClosed;
    this.attempt = 0;
    this.stopped = false;
    this.socket = null;
  }

  open() {
    if (this.stopped) return;
    const socket = new WebSocket(socketUrl(`/api/v1/rooms/${this.room}/media`));
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.onOpen();
    });
    socket.addEventListener("message", (message) => {
      try {
        this.onMessage(JSON.parse(message.data));
      } catch (err) {
        // not a message of ours
      }
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket || this.stopped) return;
      if (FINAL[event.code] || event.code === 4409) {
        this.stopped = true;
        this.onClosed(FINAL[event.code] || "The room is not live.", true);
        return;
      }
      const seconds = Math.min(15, 2 ** this.attempt++);
      this.onClosed(`Connection lost. Reconnecting in ${seconds} second${seconds === 1 ? "" : "s"}…`, false);
      window.setTimeout(() => this.open(), seconds * 1000);
    });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  close() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000, "done");
  }
}

class RoomPlayer {
  constructor(root) {
    this.root = root;
    this.room = root.dataset.room;
    this.button = root.querySelector("[data-play]");
    this.volume = root.querySelector("[data-volume]");
    this.audio = root.querySelector("audio");
    this.status = root.querySelector("[data-audio-status]");
    this.pc = null;
    this.link = null;
    this.button.hidden = false;
    this.button.addEventListener("click", () => (this.playing() ? this.stop() : this.start()));
    this.volume.addEventListener("input", () => { this.audio.volume = this.volume.value / 100; });
    this.audio.volume = this.volume.value / 100;
  }

  playing() {
    return this.button.getAttribute("aria-pressed") === "true";
  }

  say(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  start() {
    this.button.setAttribute("aria-pressed", "true");
    this.say("Connecting to the room's audio…");
    this.link = new MediaLink(this.room, {
      onOpen: () => this.link.send({ type: "listen" }),
      onMessage: (m) => this.message(m),
      onClosed: (text, final) => {
        this.hangUp();
        this.say(text);
        if (final) this.button.setAttribute("aria-pressed", "false");
      },
    });
    this.link.open();
  }

  async message(m) {
    if (m.type === "offer") {
      this.hangUp();
      const pc = new RTCPeerConnection();
      this.pc = pc;
      watchConnection(pc, () => {
        if (this.pc !== pc) return;
        this.say("The room's audio dropped. Reconnecting…");
        this.link.send({ type: "listen" });
      });
      pc.addEventListener("track", (event) => {
        this.audio.srcObject = event.streams[0] || new MediaStream([event.track]);
        this.audio.play().catch(() => this.say("Press Play to hear the room."));
      });
      await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      this.link.send({ type: "answer", sdp: pc.localDescription.sdp });
    } else if (m.type === "state") {
      if (m.state === "listening") this.say("Playing the room's audio.");
      else if (m.state === "reconnecting") this.say("The room's audio is reconnecting…");
    } else if (m.type === "renegotiate") {
      this.link.send({ type: "listen" });
    } else if (m.type === "error") {
      this.say(`The room's audio is unavailable: ${m.detail}`);
    }
  }

  hangUp() {
    if (this.pc) this.pc.close();
    this.pc = null;
  }

  stop({ forStage = false } = {}) {
    this.resumeAfterStage = forStage;
    this.button.setAttribute("aria-pressed", "false");
    if (this.link) this.link.close();
    this.hangUp();
    this.audio.srcObject = null;
    this.say("Audio is off.");
  }
}

class Stage {
  constructor(root) {
    this.root = root;
    this.room = root.dataset.room;
    this.join = root.querySelector("[data-join]");
    this.mute = root.querySelector("[data-mute]");
    this.meter = root.querySelector("meter");
    this.audio = root.querySelector("audio");
    this.status = root.querySelector("[data-stage-status]");
    this.mic = null;
    this.pcs = [];
    this.link = null;
    this.mutedByMe = false;
    this.join.hidden = false;
    this.join.addEventListener("click", () => (this.onStage() ? this.leave() : this.enter()));
    this.mute.addEventListener("click", () => this.toggleMute());
    document.addEventListener("keydown", (event) => {
      // M mutes and unmutes, unless typing.
      if (event.key.toLowerCase() !== "m" || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.target.closest("input, textarea, select, [contenteditable]")) return;
      if (!this.mute.hidden && !this.mute.disabled) {
        event.preventDefault();
        this.toggleMute();
      }
    });
  }

  onStage() {
    return this.join.getAttribute("aria-pressed") === "true";
  }

  say(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  async enter() {
    this.join.setAttribute("aria-pressed", "true");
    document.dispatchEvent(new CustomEvent("roomscribe:stage"));
    this.say("Opening your microphone…");
    try {
      this.mic = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      this.join.setAttribute("aria-pressed", "false");
      this.say(err.name === "NotAllowedError"
        ? "The browser did not allow the microphone. Allow it in the site settings, then try again."
        : "No microphone could be opened. Check that one is connected, then try again.");
      return;
    }
    this.level();
    this.say("Connecting to the stage…");
    this.link = new MediaLink(this.room, {
      onOpen: () => this.offer(),
      onMessage: (m) => this.message(m),
      onClosed: (text, final) => {
        this.hangUp();
        this.say(text);
        if (final) this.leave(text);
      },
    });
    this.link.open();
  }

  async offer() {
    this.hangUp();
    const track = this.mic.getAudioTracks()[0];
    const stage = new RTCPeerConnection();
    const captions = new RTCPeerConnection();
    this.pcs = [stage, captions];
    stage.addTrack(track, this.mic);
    stage.addEventListener("track", (event) => {
      this.audio.srcObject = event.streams[0] || new MediaStream([event.track]);
      this.audio.play().catch(() => {});
    });
    captions.addTransceiver(track, { direction: "sendonly" });
    for (const pc of this.pcs) {
      watchConnection(pc, () => {
        if (!this.pcs.includes(pc)) return;
        this.say("Your connection dropped. Reconnecting to the stage…");
        this.offer();
      });
    }
    await Promise.all(this.pcs.map(async (pc) => pc.setLocalDescription(await pc.createOffer())));
    await Promise.all(this.pcs.map(gathered));
    this.link.send({ type: "speak", stage: stage.localDescription.sdp,
                     captions: captions.localDescription.sdp });
  }

  async message(m) {
    if (m.type === "answers") {
      const [stage, captions] = this.pcs;
      await stage.setRemoteDescription({ type: "answer", sdp: m.stage });
      await captions.setRemoteDescription({ type: "answer", sdp: m.captions });
    } else if (m.type === "state") {
      this.show(m.state);
    } else if (m.type === "renegotiate") {
      this.offer();
    } else if (m.type === "stopped") {
      // No longer a speaker (or replaced elsewhere): off the stage, listening instead.
      this.leave(m.code === 4004
        ? "You are a listener now, so your microphone is off."
        : "Your microphone was opened elsewhere, so this one stopped.");
    } else if (m.type === "error") {
      this.say(`The stage is unavailable: ${m.detail}`);
    }
  }

  show(state) {
    const muted = state === "muted";
    this.mute.hidden = false;
    this.mute.setAttribute("aria-pressed", String(muted));
    if (this.mic) this.mic.getAudioTracks().forEach((t) => { t.enabled = !muted; });
    if (state === "live") {
      this.mutedByMe = false;
      this.say("You are live: the room hears you.");
    } else if (muted) {
      this.say(this.mutedByMe ? "Muted by you. Press M or the button to unmute."
        : "Muted by the host. Nobody hears you until you unmute.");
    } else if (state === "reconnecting") {
      this.say("The stage is reconnecting…");
    }
  }

  toggleMute() {
    const muted = this.mute.getAttribute("aria-pressed") !== "true";
    this.mutedByMe = muted;
    // At once on this side; the server confirms, and stops the audio everywhere else.
    if (this.mic) this.mic.getAudioTracks().forEach((t) => { t.enabled = !muted; });
    this.link.send({ type: "mute", muted });
  }

  level() {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(this.mic).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const tick = () => {
      if (!this.mic) {
        context.close();
        this.meter.value = 0;
        return;
      }
      analyser.getFloatTimeDomainData(samples);
      let peak = 0;
      for (const s of samples) peak = Math.max(peak, Math.abs(s));
      this.meter.value = peak;
      this.meter.textContent = peak > 0.05 ? "sound" : "silent";
      window.setTimeout(tick, 100);
    };
    tick();
  }

  hangUp() {
    for (const pc of this.pcs) pc.close();
    this.pcs = [];
  }

  leave(text = "You left the stage. Your microphone is off.") {
    this.join.setAttribute("aria-pressed", "false");
    this.mute.hidden = true;
    if (this.link) this.link.close();
    this.link = null;
    this.hangUp();
    if (this.mic) this.mic.getTracks().forEach((t) => t.stop());
    this.mic = null;
    this.audio.srcObject = null;
    this.say(text);
    document.dispatchEvent(new CustomEvent("roomscribe:offstage"));
  }
}

const listeners = [...document.querySelectorAll("[data-listen]")]
  .filter((root) => root.querySelector("[data-play]")).map((root) => new RoomPlayer(root));
const stages = [...document.querySelectorAll("[data-stage]")].map((root) => new Stage(root));

// On the stage a speaker hears the others from the stage itself; the room's whole mix would
// echo their own voice back, so it stops.
document.addEventListener("roomscribe:stage", () => {
  for (const listener of listeners) if (listener.playing()) listener.stop({ forStage: true });
});
document.addEventListener("roomscribe:offstage", () => {
  for (const listener of listeners) if (listener.resumeAfterStage && !listener.playing()) listener.start();
});

// Role changes arrive with the roster (captions.js): a new voice gets the stage panel, a voice
// moved back to the listeners leaves the stage, without a reload.
document.addEventListener("roomscribe:event", (event) => {
  if (event.detail.type !== "roster") return;
  for (const stage of stages) {
    const voice = event.detail.voices.some((v) => v.id === stage.root.dataset.me);
    stage.root.hidden = !voice;
    if (!voice && stage.onStage()) stage.leave("You are a listener now, so your microphone is off.");
  }
});
