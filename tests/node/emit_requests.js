// Sends the request of every mode, as the device builds it, to 127.0.0.1:<port> and exits
// (tests/test_device.py parses them with the engine's own parser). Usage: node emit_requests.js PORT INPUT_WAV
"use strict";

const dgram = require("dgram");
const { Device, MODES } = require("../../max_patch/device/audioldm_core.js");

const [port, input] = [Number(process.argv[2]), process.argv[3]];
const d = new Device(
  {
    out: () => {},
    post: () => {},
    dgram,
    spawn: () => null,
    fs: null,
    now: () => Date.now(),
    random: Math.random,
    setInterval: () => 0,
    clearInterval: () => {},
    setTimeout,
    clearTimeout,
  },
  { port },
);
d.open().then(() => {
  d.online = true;
  Object.assign(d.state, { prompt: "soft rain on a roof", input, tempo: 96, signature: 3, bars: 2, loop: 1 });
  Object.assign(d.state, { samplerate: 44100, folder: "my-set", start: 0.25, end: 0.5, extend: 0.5 });
  for (let m = 0; m < MODES.length; m++) {
    d.state.mode = m;
    d.generate();
  }
  d.state.mode = 0;
  d.state.lengthmode = 1;
  d.generate();
  setTimeout(() => d.close(), 200);
});
