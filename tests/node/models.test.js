// The device's model menu under node (run by tests/test_device.py): filled from /audioldm/models when the engine
// comes online, a pick sets the model Start Engine serves, and a running engine serving another model is
// reported as needing a restart.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const dgram = require("dgram");
const { EventEmitter } = require("events");
const core = require("../../max_patch/device/audioldm_core.js");

function makeDevice() {
  const out = [];
  const sent = [];
  const spawned = [];
  const deps = {
    out: (...a) => out.push(a),
    post: () => {},
    dgram,
    spawn: (cmd, args) => {
      const child = new EventEmitter();
      child.stdout = new EventEmitter();
      child.stderr = new EventEmitter();
      child.kill = () => child.emit("exit", null);
      spawned.push({ cmd, args, child });
      return child;
    },
    fs: null,
    now: () => 1000,
    random: () => 0.5,
    setInterval: () => 1,
    clearInterval: () => {},
    setTimeout,
    clearTimeout,
  };
  const d = new core.Device(deps, { port: 9321 });
  d.send = (address, ...args) => sent.push([address, args]); // no socket: the requests are recorded
  return { d, out, sent, spawned, last: (key) => [...out].reverse().find((a) => a[0] === key) };
}

const MODELS = [
  ["audioldm-daw-mini", "MIT", "piano, drums", 1, 1, "/m/audioldm-daw-mini"],
  ["cvssp/audioldm-s-full-v2", "CC BY-NC-SA 4.0", "", 0, 0, "cvssp/audioldm-s-full-v2"],
];

function answer(d) {
  for (const row of MODELS) d.reply("/audioldm/model", row);
  d.reply("/audioldm/models_end", []);
}

test("the menu is filled from /audioldm/models when the engine comes online, the served model selected", () => {
  const { d, out, sent } = makeDevice();
  d.reply("/audioldm/pong", ["0.3.0", "audioldm-daw-mini"]);
  assert.ok(sent.some(([a, args]) => a === "/audioldm/models" && args.length === 0), "asked for the models");
  answer(d);
  const menu = out.filter((a) => a[0] === "models");
  assert.deepEqual(menu, [
    ["models", "clear"],
    ["models", "append", "audioldm-daw-mini (serving, default)"],
    ["models", "append", "cvssp/audioldm-s-full-v2"],
    ["models", "set", 0],
  ]);
  d.reply("/audioldm/model", MODELS[1]); // a stray row outside a listing changes nothing
  assert.equal(d.models.length, 2);
});

test("a pick sets the model Start Engine serves; a running engine serving another one needs a restart", () => {
  const { d, spawned, last } = makeDevice();
  d.incomingModels = [];
  answer(d); // a listing from before: the engine is offline now
  d.pickModel(1);
  assert.equal(d.state.model, "cvssp/audioldm-s-full-v2");
  assert.deepEqual(last("model"), ["model", "cvssp/audioldm-s-full-v2"]);
  assert.match(last("status")[1], /^Start Engine will serve cvssp\/audioldm-s-full-v2, licence CC BY-NC-SA 4\.0$/);
  d.startEngine();
  assert.deepEqual(spawned[0].args, ["serve", "--port", "9321", "--model", "cvssp/audioldm-s-full-v2"]);
  d.reply("/audioldm/pong", ["0.3.0", "audioldm-daw-mini"]); // an engine that still serves the bundled model
  answer(d);
  assert.deepEqual(last("models"), ["models", "set", 1], "the menu shows the chosen model");
  d.pickModel(1);
  assert.match(last("status")[1], /serves audioldm-daw-mini: click Stop Engine, then Start Engine to use cvssp/);
  d.child = null; // an engine this device did not start
  d.pickModel(1);
  assert.match(last("status")[1], /restart audioldm-daw serve with --model cvssp\/audioldm-s-full-v2/);
  d.pickModel(0);
  assert.match(last("status")[1], /^the engine serves audioldm-daw-mini, licence MIT, knows piano, drums$/);
  d.pickModel(7); // no such item: nothing changes
  assert.equal(d.state.model, "/m/audioldm-daw-mini");
});
