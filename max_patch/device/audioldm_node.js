// Node for Max entry of the AudioLDM device: [node.script audioldm_node.js @autostart 1].
// Wires Max messages to the device logic in audioldm_core.js. Each device instance runs its own node process
// with its own UDP socket, so two devices on two tracks never share a port or each other's replies.
"use strict";

const maxAPI = require("max-api");
const dgram = require("dgram");
const fs = require("fs");
const { spawn } = require("child_process");
const { Device } = require("./audioldm_core.js");

const device = new Device({
  out: (...atoms) => maxAPI.outlet(...atoms),
  post: (text) => maxAPI.post(text),
  dgram,
  spawn,
  fs,
  now: () => Date.now(),
  random: Math.random,
  setInterval,
  clearInterval,
  setTimeout,
  clearTimeout,
});

const actions = {
  generate: () => device.generate(),
  cancel: () => device.cancel(),
  reroll: () => device.reroll(),
  recall: () => device.recall(),
  use_input: () => device.useAsInput(),
  insert: () => device.insert(),
  inserted: (...a) => device.inserted(...a),
  take: (i) => device.take(Number(i)),
  model_menu: (i) => device.pickModel(Number(i)),
  engine_menu: (i) => device.pickEngine(Number(i)),
  start_engine: () => device.startEngine(),
  stop_engine: () => device.stopEngine(false),
  engine_port: (p) => {
    device.port = Number(p) || device.port;
  },
};
for (const [name, fn] of Object.entries(actions)) maxAPI.addHandler(name, fn);
for (const key of Object.keys(device.state)) maxAPI.addHandler(key, (...v) => device.set(key, ...v));

device.open().then(
  () => maxAPI.outlet("ready"), // the patch answers by sending every control's value again
  (err) => maxAPI.post(`audioldm: could not open a UDP socket: ${err.message}`, maxAPI.POST_LEVELS.ERROR),
);
process.on("exit", () => device.close());
module.exports = { device };
