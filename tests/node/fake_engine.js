// A stand-in for `audioldm-daw serve` on a loopback UDP port, for the device's JavaScript tests. It keeps the
// engine's reply rule: replies go to the sender's host at the port that sending socket registered with
// /audioldm/notify (nothing is sent to a socket that has not registered, as the real one would send to 9001).
"use strict";

const dgram = require("dgram");
const { encode, decode } = require("../../max_patch/device/audioldm_core.js");

class FakeEngine {
  constructor() {
    this.sock = dgram.createSocket("udp4");
    this.registered = new Map(); // "host:port" of the sending socket -> reply port
    this.requests = []; // [address, args, from]
    this.answering = true;
    this.refuse = null; // (address, args) => message, to answer /audioldm/fail
    this.sock.on("message", (msg, rinfo) => this.handle(msg, rinfo));
  }
  start(port = 0) {
    return new Promise((resolve) => this.sock.bind(port, "127.0.0.1", () => resolve((this.port = this.sock.address().port))));
  }
  stop() {
    return new Promise((resolve) => this.sock.close(resolve));
  }
  reply(from, address, ...args) {
    const port = this.registered.get(`${from.address}:${from.port}`);
    if (port) this.sock.send(encode(address, args), port, from.address);
  }
  handle(msg, from) {
    for (const [address, args] of decode(msg)) {
      this.requests.push([address, args, from]);
      if (!this.answering) continue;
      if (address === "/audioldm/notify") {
        this.registered.set(`${from.address}:${from.port}`, args[0]);
        this.reply(from, "/audioldm/notified", args[0]);
      } else if (address === "/audioldm/ping") this.reply(from, "/audioldm/pong", "0.3.0", "tiny");
      else if (address === "/audioldm/status") this.reply(from, "/audioldm/status", "tiny", "cpu", 0, "", "/clips");
      else if (/^\/audioldm\/(generate|variation|transfer|inpaint|continue|upsample)$/.test(address)) {
        const job = args[0];
        const why = this.refuse && this.refuse(address, args);
        if (why) {
          this.reply(from, "/audioldm/fail", job, why, address);
          continue;
        }
        const opt = (k) => {
          const i = args.indexOf(k);
          return i > 0 ? args[i + 1] : undefined;
        };
        const folder = opt("folder");
        const file = `/clips/${folder ? folder + "/" : ""}${opt("name") || job}.wav`;
        this.reply(from, "/audioldm/queued", job, 0);
        this.reply(from, "/audioldm/progress", job, 1, 2);
        this.reply(from, "/audioldm/progress", job, 2, 2);
        this.reply(from, "/audioldm/done", job, file, 2.5, opt("sr") || 48000, opt("seed") || 42, "");
      }
    }
  }
  sent(address) {
    return this.requests.filter((r) => r[0] === address);
  }
}

module.exports = { FakeEngine };
