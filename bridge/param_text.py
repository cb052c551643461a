"""A request parameter's value read from text: what a person types on the command line, or writes as a string in
an inbox request file (``"4"``, ``"off"``).

It lives beside the OSC contract rather than with the command line because both the command line
(``cli/options.py``) and the inbox watcher (``clients/inbox.py``) read it, and the clients never import the command
line. An OSC message carries typed values, so the server checks those directly (``protocol.coerce``) and needs none
of this. The error is argparse's, because argparse is the main caller: it puts the option's name in front of the
message; the inbox catches it and names the key itself.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from audioldm_daw.engine.errors import InvalidRequest
from audioldm_daw.engine.params import CHOICE, INT, LEVEL, NUMBER, OFF, Param


def converter(param: Param) -> Callable[[str], Any]:
    """The argparse ``type`` of a parameter: the text as the value the engine checks, or a message in the
    engine's words (argparse puts the option's name in front)."""

    def convert(text: str) -> Any:
        value: Any = text
        numeric = param.kind in (INT, NUMBER, LEVEL) or (
            param.kind == CHOICE and all(isinstance(c, int) for c in param.choices or ())
        )
        if numeric and not (param.kind == LEVEL and text.strip().lower() == OFF):
            try:
                value = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected {param.expected()}, got {text!r}") from None
            if value.is_integer() and param.kind != NUMBER:
                value = int(value)
        try:
            return param.check(value)
        except InvalidRequest as exc:
            raise argparse.ArgumentTypeError(exc.detail) from None

    convert.__name__ = param.kind  # argparse names the type in some messages
    return convert
