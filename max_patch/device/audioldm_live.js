// Live API side of the AudioLDM device: [js audioldm_live.js]. Classic Max JavaScript (ES5), no node.
//
// insert <session|arrangement> <path> <name> <beats> <loop>
//   session:     the highlighted clip slot when it is on this device's track, else this track's slot in the
//                selected scene; an occupied slot moves down to the next empty one. ClipSlot.create_audio_clip.
//   arrangement: Track.create_audio_clip(path, position) at the song's current time (the insert marker).
// Both need Live 12.0.5 or newer and an audio track. Answers through its outlet:
//   inserted 1 <where>     the clip is in Live (named after the file, looping when it is a loop)
//   inserted 0 <why>       it is not; the device then opens the file's folder instead
autowatch = 1;
inlets = 1;
outlets = 1;

function api(p) {
  return new LiveAPI(p);
}

function first(v) {
  return v && v.length !== undefined ? v[0] : v;
}

function indexAfter(pathText, word) {
  var words = String(pathText).replace(/"/g, "").split(" ");
  for (var i = 0; i < words.length - 1; i++) if (words[i] === word) return parseInt(words[i + 1], 10);
  return -1;
}

function answer(ok, text) {
  outlet(0, "inserted", ok ? 1 : 0, text);
}

function thisTrack() {
  var track = api("this_device canonical_parent");
  if (!track || Number(track.id) === 0) return null;
  var index = indexAfter(track.unquotedpath || track.path, "tracks");
  if (index < 0) return null; // a return or the master track
  return { api: track, index: index };
}

function shape(clip, name, beats, loop) {
  if (!clip || Number(clip.id) === 0) return;
  clip.set("name", name);
  if (Number(loop)) {
    clip.set("warping", 1);
    clip.set("looping", 1);
  }
}

function session(track, path, name, beats, loop) {
  var slots = track.api.getcount("clip_slots");
  var start = -1;
  var highlighted = api("live_set view highlighted_clip_slot");
  if (highlighted && Number(highlighted.id) !== 0) {
    var hp = highlighted.unquotedpath || highlighted.path;
    if (indexAfter(hp, "tracks") === track.index) start = indexAfter(hp, "clip_slots");
  }
  if (start < 0) start = Math.max(0, indexAfter(api("live_set view selected_scene").unquotedpath || "", "scenes"));
  for (var i = start; i < slots; i++) {
    var slotPath = "live_set tracks " + track.index + " clip_slots " + i;
    var slot = api(slotPath);
    if (Number(first(slot.get("has_clip")))) continue;
    slot.call("create_audio_clip", path);
    if (!Number(first(slot.get("has_clip")))) return answer(0, "Live did not create the clip (Live 12.0.5 or newer needed)");
    shape(api(slotPath + " clip"), name, beats, loop);
    return answer(1, "track " + (track.index + 1) + ", scene " + (i + 1));
  }
  answer(0, "no empty clip slot at or below the selected scene");
}

function arrangement(track, path, name, beats, loop) {
  var position = Number(first(api("live_set").get("current_song_time"))) || 0;
  var before = track.api.getcount("arrangement_clips");
  track.api.call("create_audio_clip", path, position);
  var after = track.api.getcount("arrangement_clips");
  if (!(after > before)) return answer(0, "Live did not create the clip (Live 12.0.5 or newer needed)");
  // the new clip is the one that starts at the position
  for (var i = 0; i < after; i++) {
    var clip = api("live_set tracks " + track.index + " arrangement_clips " + i);
    if (Math.abs(Number(first(clip.get("start_time"))) - position) < 1e-6) {
      shape(clip, name, beats, loop);
      break;
    }
  }
  answer(1, "track " + (track.index + 1) + " at beat " + (Math.round(position * 100) / 100 + 1));
}

function insert(target, path, name, beats, loop) {
  var track = thisTrack();
  if (!track) return answer(0, "the device is not on a regular track");
  if (!Number(first(track.api.get("has_audio_input"))) || Number(first(track.api.get("has_midi_input")))) {
    return answer(0, "clips can only be placed on an audio track");
  }
  if (String(target) === "arrangement") arrangement(track, path, name, beats, loop);
  else session(track, path, name, beats, loop);
}

