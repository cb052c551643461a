// A stand-in for Node for Max's `max-api` module: records what the script sends to Max and lets a test
// call the handlers the script registered, as Max would when a message arrives at [node.script].
"use strict";

const handlers = {};
const outlets = [];
const posts = [];

module.exports = {
  POST_LEVELS: { ERROR: "error", INFO: "info", WARN: "warn" },
  addHandler(name, fn) {
    handlers[name] = fn;
  },
  outlet(...atoms) {
    outlets.push(atoms);
    return Promise.resolve();
  },
  post(...args) {
    posts.push(args.join(" "));
    return Promise.resolve();
  },
  // test side
  handlers,
  outlets,
  posts,
  async send(name, ...args) {
    if (!handlers[name]) throw new Error(`no handler for ${name}`);
    return handlers[name](...args);
  },
};
