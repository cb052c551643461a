// The device's logic under node (run by tests/test_device.py, or: node --test tests/node/).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const dgram = require("dgram");
const { EventEmitter } = require("events");
const core = require("../../max_patch/device/audioldm_core.js");
const { FakeEngine } = require("./fake_engine.js");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms = 3000, what = "condition") {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

function makeDevice(port, extra = {}) {
  const out = [];
  const posts = [];
  const spawned = [];
  const deps = {
    out: (...a) => out.push(a),
    post: (t) => posts.push(t),
    dgram,
    spawn: (cmd, args, opts) => {
      const child = new EventEmitter();
      child.stdout = new EventEmitter();
      child.stderr = new EventEmitter();
      child.kill = () => child.emit("exit", null);
      child.unref = () => {};
      spawned.push({ cmd, args, opts, child });
      return child;
    },
    fs: null,
    now: () => Date.now(),
    random: Math.random,
    setInterval,
    clearInterval,
    setTimeout,
    clearTimeout,
    platform: "darwin",
    ...extra,
  };
  const d = new core.Device(deps, { port });
  return { d, out, posts, spawned, last: (key) => [...out].reverse().find((a) => a[0] === key) };
}

test("OSC encoding round-trips strings, int32, int64 and float32", () => {
  const buf = core.encode("/audioldm/generate", ["job", "a warm pad", 20, 2.5, 2 ** 40, -3]);
  const [[address, args]] = core.decode(buf);
  assert.equal(address, "/audioldm/generate");
  assert.deepEqual(args, ["job", "a warm pad", 20, 2.5, 2 ** 40, -3]);
  assert.equal(buf.length % 4, 0);
  assert.ok(buf.includes(Buffer.from(",ssifhi\0")), "type tags: string, string, int32, float32, int64, int32");
});

test("names come from the prompt and seed; loops carry their tempo; folders are sanitised", () => {
  assert.equal(core.clipName({ prompt: "Warm Pad!", seed: 1234 }), "warm-pad_s1234");
  assert.equal(core.clipName({ prompt: "funk drum loop", seed: 7, loop: true, bpm: 96 }), "funk-drum-loop_s7_96bpm");
  assert.equal(core.clipName({ prompt: "x", seed: 7, loop: true, bpm: 93.5 }), "x_s7_93p5bpm");
  assert.equal(core.clipName({ prompt: "", seed: 3, mode: "variation", input: "/a/My Take.wav" }), "my-take-variation_s3");
  assert.equal(core.slug("Café ../../etc/passwd"), "cafe-etc-passwd");
  assert.equal(core.slug("a".repeat(80)).length, 40);
  assert.equal(core.folderName("My Set / 2"), "my-set-2");
  assert.match(core.defaultFolder(Date.UTC(2026, 10, 27, 12, 0)), /^live-20261127-\d{4}$/);
  assert.deepEqual(
    [44100, 48000, 88200, 96000, 176400, 192000, 22050, 32000, 24000, 384000].map(core.engineRate),
    [44100, 48000, 88200, 96000, 176400, 192000, 22050, 32000, 32000, 192000],
  );
});

test("online within 2 s, offline within 2 s of silence, online again when the engine returns", async () => {
  const engine = new FakeEngine();
  await engine.start();
  const { d, out } = makeDevice(engine.port);
  await d.open();
  try {
    const up = await until(() => d.online, 2000, "online");
    assert.ok(up < 2000);
    assert.deepEqual(out.find((a) => a[0] === "online"), ["online", 1]);
    assert.ok(engine.sent("/audioldm/notify").some((r) => r[1][0] === d.replyPort));
    engine.answering = false; // the engine goes away
    const down = await until(() => !d.online, 2500, "offline");
    assert.ok(down <= 2000 + 100, `offline after ${down} ms`);
    assert.match(out.filter((a) => a[0] === "status").pop()[1], /^offline/);
    const notifies = engine.sent("/audioldm/notify").length;
    engine.registered.clear(); // a restarted engine has forgotten the registration
    engine.answering = true;
    await until(() => d.online, 2000, "online again");
    assert.ok(engine.sent("/audioldm/notify").length > notifies, "the device registers again");
  } finally {
    d.close();
    await engine.stop();
  }
});

test("two devices: own reply ports, own jobs, own takes", async () => {
  const engine = new FakeEngine();
  await engine.start();
  const a = makeDevice(engine.port);
  const b = makeDevice(engine.port);
  await a.d.open();
  await b.d.open();
  try {
    assert.notEqual(a.d.replyPort, b.d.replyPort);
    assert.notEqual(a.d.instance, b.d.instance);
    await until(() => a.d.online && b.d.online, 2000, "both online");
    a.d.set("prompt", "text", "warm", "pad");
    b.d.set("prompt", "dark drone");
    a.d.generate();
    b.d.generate();
    await until(() => a.d.takes.length === 1 && b.d.takes.length === 1, 2000, "one take each");
    await sleep(100);
    assert.equal(a.d.takes.length, 1);
    assert.equal(b.d.takes.length, 1);
    assert.match(a.d.takes[0].path, /\/warm-pad_s\d+\.wav$/);
    assert.match(b.d.takes[0].path, /\/dark-drone_s\d+\.wav$/);
    assert.equal(a.last("load")[1], a.d.takes[0].path);
    assert.equal(b.last("load")[1], b.d.takes[0].path);
    const jobs = engine.sent("/audioldm/generate").map((r) => r[1][0]);
    assert.equal(new Set(jobs).size, 2);
  } finally {
    a.d.close();
    b.d.close();
    await engine.stop();
  }
});

test("requests: bars at Live's tempo, loop, sample rate from Live, options only where they apply", () => {
  const { d } = makeDevice(9);
  Object.assign(d.state, { prompt: "funk drum loop", tempo: 96, signature: 4, bars: 2, loop: 1, seed: 77 });
  Object.assign(d.state, { samplerate: 44100, folder: "my-set", steps: 20, guidance: 3 });
  let r = d.request();
  assert.equal(r.address, "/audioldm/generate");
  assert.deepEqual(r.args.slice(1), [
    "funk drum loop", "bpm", 96, "bars", 2, "beats", 4, "loop", 1, "fit", 1, "steps", 20, "guidance", 3,
    "seed", 77, "sr", 44100, "fullband", 1, "name", "funk-drum-loop_s77_96bpm", "folder", "my-set",
  ]);  // prettier-ignore
  d.state.lengthmode = 1;
  d.state.seconds = 6.5;
  d.state.loop = 0;
  r = d.request();
  assert.deepEqual(r.args.slice(2, 8), ["duration", 6.5, "loop", 0, "fit", 1]);
  assert.ok(!r.args.includes("bpm"));
  d.state.lengthmode = 0;
  d.state.input = "/clips/in.wav";
  const byMode = {};
  for (let m = 0; m < core.MODES.length; m++) {
    d.state.mode = m;
    const req = d.request();
    byMode[req.address] = req.args;
  }
  for (const addr of ["/audioldm/transfer", "/audioldm/inpaint", "/audioldm/continue", "/audioldm/upsample"]) {
    for (const key of ["duration", "bpm", "bars", "beats", "loop", "fit"]) assert.ok(!byMode[addr].includes(key), `${addr} ${key}`);
  }
  assert.ok(byMode["/audioldm/variation"].includes("bpm"));
  assert.deepEqual(byMode["/audioldm/transfer"].slice(1, 3), ["/clips/in.wav", "funk drum loop"]);
  assert.ok(byMode["/audioldm/transfer"].includes("strength"));
  assert.deepEqual(byMode["/audioldm/inpaint"].slice(1, 5), ["/clips/in.wav", 1, 2, "funk drum loop"]);
  assert.deepEqual(byMode["/audioldm/continue"].slice(1, 4), ["/clips/in.wav", 5, "funk drum loop"]); // 2 bars at 96
  for (const addr of ["/audioldm/generate", "/audioldm/variation", "/audioldm/transfer"]) {
    assert.ok(byMode[addr].includes("sr"), `${addr}: new audio comes at Live's rate`);
  }
  for (const addr of ["/audioldm/inpaint", "/audioldm/continue", "/audioldm/upsample"]) {
    assert.ok(!byMode[addr].includes("sr"), `${addr}: an edit keeps its take's rate, sample for sample`);
  }
  d.state.mode = 0;
  d.state.samplerate = 96000;
  assert.ok(d.request().args.join(" ").includes("sr 96000"));
});

// A WAV header (44 bytes, PCM_16) with `channels` channels and no samples.
function wavHeader(channels, rate = 48000) {
  const b = Buffer.alloc(44);
  b.write("RIFF", 0, "ascii");
  b.writeUInt32LE(36, 4);
  b.write("WAVEfmt ", 8, "ascii");
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(channels, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * channels * 2, 28);
  b.writeUInt16LE(channels * 2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36, "ascii");
  return b;
}

test("multichannel takes: accepted as input, kept by the engine, sent to the folder since Live plays two", () => {
  const fs = require("fs");
  const os = require("os");
  const path = require("path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "audioldm-device-"));
  const quad = path.join(dir, "take-inpaint_s3.wav");
  const stereo = path.join(dir, "take-inpaint_s4.wav");
  fs.writeFileSync(quad, wavHeader(4));
  fs.writeFileSync(stereo, wavHeader(2));
  assert.equal(core.wavChannels(fs, quad), 4);
  assert.equal(core.wavChannels(fs, path.join(dir, "missing.wav")), 0);
  assert.equal(core.wavChannels(null, quad), 0);
  const { d, out, last, spawned } = makeDevice(9, { fs: { ...fs, writeFileSync: () => {}, readFileSync: fs.readFileSync } });
  d.online = true;
  d.send = (address, ...args) => out.push(["sent", address, ...args]);
  Object.assign(d.state, { mode: 3, input: "/takes/quad take.wav", start: 1, end: 2, newseed: 0, seed: 3 });
  d.generate();
  const sent = last("sent");
  assert.equal(sent[1], "/audioldm/inpaint");
  assert.deepEqual(sent.slice(3, 6), ["/takes/quad take.wav", 1, 2]); // any channel count goes to the engine
  d.reply("/audioldm/done", [sent[2], quad, 3, 48000, 3, ""]);
  assert.equal(d.takes[0].channels, 4);
  assert.ok(out.some((a) => a[0] === "takes" && a[1] === "append" && /\(inpaint, .*4 channels\)/.test(a[2])));
  const inserts = out.filter((a) => a[0] === "insert").length;
  d.insert();
  assert.equal(out.filter((a) => a[0] === "insert").length, inserts, "Live is not asked for a clip it cannot load");
  assert.deepEqual(spawned.pop().args, ["-R", quad]);
  assert.match(last("status")[1], /has 4 channels, like its take; Live plays mono and stereo clips only/);
  d.generate();
  d.reply("/audioldm/done", [last("sent")[2], stereo, 3, 48000, 3, ""]);
  d.insert();
  assert.deepEqual(last("insert").slice(0, 3), ["insert", "session", stereo]);
  fs.rmSync(dir, { recursive: true });
});

test("an engine without the folder option: the job is sent again without it, once", async () => {
  const engine = new FakeEngine();
  engine.refuse = (address, args) => (args.includes("folder") ? "argument 22: unknown option 'folder'" : "");
  await engine.start();
  const { d, posts } = makeDevice(engine.port);
  await d.open();
  try {
    await until(() => d.online, 2000);
    d.set("prompt", "rain");
    d.generate();
    await until(() => d.takes.length === 1, 2000, "the take");
    const sent = engine.sent("/audioldm/generate");
    assert.equal(sent.length, 2);
    assert.ok(sent[0][1].includes("folder") && !sent[1][1].includes("folder"));
    assert.ok(posts.some((p) => /no `folder` option/.test(p)));
    assert.equal(d.folderSupported, false);
  } finally {
    d.close();
    await engine.stop();
  }
});

test("refusals and problems are shown, not swallowed", async () => {
  const { d, last } = makeDevice(9);
  d.generate();
  assert.match(last("status")[1], /prompt/);
  d.set("prompt", "a pad");
  d.generate();
  assert.match(last("status")[1], /^offline/);
  d.online = true;
  d.set("mode", 1);
  d.generate();
  assert.match(last("status")[1], /variation needs an input/);
  d.jobs.set("j1", { take: { name: "a-pad_s1" }, args: [] });
  d.reply("/audioldm/fail", ["j1", "steps: expected an integer in 1..1000", "/audioldm/generate"]);
  assert.match(last("status")[1], /failed: steps/);
  d.reply("/audioldm/done", ["someone-elses-job", "/x.wav", 1, 48000, 1, ""]);
  assert.equal(d.takes.length, 0);
});

test("launching the engine: spawn with the model, status while it loads, timeout, spawn errors", async () => {
  let clock = 1000;
  const { d, spawned, last } = makeDevice(9321, { now: () => clock, setInterval: () => 1, clearInterval: () => {} });
  await d.open();
  try {
    d.set("engine", "/opt/venv/bin/audioldm-daw");
    d.set("model", "/models/My Model");
    d.startEngine();
    assert.equal(spawned.length, 1);
    assert.equal(spawned[0].cmd, "/opt/venv/bin/audioldm-daw");
    assert.deepEqual(spawned[0].args, ["serve", "--port", "9321", "--model", "/models/My Model"]);
    d.startEngine();
    assert.equal(spawned.length, 1, "a second click does not start a second engine");
    clock += 5000;
    d.tick();
    assert.match(last("status")[1], /starting the engine \.\.\. 5 s/);
    const pings = () => d.sock && 1;
    assert.ok(pings());
    spawned[0].child.stderr.emit("data", "loading model\n");
    clock += 200000;
    d.tick();
    assert.match(last("status")[1], /did not answer within 3 minutes/);
    spawned[0].child.emit("exit", 1);
    assert.match(last("status")[1], /engine stopped \(exit 1\)/);
    d.startEngine();
    spawned[1].child.emit("error", new Error("spawn audioldm-daw ENOENT"));
    assert.match(last("status")[1], /could not start .*ENOENT/);
    // once the engine answers, the device is online and says so
    d.startEngine();
    d.reply("/audioldm/pong", ["0.3.0", "my-model"]);
    assert.equal(d.online, true);
    assert.match(last("status")[1], /online: my-model/);
  } finally {
    d.close();
  }
});

test("takes: audition, recall, re-roll, use as input, insert into Live, fall back to the folder", async () => {
  const { d, out, last, spawned } = makeDevice(9);
  d.online = true;
  d.send = (address, ...args) => out.push(["sent", address, ...args]);
  Object.assign(d.state, { prompt: "warm pad", tempo: 120, bars: 4, seed: 5, newseed: 0, steps: 30 });
  d.generate();
  const job = last("sent")[2];
  d.reply("/audioldm/done", [job, "/clips/set/warm-pad_s5.wav", 8, 48000, 5, ""]);
  assert.equal(d.takes.length, 1);
  assert.deepEqual(last("takes"), ["takes", "set", 0]);
  assert.ok(out.some((a) => a[0] === "takes" && a[1] === "append" && /warm-pad_s5 \(generate, 4 bars\)/.test(a[2])));
  d.state.prompt = "something else";
  d.state.steps = 10;
  d.recall();
  assert.deepEqual(last("seed"), ["seed", 5]);
  assert.deepEqual(last("newseed"), ["newseed", 0]);
  assert.deepEqual(last("prompt"), ["prompt", "warm pad"]);
  assert.equal(d.state.steps, 30);
  d.reroll();
  const rerolled = last("sent");
  assert.equal(rerolled[1], "/audioldm/generate");
  assert.equal(rerolled[3], "warm pad");
  assert.notEqual(rerolled[rerolled.indexOf("seed") + 1], 5);
  d.useAsInput();
  assert.deepEqual(last("input"), ["input", "/clips/set/warm-pad_s5.wav"]);
  d.take(0);
  assert.deepEqual(last("load"), ["load", "/clips/set/warm-pad_s5.wav"]);
  d.insert();
  assert.deepEqual(last("insert"), ["insert", "session", "/clips/set/warm-pad_s5.wav", "warm-pad_s5", 16, 0]);
  d.state.target = 1;
  d.insert();
  assert.equal(last("insert")[1], "arrangement");
  d.inserted(1, "track", "2,", "scene", "3");
  assert.match(last("status")[1], /placed warm-pad_s5/);
  d.inserted(0, "Live did not create the clip (Live 12.0.5 or newer needed)");
  assert.deepEqual(spawned.pop().args, ["-R", "/clips/set/warm-pad_s5.wav"]);
  assert.match(last("status")[1], /Live 12.0.5 or newer needed\): opened the folder of warm-pad_s5.wav/);
});

test("fit to tempo and full band: 1 or 0 in the request, recalled with the take; older takes had both on", () => {
  const { d, out, last } = makeDevice(9);
  d.online = true;
  d.send = (address, ...args) => out.push(["sent", address, ...args]);
  Object.assign(d.state, { prompt: "warm pad", tempo: 120, bars: 4, seed: 5, newseed: 0 });
  d.set("fit", 0);
  d.set("fullband", 0);
  d.generate();
  const sent = last("sent");
  assert.equal(sent[sent.indexOf("fit") + 1], 0);
  assert.equal(sent[sent.indexOf("fullband") + 1], 0);
  d.reply("/audioldm/done", [sent[2], "/clips/set/warm-pad_s5.wav", 8, 48000, 5, ""]);
  d.set("fit", 1);
  d.set("fullband", 1);
  d.recall();
  assert.deepEqual([d.state.fit, d.state.fullband], [0, 0]);
  assert.deepEqual([last("fit"), last("fullband")], [["fit", 0], ["fullband", 0]]); // the toggles follow
  d.reroll();
  const again = last("sent");
  assert.equal(again[again.indexOf("fit") + 1], 0, "a re-roll keeps its take's settings");
  // a take from the list saved before these controls existed
  d.takes[0].settings = { ...d.takes[0].settings };
  delete d.takes[0].settings.fit;
  delete d.takes[0].settings.fullband;
  d.recall();
  assert.deepEqual([d.state.fit, d.state.fullband], [1, 1]);
  d.state.mode = 2; // transfer: the engine takes no `fit` there
  d.state.input = "/clips/in.wav";
  const transfer = d.request().args;
  assert.ok(!transfer.includes("fit"));
  assert.equal(transfer[transfer.indexOf("fullband") + 1], 1);
});

test("the take list is kept beside the clips and read back", () => {
  const files = {};
  const fs = {
    writeFileSync: (f, t) => (files[f] = t),
    readFileSync: (f) => {
      if (!(f in files)) throw Object.assign(new Error("no"), { code: "ENOENT" });
      return files[f];
    },
    existsSync: () => true,
  };
  const first = makeDevice(9, { fs });
  first.d.online = true;
  first.d.send = () => {};
  Object.assign(first.d.state, { prompt: "bell", folder: "my-set", newseed: 0, seed: 9 });
  first.d.generate();
  first.d.reply("/audioldm/done", [first.d.latest, "/clips/my-set/bell_s9.wav", 8, 48000, 9, ""]);
  assert.ok(files["/clips/my-set/audioldm-takes.json"]);
  const again = makeDevice(9, { fs });
  again.d.state.folder = "my-set";
  again.d.reply("/audioldm/status", ["tiny", "cpu", 0, "", "/clips"]);
  assert.equal(again.d.takes.length, 1);
  assert.equal(again.d.takes[0].seed, 9);
});
