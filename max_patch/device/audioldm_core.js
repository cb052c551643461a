// The AudioLDM device's logic, without Max: OSC over UDP, engine presence (ping / online / offline / retry),
// launching `audioldm-daw serve` (here, or relaying to a remote engine: `serve --engine URL`), the engines
// announced on the network (/audioldm/engines), requests built from the device's controls, replies routed by
// job id, clip names from prompt and seed, and the take history.
//
// Everything that touches the outside world is passed in (`deps`), so tests drive it with node and fakes:
//   deps.out(...atoms)         a message to the patch (Node for Max: maxAPI.outlet)
//   deps.post(text)            a line for the Max console
//   deps.dgram, deps.spawn     node's dgram module and child_process.spawn
//   deps.now(), deps.setInterval/clearInterval, deps.setTimeout/clearTimeout
//   deps.random()              Math.random
//   deps.fs                    node's fs (take history file)
"use strict";

const path = require("path");

// The OSC server this device talks to: the Engine Host setting ("host" or "host:port"), saved with the set.
// "localhost" resolves to the IPv4 loopback on the device's udp4 socket.
const ENGINE_HOST = "localhost";
const ENGINE_PORT = 9000;
const PING_MS = 500; // while online: one ping each 500 ms, so silence is noticed well within 2 s
const OFFLINE_MS = 1600; // no answer for this long: offline
const START_TIMEOUT_MS = 180000; // a launched engine that has not answered by then has failed
const MODES = ["generate", "variation", "transfer", "inpaint", "continue", "upsample"];
// The modes that return the input take with a part of it changed: sent without `sr`, so the engine keeps the
// take's own rate and the result lines up with the take sample for sample (Live plays any rate).
const EDIT_MODES = ["inpaint", "continue", "upsample"];
const LIVE_CHANNELS = 2; // Live plays mono and stereo files only
const SAMPLE_RATES = [16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000];
const MAX_SEED = 9999999; // Live stores parameter values as floats: seeds up to 2^24 survive exactly
const TAKES_FILE = "audioldm-takes.json";

// -- OSC 1.0 encoding (strings, int32, int64, float32) -------------------------------------------------
function pad4(buf) {
  const n = 4 - (buf.length % 4);
  return Buffer.concat([buf, Buffer.alloc(n === 4 ? 0 : n)]);
}
function oscString(s) {
  return pad4(Buffer.concat([Buffer.from(String(s), "utf8"), Buffer.alloc(1)]));
}
function encode(address, args) {
  let tags = ",";
  const parts = [];
  for (const a of args) {
    if (typeof a === "bigint") {
      tags += "h";
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(a);
      parts.push(b);
    } else if (typeof a === "number" && Number.isInteger(a) && a >= -2147483648 && a <= 2147483647) {
      tags += "i";
      const b = Buffer.alloc(4);
      b.writeInt32BE(a);
      parts.push(b);
    } else if (typeof a === "number" && Number.isInteger(a)) {
      tags += "h";
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(a));
      parts.push(b);
    } else if (typeof a === "number") {
      tags += "f";
      const b = Buffer.alloc(4);
      b.writeFloatBE(a);
      parts.push(b);
    } else {
      tags += "s";
      parts.push(oscString(a));
    }
  }
  return Buffer.concat([oscString(address), oscString(tags), ...parts]);
}
function readString(buf, at) {
  const end = buf.indexOf(0, at);
  if (end < 0) throw new Error("unterminated OSC string");
  return [buf.toString("utf8", at, end), at + Math.ceil((end - at + 1) / 4) * 4];
}
function decode(buf) {
  let [address, at] = readString(buf, 0);
  if (address === "#bundle") {
    const out = [];
    at = 16;
    while (at + 4 <= buf.length) {
      const size = buf.readInt32BE(at);
      out.push(...decode(buf.subarray(at + 4, at + 4 + size)));
      at += 4 + size;
    }
    return out;
  }
  let tags = ",";
  if (at < buf.length) [tags, at] = readString(buf, at);
  const args = [];
  for (const t of tags.slice(1)) {
    if (t === "i") (args.push(buf.readInt32BE(at)), (at += 4));
    else if (t === "f") (args.push(buf.readFloatBE(at)), (at += 4));
    else if (t === "d") (args.push(buf.readDoubleBE(at)), (at += 8));
    else if (t === "h") {
      const v = buf.readBigInt64BE(at);
      args.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
      at += 8;
    } else if (t === "s" || t === "S") {
      let s;
      [s, at] = readString(buf, at);
      args.push(s);
    } else if (t === "T") args.push(1);
    else if (t === "F") args.push(0);
    else if (t === "N") args.push(null);
    else throw new Error(`unsupported OSC type tag ${t}`);
  }
  return [[address, args]];
}

// -- names ---------------------------------------------------------------------------------------------
// A file-name stem: lower case, words joined by "-", nothing but [a-z0-9-], at most 40 characters.
function slug(text, fallback = "clip") {
  const s = String(text || "")
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/g, "");
  return s || fallback;
}
function fmtNumber(x) {
  return Number.isInteger(x) ? String(x) : String(Math.round(x * 100) / 100).replace(".", "p");
}
// "warm-pad_s1234"; a loop carries its tempo: "funk-drum-loop_s77_96bpm".
function clipName({ prompt, seed, loop, bpm, mode, input }) {
  const base = prompt ? slug(prompt) : `${slug(path.parse(input || "").name, "take")}-${mode === "generate" ? "" : mode}`;
  let name = `${base.replace(/-+$/, "")}_s${seed}`;
  if (loop && bpm) name += `_${fmtNumber(bpm)}bpm`;
  return name;
}
// The per-set subfolder: a name the engine's `folder` option accepts as it is.
function folderName(text) {
  return slug(text, "");
}
function defaultFolder(now) {
  const d = new Date(now);
  const p = (n) => String(n).padStart(2, "0");
  return `live-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}
// The channel count in a WAV file's header (its 'fmt ' chunk), or 0 where the file cannot be read here (an
// engine on another machine, no file system).
function wavChannels(fs, file) {
  if (!fs || !fs.openSync) return 0;
  let fd = null;
  try {
    fd = fs.openSync(file, "r");
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    if (n < 12 || !["RIFF", "RF64"].includes(head.toString("ascii", 0, 4))) return 0;
    for (let at = 12; at + 12 <= n; ) {
      const size = head.readUInt32LE(at + 4);
      if (head.toString("ascii", at, at + 4) === "fmt ") return head.readUInt16LE(at + 10);
      at += 8 + size + (size % 2);
    }
    return 0;
  } catch (e) {
    return 0;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
function engineRate(liveRate) {
  // the clip's sample rate follows Live's: the same where the engine offers it, else the nearest above
  // (192000 for a rate above that, which Live would resample)
  const r = Math.round(Number(liveRate) || 0);
  return SAMPLE_RATES.find((x) => x >= r) || 192000;
}

// An on/off control as the engine reads it: 1 or 0. A take saved before the control existed has none, and was
// made with the engine's default, which is on.
function flag(value) {
  return value === undefined || value === null || Number(value) ? 1 : 0;
}

// -- the device ----------------------------------------------------------------------------------------
class Device {
  constructor(deps, options = {}) {
    this.deps = deps;
    this.host = options.host || ENGINE_HOST;
    this.port = options.port || ENGINE_PORT;
    this.defaultPort = this.port;
    this.instance = options.instance || Math.floor(deps.random() * 36 ** 6).toString(36);
    this.state = {
      prompt: "",
      mode: 0,
      bars: 4,
      seconds: 8,
      lengthmode: 0, // 0 bars at Live's tempo, 1 seconds
      loop: 0,
      fit: 1, // a rhythmic clip stretched onto Live's grid (engine option `fit`, on by default)
      fullband: 1, // the band above the model's own added at the higher rates (`fullband`, on by default)
      steps: 50,
      guidance: 2.5,
      seed: 1234,
      newseed: 1,
      strength: 0.5,
      start: 1,
      end: 2,
      extend: 2, // bars added by continue
      tempo: 120,
      signature: 4,
      samplerate: 48000,
      folder: "",
      input: "",
      target: 0, // 0 session slot, 1 arrangement, 2 file only
      autoinsert: 0,
      engine: "audioldm-daw",
      model: "",
      host: "", // the OSC server: "host" or "host:port" (empty: localhost and the default port)
      remote: "", // Start Engine renders on this remote engine (serve --engine URL); empty: on this computer
      keyfile: "", // the remote engine's key file (serve --token-file)
    };
    this.online = false;
    this.lastPong = -Infinity;
    this.pingedAt = null;
    this.version = "";
    this.model = "";
    this.clipsDir = "";
    this.folderSupported = true;
    this.jobs = new Map(); // job id -> the request's settings
    this.counter = 0;
    this.latest = "";
    this.takes = [];
    this.selected = -1;
    this.child = null;
    this.startedAt = null;
    this.sock = null;
    this.replyPort = 0;
    this.models = []; // the engine's /audioldm/model replies: {name, licence, knows, isDefault, loaded, model}
    this.incomingModels = null; // filled between /audioldm/models and /audioldm/models_end
    this.engines = []; // the /audioldm/engine replies: {name, url, model, gpu}
    this.incomingEngines = null; // filled between /audioldm/engines and /audioldm/engines_end
  }

  // whether replies can only come from this computer (then the socket listens on loopback alone)
  local() {
    return /^(localhost|127\.|::1$|\[::1\])/i.test(this.host);
  }
  // an engine on another computer answers only a socket that registered with its key (Engine Key File)
  notifyArgs() {
    if (this.local() || !this.state.keyfile || !this.deps.fs) return [this.replyPort];
    try {
      return [this.replyPort, String(this.deps.fs.readFileSync(this.state.keyfile, "utf8")).trim()];
    } catch (err) {
      this.status(`could not read the key file ${this.state.keyfile}: ${err.message}`);
      return [this.replyPort];
    }
  }
  // "host" or "host:port" -> this.host, this.port (a port alone keeps the host)
  setHost(text) {
    const t = String(text || "").trim();
    const m = /^(.*?)(?::(\d{1,5}))?$/.exec(t);
    const host = (m && m[1]) || ENGINE_HOST;
    const port = m && m[2] ? Number(m[2]) : this.defaultPort;
    if (!(port >= 1 && port <= 65535)) return this.status(`engine host: expected host or host:port, got ${t}`);
    if (host === this.host && port === this.port) return;
    const wasLocal = this.local();
    this.host = host;
    this.port = port;
    this.setOnline(false);
    if (this.sock && wasLocal !== this.local()) this.reopen(); // replies from another computer: listen wider
  }

  // -- transport ---------------------------------------------------------------------------------------
  open() {
    return new Promise((resolve, reject) => {
      const sock = this.deps.dgram.createSocket("udp4");
      sock.on("message", (msg) => {
        let messages;
        try {
          messages = decode(msg);
        } catch (err) {
          this.deps.post(`audioldm: unreadable packet: ${err.message}`);
          return;
        }
        for (const [address, args] of messages) this.reply(address, args);
      });
      sock.once("error", reject);
      // one socket per device, on a port the system picks: the engine sends this device's replies here
      // (on loopback for an engine on this computer, on every interface for one elsewhere)
      sock.bind(0, this.local() ? "localhost" : "0.0.0.0", () => {
        this.sock = sock;
        this.replyPort = sock.address().port;
        this.deps.out("replyport", this.replyPort);
        this.tick();
        this.timer = this.deps.setInterval(() => this.tick(), PING_MS);
        resolve(this.replyPort);
      });
    });
  }
  close() {
    if (this.timer) this.deps.clearInterval(this.timer);
    if (this.sock) this.sock.close();
    this.sock = null;
    this.stopEngine(true);
  }
  reopen() {
    if (this.timer) this.deps.clearInterval(this.timer);
    if (this.sock) this.sock.close();
    this.sock = null;
    this.open().catch((err) => this.deps.post(`audioldm: could not open a UDP socket: ${err.message}`));
  }
  send(address, ...args) {
    if (!this.sock) return;
    this.sock.send(encode(address, args), this.port, this.host);
  }

  // -- presence ----------------------------------------------------------------------------------------
  tick() {
    const now = this.deps.now();
    if (this.online && now - this.lastPong > OFFLINE_MS) this.setOnline(false);
    if (!this.online) this.send("/audioldm/notify", ...this.notifyArgs()); // (again) after an engine restart
    this.send("/audioldm/ping");
    if (this.startedAt !== null && !this.online && now - this.startedAt > START_TIMEOUT_MS) {
      this.startedAt = null;
      this.status("the engine did not answer within 3 minutes: see the Max console");
    } else if (this.startedAt !== null && !this.online) {
      this.status(`starting the engine ... ${Math.round((now - this.startedAt) / 1000)} s`);
    }
  }
  setOnline(on) {
    if (on === this.online) return;
    this.online = on;
    this.deps.out("online", on ? 1 : 0);
    if (on) {
      this.startedAt = null;
      this.send("/audioldm/status");
      this.listModels();
      this.listEngines();
      this.status(`online: ${this.model} (engine ${this.version})`);
      for (const id of this.jobs.keys()) this.send("/audioldm/job", id); // replies lost while away
    } else {
      this.status(`offline: no engine at ${this.host}:${this.port} (click Start Engine, or run audioldm-daw serve)`);
    }
  }
  status(text) {
    this.deps.out("status", text);
  }

  // -- launching the engine ----------------------------------------------------------------------------
  startEngine() {
    if (this.online) return this.status("the engine is already running");
    if (this.child) return this.status("the engine is starting ...");
    if (!this.local()) return this.status(`the engine host is ${this.host}: start audioldm-daw serve there`);
    const args = ["serve", "--port", String(this.port)];
    if (this.state.remote) {
      args.push("--engine", this.state.remote); // renders there: no model is loaded on this computer
      if (this.state.keyfile) args.push("--token-file", this.state.keyfile);
    } else if (this.state.model) args.push("--model", this.state.model);
    let child;
    try {
      child = this.deps.spawn(this.state.engine, args, { stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      return this.status(`could not start ${this.state.engine}: ${err.message}`);
    }
    this.child = child;
    this.startedAt = this.deps.now();
    this.deps.post(`audioldm: ${this.state.engine} ${args.join(" ")}`);
    const log = (data) =>
      String(data)
        .split(/\r?\n/)
        .filter(Boolean)
        .forEach((line) => this.deps.post(`audioldm-daw: ${line}`));
    if (child.stdout) child.stdout.on("data", log);
    if (child.stderr) child.stderr.on("data", log);
    child.on("error", (err) => {
      this.child = null;
      this.startedAt = null;
      this.status(`could not start ${this.state.engine}: ${err.message} (set the engine path)`);
    });
    child.on("exit", (code) => {
      this.child = null;
      if (!this.online) {
        this.startedAt = null;
        this.status(`the engine stopped (exit ${code}): see the Max console`);
      }
    });
    this.status("starting the engine ...");
  }
  stopEngine(quiet) {
    if (!this.child) return quiet ? undefined : this.status("this device did not start the engine");
    this.child.kill();
    this.child = null;
  }

  // -- controls ----------------------------------------------------------------------------------------
  set(key, ...value) {
    if (!(key in this.state)) return this.deps.post(`audioldm: unknown setting ${key}`);
    const text = ["prompt", "folder", "input", "engine", "model", "host", "remote", "keyfile"].includes(key);
    let v = text ? value.join(" ") : Number(value[0]);
    if (text && /^text$/.test(value[0]) && value.length >= 1) v = value.slice(1).join(" "); // textedit's "text ..."
    if (key === "input") v = String(v).replace(/^"|"$/g, "");
    if (key === "folder") {
      v = folderName(v);
      if (v !== value.join(" ")) this.deps.out("folder", v);
    }
    if (!text && !Number.isFinite(v)) return;
    this.state[key] = v;
    if (key === "host") this.setHost(v);
  }

  lengthBars() {
    return this.state.lengthmode === 0;
  }
  // the request for the current controls (or for a take's settings)
  request(s = this.state) {
    const mode = MODES[s.mode] || "generate";
    const seed = s.seed;
    const folder = s.folder;
    const jobId = `m4l-${this.instance}-${++this.counter}`;
    const opts = ["steps", Math.round(s.steps), "guidance", s.guidance, "seed", seed];
    if (!EDIT_MODES.includes(mode)) opts.push("sr", engineRate(s.samplerate)); // an edit keeps its take's rate
    opts.push("fullband", flag(s.fullband)); // every mode: an edit adds it up to the band its take has
    const length = [];
    const bars = s.lengthmode === 0;
    if (mode === "generate" || mode === "variation") {
      if (bars) length.push("bpm", s.tempo, "bars", s.bars, "beats", s.signature);
      else length.push("duration", s.seconds);
      length.push("loop", s.loop ? 1 : 0, "fit", flag(s.fit)); // the engine takes `fit` for these two only
    }
    const loop = (mode === "generate" || mode === "variation") && !!s.loop;
    const name = clipName({ prompt: mode === "variation" ? "" : s.prompt, seed, loop, bpm: bars ? s.tempo : 0, mode, input: s.input });
    const tail = [...length, ...opts, "name", name];
    if (folder && this.folderSupported) tail.push("folder", folder);
    let fixed;
    const barSeconds = (n) => (n * s.signature * 60) / s.tempo;
    if (mode === "generate") fixed = [s.prompt];
    else if (mode === "variation") fixed = [s.input];
    else if (mode === "transfer") fixed = [s.input, s.prompt];
    else if (mode === "inpaint") fixed = [s.input, s.start, s.end, ...(s.prompt ? [s.prompt] : [])];
    else if (mode === "continue") fixed = [s.input, bars ? barSeconds(s.extend) : s.extend, ...(s.prompt ? [s.prompt] : [])];
    else fixed = [s.input, ...(s.prompt ? [s.prompt] : [])];
    if (mode === "transfer") tail.push("strength", s.strength);
    const take = {
      job: jobId, mode, prompt: s.prompt, seed, name, loop, folder,
      bars: bars ? s.bars : null, bpm: bars ? s.tempo : null, seconds: bars ? barSeconds(s.bars) : s.seconds,
      settings: { ...s },
    };  // prettier-ignore
    return { address: `/audioldm/${mode}`, args: [jobId, ...fixed, ...tail], take };
  }

  check(s) {
    const mode = MODES[s.mode] || "generate";
    if ((mode === "generate" || mode === "transfer") && !s.prompt.trim()) return "type a prompt first";
    if (mode !== "generate" && !s.input) return `${mode} needs an input: drop a file or use a take as input`;
    if (s.lengthmode === 0 && !(s.tempo > 0)) return "Live's tempo is not known yet";
    return "";
  }

  generate(settings) {
    const s = settings || this.state;
    const problem = this.check(s);
    if (problem) return this.status(problem);
    if (!this.online) return this.status("offline: start the engine first (Start Engine)");
    if (!settings && s.newseed) {
      s.seed = Math.floor(this.deps.random() * (MAX_SEED + 1));
      this.deps.out("seed", s.seed);
    }
    if (!s.folder) {
      this.state.folder = s.folder = defaultFolder(this.deps.now());
      this.deps.out("folder", s.folder); // stored in the device's Folder field, so it is saved with the set
    }
    const { address, args, take } = this.request(s);
    this.jobs.set(take.job, { address, args, take });
    this.latest = take.job;
    this.send(address, ...args);
    this.status(`sent ${take.name}`);
    this.deps.post(`audioldm-send: ${address} ${args.join(" ")}`);
  }
  cancel() {
    if (this.latest) this.send("/audioldm/cancel", this.latest);
  }
  reroll() {
    const t = this.takes[this.selected];
    const base = t ? { ...t.settings } : { ...this.state };
    base.seed = Math.floor(this.deps.random() * (MAX_SEED + 1));
    this.generate(base);
  }

  // -- replies -----------------------------------------------------------------------------------------
  reply(address, args) {
    if (address === "/audioldm/pong") {
      this.version = String(args[0]);
      this.model = String(args[1]);
      this.lastPong = this.deps.now();
      this.setOnline(true);
      return;
    }
    if (address === "/audioldm/notified") return;
    if (address === "/audioldm/model" || address === "/audioldm/models_end") return this.modelReply(address, args);
    if (address === "/audioldm/engine" || address === "/audioldm/engines_end") return this.engineReply(address, args);
    if (address === "/audioldm/status") {
      this.clipsDir = String(args[4] || "");
      if (this.takes.length === 0) this.loadTakes();
      return;
    }
    const id = String(args[0]);
    const job = this.jobs.get(id);
    if (!job && address !== "/audioldm/fail") return; // another device's job (or an old one)
    if (address === "/audioldm/queued") this.status(`queued ${job.take.name} (${args[1]} ahead)`);
    else if (address === "/audioldm/progress") {
      this.deps.out("progress", Number(args[1]) / Math.max(1, Number(args[2])));
      this.status(`${job.take.name}: step ${args[1]} of ${args[2]}`);
    } else if (address === "/audioldm/done") this.done(job, args);
    else if (address === "/audioldm/cancelled") {
      this.jobs.delete(id);
      this.deps.out("progress", 0);
      this.status(`cancelled ${job.take.name}`);
    } else if (address === "/audioldm/fail") this.failed(job, id, args);
  }
  failed(job, id, args) {
    const message = String(args[1] || "");
    if (!job) {
      if (id === "") this.deps.post(`audioldm: the engine could not read a request: ${message}`);
      return;
    }
    this.jobs.delete(id);
    if (/folder/.test(message) && job.args.includes("folder") && this.folderSupported) {
      // an engine without the `folder` option: say so once, and send the job again without it
      this.folderSupported = false;
      this.deps.post("audioldm: this engine has no `folder` option; clips go to its clips folder");
      return this.generate(job.take.settings);
    }
    this.deps.out("progress", 0);
    this.status(`failed: ${message}`);
  }
  done(job, args) {
    const [, file, seconds, rate, seed, warning] = args;
    this.jobs.delete(job.take.job);
    const take = { ...job.take, path: String(file), seconds: Number(seconds), sr: Number(rate), seed: Number(seed) };
    if (this.oneShot(take.path)) take.oneShot = true;
    take.channels = wavChannels(this.deps.fs, take.path); // an edit of a multichannel take keeps its channels
    this.takes.push(take);
    this.selected = this.takes.length - 1;
    this.saveTakes();
    this.showTakes();
    this.deps.out("progress", 1);
    this.deps.out("load", take.path);
    this.status(`done: ${path.basename(take.path)}${warning ? " (" + warning + ")" : ""}`);
    if (this.state.autoinsert) this.insert();
  }

  // -- the model menu ----------------------------------------------------------------------------------
  // The menu lists the engine machine's models (/audioldm/models). The engine serves the one it was started
  // with, so a pick sets the model Start Engine starts (the Model field, saved with the set); for a running
  // engine serving another model the status line says that a restart is needed, and how.
  listModels() {
    this.incomingModels = [];
    this.send("/audioldm/models");
  }
  modelReply(address, args) {
    if (address === "/audioldm/model") {
      const [name, licence, knows, isDefault, loaded, model] = args;
      if (this.incomingModels) {
        this.incomingModels.push({
          name: String(name), licence: String(licence || ""), knows: String(knows || ""),
          isDefault: Number(isDefault) === 1, loaded: Number(loaded) === 1, model: String(model || name),
        });  // prettier-ignore
      }
      return;
    }
    if (!this.incomingModels) return;
    this.models = this.incomingModels;
    this.incomingModels = null;
    this.showModels();
  }
  modelLabel(m) {
    const marks = [m.loaded ? "serving" : "", m.isDefault ? "default" : ""].filter(Boolean).join(", ");
    return `${m.name}${marks ? " (" + marks + ")" : ""}`;
  }
  showModels() {
    this.deps.out("models", "clear");
    this.models.forEach((m) => this.deps.out("models", "append", this.modelLabel(m)));
    const chosen = this.state.model
      ? this.models.findIndex((m) => m.model === this.state.model || m.name === this.state.model)
      : this.models.findIndex((m) => m.loaded);
    if (chosen >= 0) this.deps.out("models", "set", chosen);
  }
  pickModel(i) {
    const m = this.models[i];
    if (!m) return;
    this.state.model = m.model;
    this.deps.out("model", m.model); // the Model field: saved with the set, used by Start Engine
    const about = `${m.name}, licence ${m.licence || "not stated"}${m.knows ? ", knows " + m.knows : ""}`;
    if (!this.online) return this.status(`Start Engine will serve ${about}`);
    if (m.loaded) return this.status(`the engine serves ${about}`);
    const how = this.child ? "click Stop Engine, then Start Engine" : `restart audioldm-daw serve with --model ${m.model}`;
    this.status(`the engine serves ${this.model}: ${how} to use ${about}`);
  }

  // -- the engine menu ---------------------------------------------------------------------------------
  // The engines announced on the local network (/audioldm/engines: the OSC server listens a few seconds), listed
  // after "this computer"; a pick fills Engine URL, which Start Engine passes as `serve --engine URL`. The last
  // item asks again.
  listEngines() {
    this.incomingEngines = [];
    this.send("/audioldm/engines");
  }
  engineReply(address, args) {
    if (address === "/audioldm/engine") {
      const [name, url, model, gpu] = args.map((a) => String(a == null ? "" : a));
      if (this.incomingEngines) this.incomingEngines.push({ name, url, model, gpu });
      return;
    }
    if (!this.incomingEngines) return;
    this.engines = this.incomingEngines;
    this.incomingEngines = null;
    this.showEngines();
  }
  showEngines() {
    this.deps.out("engines", "clear");
    this.deps.out("engines", "append", "this computer");
    this.engines.forEach((e) => this.deps.out("engines", "append", `${e.name} (${e.model || "?"}, ${e.gpu || "cpu"})`));
    this.deps.out("engines", "append", "find engines on the network");
    const chosen = this.engines.findIndex((e) => e.url === this.state.remote);
    this.deps.out("engines", "set", this.state.remote ? chosen + 1 : 0);
  }
  pickEngine(i) {
    if (i === this.engines.length + 1) {
      this.status("listening for engines on the network ...");
      return this.listEngines();
    }
    const e = i === 0 ? null : this.engines[i - 1];
    if (i !== 0 && !e) return;
    this.state.remote = e ? e.url : "";
    this.deps.out("remote", this.state.remote); // the Engine URL field: saved with the set, used by Start Engine
    const where = e ? `${e.name} (${e.url})` : "this computer";
    const how = this.child ? "click Stop Engine, then Start Engine" : "click Start Engine";
    this.status(`${how} to render on ${where}`);
  }

  // -- takes -------------------------------------------------------------------------------------------
  label(t, i) {
    const len = t.bars ? `${t.bars} bar${t.bars === 1 ? "" : "s"}` : `${Math.round(t.seconds * 10) / 10} s`;
    const channels = t.channels > LIVE_CHANNELS ? `, ${t.channels} channels` : "";
    return `${i + 1}. ${t.name} (${t.mode}, ${len}${channels})`;
  }
  showTakes() {
    this.deps.out("takes", "clear");
    this.takes.forEach((t, i) => this.deps.out("takes", "append", this.label(t, i)));
    if (this.selected >= 0) this.deps.out("takes", "set", this.selected);
  }
  take(i) {
    if (!this.takes[i]) return;
    this.selected = i;
    this.deps.out("load", this.takes[i].path); // audition: the patch loads it into its buffer and plays it
  }
  recall() {
    const t = this.takes[this.selected];
    if (!t) return this.status("no take selected");
    const s = t.settings;
    for (const key of ["mode", "bars", "seconds", "lengthmode", "loop", "steps", "guidance", "strength"]) {
      this.state[key] = s[key];
      this.deps.out(key, s[key]);
    }
    for (const key of ["fit", "fullband"]) {
      this.state[key] = flag(s[key]);
      this.deps.out(key, this.state[key]);
    }
    this.state.prompt = s.prompt;
    this.deps.out("prompt", s.prompt);
    this.state.seed = t.seed;
    this.state.newseed = 0;
    this.deps.out("seed", t.seed);
    this.deps.out("newseed", 0);
    this.status(`recalled ${t.name}: seed ${t.seed}, new seed off`);
  }
  useAsInput() {
    const t = this.takes[this.selected];
    if (!t) return this.status("no take selected");
    this.state.input = t.path;
    this.deps.out("input", t.path);
    this.status(`input: ${path.basename(t.path)} (variation, transfer, inpaint, continue, upsample)`);
  }
  insert() {
    const t = this.takes[this.selected];
    if (!t) return this.status("no take selected");
    const beats = t.bars ? t.bars * (t.settings.signature || 4) : 0;
    const target = ["session", "arrangement", "file"][this.state.target] || "session";
    if (target === "file") return this.reveal(t.path, "");
    if (t.channels > LIVE_CHANNELS) {
      // the engine kept every channel of the take; Live cannot load such a file, so it goes to the folder at once
      this.reveal(t.path, "");
      return this.status(
        `${path.basename(t.path)} has ${t.channels} channels, like its take; Live plays mono and stereo clips only: ` +
          "its folder is open (the first two channels play in Play)",
      );
    }
    // warp (and loop) only a loop that plays at the tempo: a clip the engine left unfitted has no beat to warp by
    this.deps.out("insert", target, t.path, t.name, beats, t.loop && !t.oneShot ? 1 : 0);
  }
  // whether the engine tagged the clip a one-shot: its sidecar says the tempo fit found no beat to fit
  oneShot(file) {
    try {
      const side = JSON.parse(this.deps.fs.readFileSync(String(file).replace(/\.wav$/i, ".json"), "utf8"));
      return !!(side && side.tempo_fit && side.tempo_fit.fitted === false);
    } catch (e) {
      return false; // no sidecar readable here (another machine's engine): keep the take's own setting
    }
  }
  // the Live API's answer to `insert` (from audioldm_live.js)
  inserted(ok, ...why) {
    const t = this.takes[this.selected];
    if (Number(ok)) return this.status(`placed ${t ? t.name : "the clip"}: ${why.join(" ")}`);
    if (t) this.reveal(t.path, why.join(" "));
  }
  reveal(file, why) {
    const platform = this.deps.platform || process.platform;
    const cmd = platform === "darwin" ? ["open", ["-R", file]] : platform === "win32" ? ["explorer", [`/select,${file.replace(/\//g, "\\")}`]] : ["xdg-open", [path.dirname(file)]];
    try {
      const c = this.deps.spawn(cmd[0], cmd[1], { stdio: "ignore", detached: true });
      if (c && c.on) c.on("error", () => {});
      if (c && c.unref) c.unref();
    } catch (err) {
      this.deps.post(`audioldm: could not open the folder: ${err.message}`);
    }
    this.status(`${why ? why + ": " : ""}opened the folder of ${path.basename(file)}; drag it from there (or from Live's browser)`);
  }
  takesFile() {
    const t = this.takes[this.takes.length - 1];
    if (t && t.path) return path.join(path.dirname(t.path), TAKES_FILE);
    if (this.clipsDir && this.state.folder) return path.join(this.clipsDir, this.state.folder, TAKES_FILE);
    return "";
  }
  saveTakes() {
    const file = this.takesFile();
    if (!file || !this.deps.fs) return;
    try {
      this.deps.fs.writeFileSync(file, JSON.stringify(this.takes, null, 1));
    } catch (err) {
      this.deps.post(`audioldm: could not save the take list: ${err.message}`);
    }
  }
  loadTakes() {
    const file = this.takesFile();
    if (!file || !this.deps.fs) return;
    try {
      const takes = JSON.parse(this.deps.fs.readFileSync(file, "utf8"));
      if (Array.isArray(takes)) {
        this.takes = takes.filter((t) => t && t.path && this.deps.fs.existsSync(t.path));
        this.selected = this.takes.length - 1;
        this.showTakes();
      }
    } catch (err) {
      if (err.code !== "ENOENT") this.deps.post(`audioldm: could not read ${file}: ${err.message}`);
    }
  }
}

module.exports = { Device, encode, decode, slug, clipName, folderName, defaultFolder, engineRate, wavChannels, MODES, EDIT_MODES, PING_MS, OFFLINE_MS };
