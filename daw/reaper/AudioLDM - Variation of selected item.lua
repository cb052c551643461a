-- REAPER action: AudioLDM - Variation of selected item (needs a running `audioldm-daw serve`; see daw/README.md).
local dir = ({ reaper.get_action_context() })[2]:match("^(.*[/\\])") or ""
local M = dofile(dir .. "audioldm_daw.lua")
M.process_selected("variation")
