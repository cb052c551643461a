-- audioldm-daw for REAPER: the logic behind the "AudioLDM - ..." actions (a module; the actions load it).
--
-- Each action asks for what it needs, runs the light client `audioldm-daw send ... --json` through
-- reaper.ExecProcess (a running `audioldm-daw serve` does the work; no model is loaded per clip), and puts
-- the clip into the project: a new item at the edit cursor on the selected track (generate), or a new take
-- on the selected item (variation, transfer, inpaint over the time selection). Errors from the engine are
-- shown as they come. Settings (the client's path, host, port, steps) live in REAPER's ExtState
-- "audioldm_daw"; run "AudioLDM - Settings" once if `audioldm-daw` is not on REAPER's PATH.
--
-- Tested outside REAPER with a stub `reaper` table (tests/test_reaper.py): keep every REAPER call on the
-- global `reaper`, looked up when a function runs.

local M = {}

M.SECTION = "audioldm_daw"
M.DEFAULTS = { exe = "audioldm-daw", host = "127.0.0.1", port = "9000", steps = "", bars = "4" }

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
  local rate = M.project_rate()
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

function M.run(mode, positional, options)
  local cmd = M.command(mode, positional, options, M.is_windows())
  return M.parse_output(reaper.ExecProcess(cmd, 0))
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
  local clips, err = M.run("generate", { prompt }, opts)
  if not clips then return M.error(err) end
  reaper.Undo_BeginBlock()
  M.place(clips[1], M.take_name(prompt, clips[1]), track, pos)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock("AudioLDM: generate", -1)
  return clips[1]
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
    positional[2], positional[3] = fmt(start_s), fmt(end_s)
    if trim(v[1]) ~= "" then positional[4] = trim(v[1]) end
    what = string.format("inpaint %s-%s s%s", fmt(start_s), fmt(end_s), trim(v[1]) ~= "" and (": " .. trim(v[1])) or "")
  else
    return M.error("unknown mode " .. tostring(mode))
  end
  local clips, err = M.run(mode, positional, opts)
  if not clips then return M.error(err) end
  reaper.Undo_BeginBlock()
  local offs = (mode == "variation") and 0 or s.offs -- the other modes keep the input's timeline
  M.place(clips[1], M.take_name(what, clips[1]), nil, nil, s.item, offs)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock("AudioLDM: " .. mode, -1)
  return clips[1]
end

-- "AudioLDM - Settings" --------------------------------------------------------------------------------
function M.settings()
  local v = M.ask("AudioLDM settings", { "audioldm-daw client (full path)", "Engine host", "Engine port",
    "Steps (empty: the engine's default)" }, { M.get("exe"), M.get("host"), M.get("port"), M.get("steps") })
  if not v then return end
  M.set("exe", trim(v[1])); M.set("host", trim(v[2])); M.set("port", trim(v[3])); M.set("steps", trim(v[4]))
end

return M
