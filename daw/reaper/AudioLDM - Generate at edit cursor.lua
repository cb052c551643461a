-- REAPER action: AudioLDM - Generate at edit cursor (needs a running `audioldm-daw serve`; see daw/README.md).
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])") or ""
local M = dofile(dir .. "audioldm_daw.lua")
M.generate_at_cursor()
