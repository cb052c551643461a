// audioldm_live.js (Max's classic `js`, Live API) against a small fake Live Object Model, and audioldm_node.js
// (the node.script entry) with the stub `max-api` (NODE_PATH=tests/node/stub).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const LIVE_JS = path.join(__dirname, "../../max_patch/device/audioldm_live.js");

// A Live set: tracks with clip slots and arrangement clips; `create_audio_clip` exists from Live 12.0.5.
function fakeLive({ tracks, deviceTrack = 0, highlighted = null, scene = 0, time = 8, hasCreate = true }) {
  const objects = {};
  let nextId = 1;
  const add = (p, props = {}, children = {}) => (objects[p] = { id: nextId++, props, children, path: p });
  add("live_set", { current_song_time: time });
  tracks.forEach((t, ti) => {
    const tp = `live_set tracks ${ti}`;
    add(tp, { has_audio_input: t.audio ? 1 : 0, has_midi_input: t.audio ? 0 : 1 });
    objects[tp].arrangement = [];
    t.slots.forEach((full, si) => add(`${tp} clip_slots ${si}`, { has_clip: full ? 1 : 0 }));
  });
  const byPath = (p) => {
    if (p === "this_device canonical_parent") return deviceTrack === null ? null : objects[`live_set tracks ${deviceTrack}`];
    if (p === "live_set view highlighted_clip_slot") return highlighted === null ? null : objects[highlighted];
    if (p === "live_set view selected_scene") return { id: 99, path: `live_set scenes ${scene}`, props: {} };
    const m = /^(live_set tracks \d+) arrangement_clips (\d+)$/.exec(p);
    if (m) return objects[m[1]].arrangement[Number(m[2])];
    return objects[p] || null;
  };
  const calls = [];
  class LiveAPI {
    constructor(p) {
      const o = byPath(p);
      this.o = o;
      this.id = o ? o.id : 0;
      this.unquotedpath = o ? o.path : "";
      this.path = o ? `"${o.path}"` : "";
    }
    get(prop) {
      return [this.o.props[prop]];
    }
    set(prop, value) {
      this.o.props[prop] = value;
    }
    getcount(child) {
      if (child === "arrangement_clips") return this.o.arrangement.length;
      return Object.keys(objects).filter((k) => k.startsWith(`${this.o.path} ${child} `) && k.split(" ").length === 5).length;
    }
    call(fn, ...args) {
      calls.push([this.o.path, fn, ...args]);
      if (fn !== "create_audio_clip" || !hasCreate) return; // older Live: no such function, nothing happens
      if (/clip_slots/.test(this.o.path)) {
        this.o.props.has_clip = 1;
        add(`${this.o.path} clip`, { name: path.basename(args[0]) });
      } else {
        const clip = { id: nextId++, path: `${this.o.path} arrangement_clips ${this.o.arrangement.length}` };
        clip.props = { start_time: args[1], name: path.basename(args[0]) };
        this.o.arrangement.push(clip);
      }
    }
  }
  const outlets = [];
  const ctx = { LiveAPI, outlet: (_n, ...atoms) => outlets.push(atoms), post: () => {}, Math, String, Number, parseInt };
  vm.createContext(ctx);
  vm.runInContext(fs.readFileSync(LIVE_JS, "utf8"), ctx);
  return { ctx, objects, calls, outlets };
}

test("session: the highlighted slot on this track, named and looping", () => {
  const live = fakeLive({ tracks: [{ audio: true, slots: [0, 0, 0] }], highlighted: "live_set tracks 0 clip_slots 1" });
  live.ctx.insert("session", "/clips/set/loop_s1_120bpm.wav", "loop_s1_120bpm", 8, 1);
  assert.deepEqual(live.outlets.pop(), ["inserted", 1, "track 1, scene 2"]);
  const clip = live.objects["live_set tracks 0 clip_slots 1 clip"].props;
  assert.deepEqual([clip.name, clip.warping, clip.looping], ["loop_s1_120bpm", 1, 1]);
});

test("session: a highlighted slot on another track is not used; an occupied slot moves down", () => {
  const live = fakeLive({
    tracks: [{ audio: true, slots: [0, 0] }, { audio: true, slots: [0, 1, 1, 0] }],
    deviceTrack: 1,
    highlighted: "live_set tracks 0 clip_slots 0",
    scene: 1,
  });
  live.ctx.insert("session", "/c/a.wav", "a", 0, 0);
  assert.deepEqual(live.outlets.pop(), ["inserted", 1, "track 2, scene 4"]);
  assert.equal(live.objects["live_set tracks 1 clip_slots 3 clip"].props.name, "a");
  assert.equal(live.objects["live_set tracks 0 clip_slots 0 clip"], undefined);
});

test("session: no empty slot, a MIDI track, a return track, and Live before 12.0.5 all say why", () => {
  let live = fakeLive({ tracks: [{ audio: true, slots: [1, 1] }] });
  live.ctx.insert("session", "/c/a.wav", "a", 0, 0);
  assert.deepEqual(live.outlets.pop(), ["inserted", 0, "no empty clip slot at or below the selected scene"]);
  live = fakeLive({ tracks: [{ audio: false, slots: [0] }] });
  live.ctx.insert("session", "/c/a.wav", "a", 0, 0);
  assert.deepEqual(live.outlets.pop(), ["inserted", 0, "clips can only be placed on an audio track"]);
  live = fakeLive({ tracks: [{ audio: true, slots: [0] }], deviceTrack: null });
  live.ctx.insert("session", "/c/a.wav", "a", 0, 0);
  assert.deepEqual(live.outlets.pop(), ["inserted", 0, "the device is not on a regular track"]);
  live = fakeLive({ tracks: [{ audio: true, slots: [0] }], hasCreate: false });
  live.ctx.insert("session", "/c/a.wav", "a", 0, 0);
  assert.equal(live.outlets.pop()[1], 0);
  live.ctx.insert("arrangement", "/c/a.wav", "a", 0, 0);
  assert.deepEqual(live.outlets.pop(), ["inserted", 0, "Live did not create the clip (Live 12.0.5 or newer needed)"]);
});

test("arrangement: Track.create_audio_clip at the current song time", () => {
  const live = fakeLive({ tracks: [{ audio: true, slots: [0] }], time: 16 });
  live.ctx.insert("arrangement", "/c/pad_s3.wav", "pad_s3", 16, 0);
  assert.deepEqual(live.calls.pop(), ["live_set tracks 0", "create_audio_clip", "/c/pad_s3.wav", 16]);
  assert.deepEqual(live.outlets.pop(), ["inserted", 1, "track 1 at beat 17"]);
  assert.equal(live.objects["live_set tracks 0"].arrangement[0].props.name, "pad_s3");
});

test("the node.script entry registers every handler and says ready with its own reply port", async () => {
  const maxAPI = require("max-api"); // the stub, through NODE_PATH
  const entry = require("../../max_patch/device/audioldm_node.js");
  assert.ok(entry.device);
  for (const name of ["generate", "cancel", "reroll", "recall", "use_input", "insert", "inserted", "take"]) {
    assert.equal(typeof maxAPI.handlers[name], "function", name);
  }
  for (const name of ["start_engine", "stop_engine", "prompt", "bars", "loop", "fit", "fullband", "tempo", "signature", "samplerate"]) {
    assert.equal(typeof maxAPI.handlers[name], "function", name);
  }
  const t0 = Date.now();
  while (!maxAPI.outlets.some((a) => a[0] === "ready") && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 20));
  const port = maxAPI.outlets.find((a) => a[0] === "replyport");
  assert.ok(port && port[1] > 0);
  await maxAPI.send("tempo", 133);
  await maxAPI.send("prompt", "text", "soft", "rain");
  await maxAPI.send("generate");
  assert.ok(maxAPI.outlets.some((a) => a[0] === "status" && /offline/.test(a[1])));
  entry.device.close(); // inside Max the socket and the ping timer stay open for the device's life
});
