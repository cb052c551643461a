"""File names every system can store: Windows' device names, the one rule a name can break on Windows alone.

Kept apart from engine/output.py (which needs numpy) so the doors that check a name (bridge/protocol.py's
check_name, the clients) stay light to import.
"""

from __future__ import annotations

# Names Windows keeps for devices, with any extension and in any case ("con.wav", "Com1.json"): a file by
# that name cannot be created there, or reaches the device instead. Refused for every system, so a project
# moved between systems keeps its clips.
WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"123456789", "\u00b9", "\u00b2", "\u00b3")}
)


def windows_reserved(name: str) -> bool:
    """``name`` is one of Windows' device names (the part before the first dot, trailing spaces ignored)."""
    return name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_RESERVED


def not_reserved(stem: str) -> str:
    """``stem``, or ``stem`` with an underscore after its device name ("con" -> "con_", "nul.take" ->
    "nul_.take"), which Windows can create."""
    if not windows_reserved(stem):
        return stem
    head, dot, tail = stem.partition(".")
    return f"{head.rstrip()}_{dot}{tail}"
