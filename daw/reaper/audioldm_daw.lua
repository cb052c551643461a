-- audioldm-daw for REAPER: the logic behind the "AudioLDM - ..." actions (a module; the actions load it).
--
-- Each action asks for what it needs, starts the light client `audioldm-daw send ... --json` in the
-- background through reaper.ExecProcess (a running `audioldm-daw serve` does the work; no model is loaded
-- per clip) and returns at once: REAPER's window stays live while the clip renders. A function run by
-- reaper.defer (once per redraw) watches for the client's result file, and when it is there puts the clip
-- into the project: a new item at the edit cursor on the selected track (generate), or a new take on the
-- selected item (variation, transfer, inpaint over the time selection). Errors from the engine are shown
-- as they come. Settings (the client's path, host, port, steps, tempo fit and full band) live in REAPER's
-- ExtState "audioldm_daw"; run "AudioLDM - Settings" once if `audioldm-daw` is not on REAPER's PATH.
--
-- Tested outside REAPER with a stub `reaper` table (tests/test_reaper.py): keep every REAPER call on the
-- global `reaper`, looked up when a function runs.

local M = {}

M.SECTION = "audioldm_daw"
M.DEFAULTS = { exe = "audioldm-daw", host = "127.0.0.1", port = "9000", steps = "", bars = "4", fit = "1",
  fullband = "1" }

-- settings ---------------------------------------------------------------------------------------------
function M.get(key)
  if reaper.HasExtState(M.SECTION, key) then
    local v = reaper.GetExtState(M.SECTION, key)
    if v ~= "" or key == "steps" then return v end
  end
  return M.DEFAULTS[key]
end

function M.set(key, value)
  reaper.SetExtState(M.SECTION, key, tostring(value), true)
end

-- An on/off setting (fit, fullband): off only when it says so, so that a value typed loosely, or none at
-- all, leaves the engine's default (on) in place.
M.OFF_WORDS = { ["0"] = true, off = true, no = true, ["false"] = true }

function M.is_on(key)
  return not M.OFF_WORDS[tostring(M.get(key)):lower():match("^%s*(.-)%s*$")]
end

function M.is_windows()
  return tostring(reaper.GetOS()):find("Win") ~= nil
end

-- the command line ---------------------------------------------------------------------------------------
-- One argument in double quotes, which every shell REAPER may hand the line to understands.
function M.quote(s, windows)
  s = tostring(s)
  if windows then
    s = s:gsub('(\\*)"', function(bs) return bs .. bs .. '\\"' end):gsub("(\\+)$", "%1%1")
    return '"' .. s .. '"'
  end
  return '"' .. s:gsub('([\\"$`])', "\\%1") .. '"'
end

-- The modes that return the input take with a part of it changed: their clip keeps the take's own sample
-- rate (no --sr), so that it lines up with the take sample for sample, with no resampling between them.
M.EDIT_MODES = { inpaint = true, continue = true, upsample = true }

-- The modes whose length the caller chooses, the only ones the engine fits to the tempo: it refuses `fit`
-- for the others.
M.FIT_MODES = { generate = true, variation = true }

-- The `send` command for `mode`: positional arguments in order, then options (a list of {name, value};
-- value true is a bare flag). The executable setting may be several words (e.g. `"python" -m ...`): it is
-- used as written.
function M.command(mode, positional, options, windows)
  local parts = { M.get("exe"), "send", mode }
  for _, v in ipairs(positional) do parts[#parts + 1] = M.quote(v, windows) end
  for _, kv in ipairs(options or {}) do
    parts[#parts + 1] = "--" .. kv[1]
    if kv[2] ~= true then parts[#parts + 1] = M.quote(kv[2], windows) end
  end
  parts[#parts + 1] = "--json"
  parts[#parts + 1] = "--host"
  parts[#parts + 1] = M.quote(M.get("host"), windows)
  parts[#parts + 1] = "--port"
  parts[#parts + 1] = M.get("port")
  local steps = M.get("steps")
  if steps ~= nil and steps ~= "" then
    parts[#parts + 1] = "--steps"
    parts[#parts + 1] = steps
  end
  -- both are on unless turned off in the settings: only "off" is sent, so a default stays the engine's
  if M.FIT_MODES[mode] and not M.is_on("fit") then parts[#parts + 1] = "--no-fit" end
  if not M.is_on("fullband") then parts[#parts + 1] = "--no-fullband" end
  local rate = not M.EDIT_MODES[mode] and M.project_rate()
  if rate then
    parts[#parts + 1] = "--sr"
    parts[#parts + 1] = tostring(rate)
  end
  return table.concat(parts, " ")
end

-- The engine's output rates (docs/OSC.md, `sr`).
M.RATES = { 16000, 22050, 32000, 44100, 48000, 88200, 96000, 176400, 192000 }

-- The rate clips are asked for: the project's own, so that REAPER plays them without resampling. That is
-- the project setting where it overrides the device (Project Settings, "Project sample rate"), else the
-- audio device's rate; a rate the engine lacks gets the next one up. nil (the engine's default, 48 kHz)
-- when neither is known, e.g. with no audio device open.
function M.project_rate()
  local rate
  local use = reaper.GetSetProjectInfo(0, "PROJECT_SRATE_USE", 0, false)
  if use and use ~= 0 then
    rate = reaper.GetSetProjectInfo(0, "PROJECT_SRATE", 0, false)
  else
    local ok, desc = reaper.GetAudioDeviceInfo("SRATE", "")
    rate = ok and tonumber(desc) or nil
  end
  if type(rate) ~= "number" or rate <= 0 then return nil end
  rate = math.floor(rate + 0.5)
  for _, r in ipairs(M.RATES) do
    if r >= rate then return r end
  end
  return M.RATES[#M.RATES]
end

-- JSON (the flat objects `send --json` prints) --------------------------------------------------------
function M.json_decode(text)
  local pos = 1
  local function ws() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local value
  local function str()
    local out, i = {}, pos + 1
    while true do
      local c = text:sub(i, i)
      if c == "" then error("unterminated string") end
      if c == '"' then pos = i + 1; return table.concat(out) end
      if c == "\\" then
        local e = text:sub(i + 1, i + 1)
        local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        if e == "u" then
          local cp = tonumber(text:sub(i + 2, i + 5), 16)
          if cp >= 0xD800 and cp <= 0xDBFF and text:sub(i + 6, i + 7) == "\\u" then
            local lo = tonumber(text:sub(i + 8, i + 11), 16)
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            i = i + 6
          end
          out[#out + 1] = utf8.char(cp)
          i = i + 6
        else
          out[#out + 1] = map[e] or e
          i = i + 2
        end
      else
        out[#out + 1] = c
        i = i + 1
      end
    end
  end
  value = function()
    ws()
    local c = text:sub(pos, pos)
    if c == "{" then
      local obj = {}
      pos = pos + 1; ws()
      if text:sub(pos, pos) == "}" then pos = pos + 1; return obj end
      while true do
        ws(); local k = str(); ws()
        if text:sub(pos, pos) ~= ":" then error("expected : at " .. pos) end
        pos = pos + 1
        obj[k] = value(); ws()
        local d = text:sub(pos, pos); pos = pos + 1
        if d == "}" then return obj end
        if d ~= "," then error("expected , or } at " .. pos) end
      end
    elseif c == "[" then
      local arr = {}
      pos = pos + 1; ws()
      if text:sub(pos, pos) == "]" then pos = pos + 1; return arr end
      while true do
        arr[#arr + 1] = value(); ws()
        local d = text:sub(pos, pos); pos = pos + 1
        if d == "]" then return arr end
        if d ~= "," then error("expected , or ] at " .. pos) end
      end
    elseif c == '"' then return str()
    elseif text:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif text:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif text:sub(pos, pos + 3) == "null" then pos = pos + 4; return nil
    else
      local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" then error("unexpected " .. c .. " at " .. pos) end
      pos = pos + #num
      return tonumber(num)
    end
  end
  return value()
end

-- What ExecProcess returned: nil (the program could not start), else "<exit code>\n<output>". Returns the
-- clip objects, or nil and the message to show.
function M.parse_output(out)
  if out == nil then
    return nil, "could not run the audioldm-daw client (" .. M.get("exe") .. "): set its full path in AudioLDM - Settings"
  end
  local code, rest = out:match("^(-?%d+)\r?\n(.*)$")
  if not code then code, rest = "?", out end
  local clips, err = {}, nil
  for line in rest:gmatch("[^\r\n]+") do
    if line:sub(1, 1) == "{" then
      local ok, obj = pcall(M.json_decode, line)
      if ok and type(obj) == "table" then
        if obj.error then err = obj.error else clips[#clips + 1] = obj end
      end
    end
  end
  if err then return nil, err end
  if #clips == 0 then
    local text = rest:gsub("%s+$", "")
    if code == "127" or text:find("not found") or text:find("not recognized") then
      return nil, "could not run `" .. M.get("exe") .. "` (" .. text .. "): set its full path in AudioLDM - Settings"
    end
    return nil, "the client printed no result (exit code " .. code .. "):\n" .. text
  end
  return clips
end

-- Waiting without blocking -------------------------------------------------------------------------
-- REAPER runs a script's code on its own (the interface) thread, so a call that waits for the client
-- freezes the window for the whole render. Instead the client runs in the background (ExecProcess with
-- timeout -1 returns at once) with its output sent to a file and its exit code, once it has ended, to
-- another; a deferred function looks for the second file at every redraw and hands the result on.
M.WAIT_S = 6 * 3600 -- a render longer than this is taken as lost (the client itself waits for its job)

-- Two new file names in the temporary folder: the client's output and its exit code.
function M.result_files()
  local windows = M.is_windows()
  local dir = os.getenv("TMPDIR") or os.getenv("TEMP") or os.getenv("TMP")
  dir = dir or (windows and "C:\\Windows\\Temp" or "/tmp")
  dir = dir:gsub("[/\\]+$", "")
  local sep = windows and "\\" or "/"
  local base = string.format("%s%saudioldm-daw-%d-%06d", dir, sep, os.time(), math.random(0, 999999))
  return base .. ".out", base .. ".code"
end

-- The command line that runs `cmd` in the background with its output in `out` and its exit code in `code`:
-- through /bin/sh on macOS and Linux (as ExecProcess does), through cmd.exe on Windows (where ExecProcess
-- starts the program directly; !ERRORLEVEL! is read after the client ends, %ERRORLEVEL% before it starts).
function M.background(cmd, out, code, windows)
  if windows then
    return 'cmd.exe /V:ON /S /C "' .. cmd .. " > " .. M.quote(out, true) .. " 2>&1 & echo !ERRORLEVEL! > "
      .. M.quote(code, true) .. '"'
  end
  return cmd .. " > " .. M.quote(out) .. " 2>&1; echo $? > " .. M.quote(code)
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Start `send` for `mode` and return at once; `done(clips)` or `done(nil, message)` is called from a
-- deferred function when the client has ended.
function M.start(mode, positional, options, done)
  local windows = M.is_windows()
  local out, code = M.result_files()
  local cmd = M.background(M.command(mode, positional, options, windows), out, code, windows)
  reaper.ExecProcess(cmd, -1)
  local deadline = reaper.time_precise() + M.WAIT_S
  local function poll()
    local status = read_file(code)
    status = status and status:match("^%s*(-?%d+)")
    if status then
      local text = read_file(out) or ""
      os.remove(out)
      os.remove(code)
      return done(M.parse_output(status .. "\n" .. text))
    end
    if reaper.time_precise() > deadline then
      return done(nil, "the audioldm-daw client gave no result within " .. math.floor(M.WAIT_S / 3600)
        .. " hours; check the engine (audioldm-daw serve) and try again")
    end
    reaper.defer(poll)
  end
  reaper.defer(poll)
end

function M.error(text)
  reaper.ShowMessageBox(tostring(text), "AudioLDM", 0)
end

-- asking ------------------------------------------------------------------------------------------------
-- GetUserInputs with a newline separator, so prompts may hold commas. Returns a list, or nil if cancelled.
function M.ask(title, captions, defaults)
  local ok, csv = reaper.GetUserInputs(title, #captions, table.concat(captions, ",") .. ",separator=\n,extrawidth=300",
    table.concat(defaults, "\n"))
  if not ok then return nil end
  local out = {}
  for v in (csv .. "\n"):gmatch("(.-)\n") do out[#out + 1] = v end
  return out
end

local function trim(s) return (s or ""):match("^%s*(.-)%s*$") end

local function fmt(x) return string.format("%.6g", x) end

-- Seconds in a take, for the engine: to well under a sample at any rate over the longest take (20 minutes).
local function seconds_arg(x) return string.format("%.12g", x) end

-- the project -------------------------------------------------------------------------------------------
-- A new take on `item` (or a new item on `track` at `pos`) playing `clip.path`, named `name`.
function M.place(clip, name, track, pos, item, startoffs)
  local take
  if item == nil then
    item = reaper.AddMediaItemToTrack(track)
    reaper.SetMediaItemInfo_Value(item, "D_POSITION", pos)
    reaper.SetMediaItemInfo_Value(item, "D_LENGTH", clip.seconds)
  end
  take = reaper.AddTakeToMediaItem(item)
  local src = reaper.PCM_Source_CreateFromFile(clip.path)
  reaper.SetMediaItemTake_Source(take, src)
  reaper.SetMediaItemTakeInfo_Value(take, "D_STARTOFFS", startoffs or 0)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", name, true)
  reaper.SetActiveTake(take)
  return item, take
end

-- The take properties that decide which source sample plays when: an edit of a take (the whole take at its
-- own rate, a part of it changed) plays with the original's, so every sample lines up with the original's.
M.TIMING = { "D_PLAYRATE", "B_PPITCH", "D_PITCH", "I_CHANMODE" }

function M.play_as(take, original)
  for _, key in ipairs(M.TIMING) do
    local v = reaper.GetMediaItemTakeInfo_Value(original, key)
    if type(v) == "number" then reaper.SetMediaItemTakeInfo_Value(take, key, v) end
  end
end

function M.take_name(what, clip)
  return string.format("%s (seed %s)", what, tostring(math.tointeger(clip.seed) or clip.seed))
end

-- "AudioLDM - Generate at edit cursor" -----------------------------------------------------------------
function M.generate_at_cursor()
  local track = reaper.GetSelectedTrack(0, 0)
  if not track then return M.error("Select a track first: the clip goes onto it, at the edit cursor.") end
  local pos = reaper.GetCursorPosition()
  local num, denom, bpm = reaper.TimeMap_GetTimeSigAtTime(0, pos)
  local beats = num * 4 / denom -- the engine counts quarter-note beats
  local v = M.ask(string.format("AudioLDM: generate (%s bpm, %d/%d)", fmt(bpm), num, denom),
    { "Prompt", "Bars (0: 10 seconds)" }, { reaper.GetExtState(M.SECTION, "last_prompt"), M.get("bars") })
  if not v then return end
  local prompt, bars = trim(v[1]), tonumber(trim(v[2])) or 0
  if prompt == "" then return M.error("Type a prompt: what the clip should sound like.") end
  M.set("last_prompt", prompt)
  M.set("bars", trim(v[2]))
  local opts = {}
  if bars > 0 then opts = { { "bars", fmt(bars) }, { "bpm", fmt(bpm) }, { "beats", fmt(beats) } } end
  M.start("generate", { prompt }, opts, function(clips, err)
    if not clips then return M.error(err) end
    reaper.Undo_BeginBlock()
    M.place(clips[1], M.take_name(prompt, clips[1]), track, pos)
    reaper.UpdateArrange()
    reaper.Undo_EndBlock("AudioLDM: generate", -1)
  end)
end

-- "AudioLDM - Variation / Transfer / Inpaint of the selected item" --------------------------------------
function M.selected_source()
  local item = reaper.GetSelectedMediaItem(0, 0)
  if not item then return nil, "Select an item first: its audio is the input." end
  local take = reaper.GetActiveTake(item)
  if not take or reaper.TakeIsMIDI(take) then return nil, "The selected item has no audio take." end
  local src = reaper.GetMediaItemTake_Source(take)
  local path = reaper.GetMediaSourceFileName(src, "")
  if not path or path == "" then return nil, "The selected take has no source file." end
  return {
    item = item,
    take = take,
    path = path,
    pos = reaper.GetMediaItemInfo_Value(item, "D_POSITION"),
    len = reaper.GetMediaItemInfo_Value(item, "D_LENGTH"),
    offs = reaper.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS"),
    rate = reaper.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE"),
  }
end

function M.process_selected(mode)
  local s, why = M.selected_source()
  if not s then return M.error(why) end
  local positional, opts, what = { s.path }, {}, mode
  if mode == "variation" then
    local seconds = math.max(0.5, math.min(60, s.len * s.rate))
    opts = { { "duration", fmt(seconds) } }
  elseif mode == "transfer" then
    local v = M.ask("AudioLDM: transfer the selected item", { "Prompt (the style to move towards)", "Strength 0..1" },
      { reaper.GetExtState(M.SECTION, "last_prompt"), "0.5" })
    if not v then return end
    if trim(v[1]) == "" then return M.error("Type a prompt: the style to move the item towards.") end
    M.set("last_prompt", trim(v[1]))
    positional[2] = trim(v[1])
    opts = { { "strength", trim(v[2]) } }
    what = "transfer: " .. trim(v[1])
  elseif mode == "inpaint" then
    local t0, t1 = reaper.GetSet_LoopTimeRange(false, false, 0, 0, false)
    local a = math.max(t0, s.pos)
    local b = math.min(t1, s.pos + s.len)
    if t1 <= t0 or b <= a then
      return M.error("Make a time selection over the part of the item to regenerate.")
    end
    local start_s, end_s = s.offs + (a - s.pos) * s.rate, s.offs + (b - s.pos) * s.rate
    local v = M.ask("AudioLDM: inpaint the time selection", { "Prompt (empty: the rest of the item guides it)" },
      { "" })
    if not v then return end
    positional[2], positional[3] = seconds_arg(start_s), seconds_arg(end_s)
    if trim(v[1]) ~= "" then positional[4] = trim(v[1]) end
    what = string.format("inpaint %s-%s s%s", fmt(start_s), fmt(end_s), trim(v[1]) ~= "" and (": " .. trim(v[1])) or "")
  else
    return M.error("unknown mode " .. tostring(mode))
  end
  M.start(mode, positional, opts, function(clips, err)
    if not clips then return M.error(err) end
    reaper.Undo_BeginBlock()
    local offs = (mode == "variation") and 0 or s.offs -- the other modes keep the input's timeline
    local _, take = M.place(clips[1], M.take_name(what, clips[1]), nil, nil, s.item, offs)
    if M.EDIT_MODES[mode] then M.play_as(take, s.take) end
    reaper.UpdateArrange()
    reaper.Undo_EndBlock("AudioLDM: " .. mode, -1)
  end)
end

-- "AudioLDM - Settings" --------------------------------------------------------------------------------
-- A menu first: the models on this machine (`audioldm-daw models --json`), the default checked, and the
-- client settings as its last item. Picking a model makes it the default `audioldm-daw serve` starts with
-- (`models default`); a running engine keeps serving the model it loaded until it is restarted, and says so.
-- When the client cannot list the models (not found, too old), the settings dialog opens at once.
function M.settings()
  local models = M.models()
  if models and #models > 0 then
    local pick = M.show_menu(M.model_menu(models) .. "|Client, host, port, steps, tempo fit and full band...")
    if pick == 0 then return end
    if pick <= #models then return M.choose_model(models[pick]) end
  end
  M.settings_dialog()
end

-- Fit to tempo: a rhythmic clip of generate or variation is stretched onto the project's grid (one without a
-- clear beat stays as rendered). Full band: the engine adds the band above the model's own at the higher output
-- rates. Both are on by default; the captions hold no commas, which GetUserInputs reads as separators.
function M.settings_dialog()
  local v = M.ask("AudioLDM settings", { "audioldm-daw client (full path)", "Engine host", "Engine port",
    "Steps (empty: the engine's default)", "Fit to tempo (1 on / 0 off)", "Full band above 8 kHz (1 on / 0 off)" },
    { M.get("exe"), M.get("host"), M.get("port"), M.get("steps"), M.is_on("fit") and "1" or "0",
      M.is_on("fullband") and "1" or "0" })
  if not v then return end
  M.set("exe", trim(v[1])); M.set("host", trim(v[2])); M.set("port", trim(v[3])); M.set("steps", trim(v[4]))
  for i, key in ipairs({ "fit", "fullband" }) do
    local answer = trim(v[4 + i])
    M.set(key, M.OFF_WORDS[answer:lower()] and "0" or "1")
  end
end

-- The models `audioldm-daw models --json` lists (each {name, model, licence, knows, default, ...}), or nil.
function M.models()
  local out = reaper.ExecProcess(M.get("exe") .. " models --json", 0)
  local code, rest = tostring(out or ""):match("^(-?%d+)\r?\n(.*)$")
  if code ~= "0" then return nil end
  local line = rest:match("({.*})")
  local ok, obj = pcall(M.json_decode, line or "")
  if not ok or type(obj) ~= "table" or type(obj.models) ~= "table" then return nil end
  return obj.models
end

-- gfx.showmenu's item text: one item per model, the default checked ("!"); the characters the menu reads
-- as markup ("|" separates, a leading "#", "!", ">" or "<" changes the item) are kept out of the names.
function M.model_menu(models)
  local items = {}
  for i, m in ipairs(models) do
    local licence = (m.licence and m.licence ~= "") and m.licence or "licence not stated"
    local label = (tostring(m.name) .. " (" .. licence .. ")"):gsub("|", "/"):gsub("^[#!<>]+", "")
    items[i] = (m.default and "!" or "") .. label
  end
  return table.concat(items, "|")
end

-- A popup menu at the mouse; the 1-based item picked, 0 when dismissed.
function M.show_menu(items)
  local x, y = reaper.GetMousePosition()
  gfx.init("AudioLDM", 0, 0, 0, x, y)
  gfx.x, gfx.y = gfx.screentoclient(x, y)
  local pick = gfx.showmenu(items)
  gfx.quit()
  return pick or 0
end

function M.choose_model(m)
  local out = reaper.ExecProcess(M.get("exe") .. " models default " .. M.quote(m.model, M.is_windows()), 0)
  local code, rest = tostring(out or ""):match("^(-?%d+)\r?\n(.*)$")
  if code ~= "0" then
    return M.error("could not make " .. tostring(m.name) .. " the default model:\n" .. tostring(rest or out))
  end
  local licence = (m.licence and m.licence ~= "") and m.licence or "not stated"
  reaper.ShowMessageBox(tostring(m.name) .. " is now the default model (licence: " .. licence .. "): "
    .. "audioldm-daw serve starts with it. A running engine keeps serving the model it loaded; restart it "
    .. "to use this one.", "AudioLDM", 0)
end

return M
