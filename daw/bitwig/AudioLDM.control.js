// AudioLDM for Bitwig Studio: a controller script that asks a running `audioldm-daw serve` for a clip over OSC.
//
// Install: copy this file into Bitwig's "Controller Scripts" folder (Documents/Bitwig Studio/Controller Scripts),
// then Settings > Controllers > Add controller > audioldm-daw > AudioLDM. The script's panel (the controller's
// entry in the Studio I/O panel) has a Prompt, Bars, Steps, Fit to tempo, Full band and a Generate button; the
// length follows the project tempo. Progress and the result show as popup notifications; the clip is inserted into the selected
// track's first clip launcher slot (Preferences: "Insert into the selected track"), and its path is printed
// in the Controller Script Console. Engine address and the port replies come back to are in the preferences.
//
// The protocol is docs/OSC.md: /audioldm/notify <port>, then /audioldm/generate job_id prompt [key value]...;
// replies /audioldm/queued, /audioldm/progress, /audioldm/done job path seconds sr seed warning, /audioldm/fail.

loadAPI(17);
host.defineController("audioldm-daw", "AudioLDM", "0.1", "6d2b7a52-1f0e-4c39-9f3e-3a5d2b8c4e10", "audioldm-daw");
host.defineMidiPorts(0, 0);

var S = {
  engineHost: "127.0.0.1",
  enginePort: 9000,
  replyPort: 9011,
  prompt: "warm analog pad",
  bars: 4,
  steps: 0,
  fit: "On",
  fullband: "On",
  insert: "On",
  sampleRate: 48000,
  tempo: 120,
  numerator: 4,
  denominator: 4,
  jobs: {},
  count: 0,
  lastProgress: {},
};
var connection = null;
// The engine's output rates (docs/OSC.md, `sr`), the common ones first.
var SAMPLE_RATES = ["48000", "44100", "96000", "88200", "192000", "176400", "32000", "22050", "16000"];
var slots = null;

function init() {
  var prefs = host.getPreferences();
  prefs.getStringSetting("Engine host", "Engine", 40, S.engineHost).addValueObserver(function (v) { S.engineHost = v; });
  prefs.getNumberSetting("Engine port", "Engine", 1, 65535, 1, "", S.enginePort)
    .addRawValueObserver(function (v) { S.enginePort = Math.round(v); });
  prefs.getNumberSetting("Reply port (restart the script after a change)", "Engine", 1024, 65535, 1, "", S.replyPort)
    .addRawValueObserver(function (v) { S.replyPort = Math.round(v); });
  prefs.getEnumSetting("Insert into the selected track", "Clips", ["On", "Off"], "On")
    .addValueObserver(function (v) { S.insert = v; });
  // The controller API does not tell a script the audio engine's rate: set it here to play clips unresampled.
  prefs.getEnumSetting("Sample rate (Hz): your project's", "Clips", SAMPLE_RATES, String(S.sampleRate))
    .addValueObserver(function (v) { S.sampleRate = Number(v); });

  var doc = host.getDocumentState();
  doc.getStringSetting("Prompt", "AudioLDM", 200, S.prompt).addValueObserver(function (v) { S.prompt = v; });
  doc.getNumberSetting("Bars (0: 10 seconds)", "AudioLDM", 0, 64, 0.25, "bars", S.bars)
    .addRawValueObserver(function (v) { S.bars = v; });
  doc.getNumberSetting("Steps (0: the engine's default)", "AudioLDM", 0, 1000, 1, "", S.steps)
    .addRawValueObserver(function (v) { S.steps = Math.round(v); });
  // Fit to tempo: a rhythmic clip is stretched onto the project's grid (one without a clear beat stays as
  // rendered). Full band: the engine adds the band above the model's own at the higher output rates.
  doc.getEnumSetting("Fit to tempo", "AudioLDM", ["On", "Off"], S.fit).addValueObserver(function (v) { S.fit = v; });
  doc.getEnumSetting("Full band (above 8 kHz)", "AudioLDM", ["On", "Off"], S.fullband)
    .addValueObserver(function (v) { S.fullband = v; });
  doc.getSignalSetting("Generate", "AudioLDM", "Generate").addSignalObserver(generate);

  var transport = host.createTransport();
  transport.tempo().value().addRawValueObserver(function (v) { S.tempo = v; });
  var sig = transport.timeSignature();
  sig.numerator().addValueObserver(function (v) { S.numerator = v; });
  sig.denominator().addValueObserver(function (v) { S.denominator = v; });

  var cursorTrack = host.createCursorTrack(0, 8);
  slots = cursorTrack.clipLauncherSlotBank();
  for (var i = 0; i < 8; i++) slots.getItemAt(i).hasContent().markInterested();

  var osc = host.getOscModule();
  var space = osc.createAddressSpace();
  space.registerDefaultMethod(onReply);
  osc.createUdpServer(S.replyPort, space);
  connection = osc.connectToUdpServer(S.engineHost, S.enginePort, space);
  host.println("AudioLDM: engine at " + S.engineHost + ":" + S.enginePort + ", replies on port " + S.replyPort);
}

// The OSC arguments of a generate request for the current settings (exported for the tests).
function generateArgs(jobId) {
  var args = [jobId, S.prompt];
  if (S.bars > 0) {
    args.push("bars", S.bars, "bpm", S.tempo, "beats", S.numerator * 4 / S.denominator); // quarter-note beats
  }
  if (S.steps > 0) args.push("steps", S.steps);
  // both are on by default: only "off" is sent, so a default stays the engine's
  if (S.fit === "Off") args.push("fit", 0);
  if (S.fullband === "Off") args.push("fullband", 0);
  args.push("sr", S.sampleRate);
  args.push("name", S.prompt.substring(0, 40).replace(/[\/\\:]+/g, "-"));
  return args;
}

function generate() {
  if (!S.prompt || !S.prompt.replace(/\s+/g, "")) {
    host.showPopupNotification("AudioLDM: type a prompt first");
    return;
  }
  S.count += 1;
  var jobId = "bitwig-" + S.count + "-" + Math.floor(Math.random() * 1e6);
  S.jobs[jobId] = { prompt: S.prompt };
  connection.sendMessage("/audioldm/notify", S.replyPort); // replies for this connection come to our server
  connection.sendMessage.apply(connection, ["/audioldm/generate"].concat(generateArgs(jobId)));
  host.showPopupNotification("AudioLDM: generating \"" + S.prompt + "\"");
}

function onReply(source, message) {
  var address = message.getAddressPattern();
  var args = message.getArguments();
  var job = S.jobs[args[0]];
  if (!job) return;
  if (address === "/audioldm/progress") {
    var step = args[1], total = args[2];
    var pct = Math.floor((100 * step) / total);
    if (step === total || pct - (S.lastProgress[args[0]] || -100) >= 25) {
      S.lastProgress[args[0]] = pct;
      host.showPopupNotification("AudioLDM: " + step + "/" + total + " steps");
    }
  } else if (address === "/audioldm/done") {
    delete S.jobs[args[0]];
    var path = args[1];
    host.println("AudioLDM: " + path + " (" + args[2] + " s, seed " + args[4] + ")");
    host.showPopupNotification("AudioLDM: " + job.prompt + " (seed " + args[4] + ")");
    if (S.insert === "On") insertClip(path);
  } else if (address === "/audioldm/fail") {
    delete S.jobs[args[0]];
    host.errorln("AudioLDM: " + args[1]);
    host.showPopupNotification("AudioLDM error: " + args[1]);
  }
}

// The clip into the first empty clip launcher slot of the selected track.
function insertClip(path) {
  for (var i = 0; i < 8; i++) {
    var slot = slots.getItemAt(i);
    if (!slot.hasContent().get()) {
      slot.replaceInsertionPoint().insertFile(path);
      return i;
    }
  }
  host.showPopupNotification("AudioLDM: no empty slot on the selected track; the clip is at " + path);
  return -1;
}

function flush() {}

function exit() {}
