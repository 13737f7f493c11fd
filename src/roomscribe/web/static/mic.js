// The microphone control: getUserMedia → AudioWorklet (static/pcm-worklet.js, 16 kHz mono 16-bit
// PCM) → binary frames over the room's audio socket, with a level meter. One toggle button starts
// and stops it; its state is aria-pressed and a status line says what is happening in words.

import { socketUrl } from "./sockets.js";

const FRAME_MS = 100;

// Close codes of the audio socket (roomscribe.rooms.connection), in words.
const CLOSED = {
  1000: "Microphone off.",
  4000: "The room has ended. Microphone off.",
  4001: "Your microphone was opened in another tab or device, so this one stopped.",
  4002: "You were removed from the room.",
  4003: "You are blocked from this room.",
  4004: "You are no longer a speaker, so your microphone stopped.",
  4401: "Your sign-in has expired. Sign in again to speak.",
  4403: "Only the host, co-hosts and speakers can use the microphone.",
  4409: "The room is not live, so nothing can be sent yet.",
  4503: "Live captions are unavailable right now. Try again in a while.",
};

function opened(socket) {
  return new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("close", (event) => reject(event), { once: true });
  });
}

class Microphone {
  constructor(root) {
    this.root = root;
    this.button = root.querySelector("#mic-toggle");
    this.meter = root.querySelector("#mic-level");
    this.status = root.querySelector("#mic-status");
    this.session = null;
    this.busy = false;
    this.button.addEventListener("click", () => this.toggle());
    this.button.disabled = false;
    this.say("Microphone off.");
  }

  say(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  async toggle() {
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.session) await this.stop("Microphone off.");
      else await this.start();
    } finally {
      this.busy = false;
    }
  }

  async start() {
    this.button.setAttribute("aria-pressed", "true");
    this.say("Starting the microphone…");
    const session = { stream: null, context: null, node: null, socket: null, stopping: false };
    this.session = session;
    try {
      session.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (err) {
      this.session = null;
      this.button.setAttribute("aria-pressed", "false");
      this.say(err && err.name === "NotAllowedError"
        ? "Microphone access was refused. Allow it in your browser's site settings, then press the button again."
        : "No microphone could be opened. Check that one is connected, then press the button again.");
      return;
    }
    try {
      session.context = new AudioContext();
      await session.context.audioWorklet.addModule(this.root.dataset.worklet);
      session.node = new AudioWorkletNode(session.context, "pcm16k", {
        numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1,
        channelCountMode: "explicit", channelInterpretation: "speakers",
        processorOptions: { frameMs: FRAME_MS },
      });
      session.socket = new WebSocket(socketUrl(this.root.dataset.socket));
      session.socket.binaryType = "arraybuffer";
      await opened(session.socket);
    } catch (err) {
      const code = err && typeof err.code === "number" ? err.code : 0;
      await this.stop(CLOSED[code] && code !== 1000 ? CLOSED[code]
        : "The microphone could not connect to the room. Press the button to try again.");
      return;
    }
    session.socket.addEventListener("close", (event) => {
      if (!session.stopping) this.stop(CLOSED[event.code] || "The connection to the room was lost. Press the button to start again.");
    });
    session.node.port.onmessage = ({ data }) => {
      if (data.pcm && session.socket.readyState === WebSocket.OPEN) session.socket.send(data.pcm);
      if (typeof data.level === "number") this.meter.value = data.level;
      if (data.done && session.flushed) session.flushed();
    };
    session.context.createMediaStreamSource(session.stream).connect(session.node);
    if (session.context.state === "suspended") await session.context.resume();
    this.say("Microphone on: the room hears you.");
  }

  async stop(message) {
    const session = this.session;
    if (!session || session.stopping) return;
    session.stopping = true;
    if (session.node && session.socket && session.socket.readyState === WebSocket.OPEN) {
      // Send what the worklet still holds, so the last words are captioned too.
      await new Promise((resolve) => {
        session.flushed = resolve;
        session.node.port.postMessage("flush");
        window.setTimeout(resolve, 500);
      });
      session.socket.close(1000, "microphone off");
    } else if (session.socket && session.socket.readyState === WebSocket.CONNECTING) {
      session.socket.close();
    }
    if (session.stream) session.stream.getTracks().forEach((track) => track.stop());
    if (session.context) await session.context.close().catch(() => {});
    this.session = null;
    this.meter.value = 0;
    this.button.setAttribute("aria-pressed", "false");
    this.say(message);
  }
}

const root = document.querySelector("[data-mic]");
if (root) {
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.AudioWorkletNode) {
    new Microphone(root);
  } else {
    root.querySelector("#mic-status").textContent =
      "This browser cannot record audio here. Use a current browser over https.";
  }
}
