// The AudioWorklet behind the microphone: whatever rate the browser captures at (usually 44.1 or
// 48 kHz) becomes 16 kHz mono 16-bit PCM, posted to the page in fixed frames (100 ms by default,
// within the audio socket's 20–200 ms rule) together with the frame's level for the meter.
//
// Downsampling averages the input samples that fall within each output sample's period: a box
// filter that also handles fractional ratios (44.1 kHz to 16 kHz) and removes most of what would
// alias. Speech recognition needs nothing finer, and it costs a few operations a sample.

const TARGET_RATE = 16000;

class Pcm16k extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const frameMs = (options.processorOptions && options.processorOptions.frameMs) || 100;
    this.frame = new Int16Array((TARGET_RATE * frameMs) / 1000);
    this.filled = 0;
    this.energy = 0;
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.consumed = 0; // input samples seen
    this.produced = 0; // output samples made
    this.sum = 0;
    this.count = 0;
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data === "flush") {
        this.send(); // the last, possibly short, frame
        this.running = false;
        this.port.postMessage({ done: true });
      }
    };
  }

  process(inputs) {
    if (!this.running) return false;
    const channel = inputs[0] && inputs[0][0]; // the node mixes its input down to one channel
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      this.sum += channel[i];
      this.count += 1;
      this.consumed += 1;
      // Computed from the count rather than accumulated, so rounding never drifts.
      if (this.consumed >= (this.produced + 1) * this.step) {
        this.push(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }

  push(value) {
    const sample = Math.max(-1, Math.min(1, value));
    this.frame[this.filled++] = Math.round(sample < 0 ? sample * 32768 : sample * 32767);
    this.energy += sample * sample;
    this.produced += 1;
    if (this.filled === this.frame.length) this.send();
  }

  send() {
    if (this.filled === 0) return;
    const rms = Math.sqrt(this.energy / this.filled);
    // -60 dBFS and below reads as silence, 0 dBFS as full scale.
    const level = rms > 0 ? Math.max(0, Math.min(1, (20 * Math.log10(rms) + 60) / 60)) : 0;
    const pcm = this.frame.slice(0, this.filled).buffer;
    this.port.postMessage({ pcm, level }, [pcm]);
    this.filled = 0;
    this.energy = 0;
  }
}

registerProcessor("pcm16k", Pcm16k);
