"""An argument parser that answers a mistyped option or command with the nearest valid one.

argparse's own answer to ``--durration 5`` is "unrecognized arguments: --durration 5", from the top-level
parser, which does not know the options of the command that was meant. Here every parser of the command
line (the main one and, through ``add_subparsers``, every subcommand's, nested ones included) notes the
options it could not place and the closest of its own (difflib), and the error names them:
"--durration: did you mean --duration?", with the usage of the command that was typed.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

_HINTS = "_did_you_mean"  # namespace attribute: (the parser that met them, {unknown option: suggestion})
CUTOFF = 0.6  # difflib's similarity below which nothing is suggested (a guess would mislead more than help)


def nearest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (difflib's ratio), or None when none is close."""
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=CUTOFF)
    return found[0] if found else None


class SuggestingParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` that suggests the nearest option or command for a mistyped one.

    ``add_subparsers`` makes its parsers of the parent's class, so one of these at the top covers
    every command."""

    def _options(self) -> list[str]:
        return [s for action in self._actions for s in action.option_strings if s.startswith("--")]

    def _unknown(self, args: Sequence[str]) -> dict[str, str]:
        """Option-like words in ``args`` that this parser does not take, each with its nearest option."""
        options = self._options()
        hints: dict[str, str] = {}
        for arg in args:
            if not arg.startswith("--") or arg == "--":
                continue
            word = arg.split("=", 1)[0]
            if word in options or sum(o.startswith(word) for o in options) == 1:  # argparse takes unique prefixes
                continue
            match = nearest(word, options)
            if match is not None:
                hints.setdefault(word, match)
        return hints

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._seen = list(args) if args is not None else None
        ns, extras = super().parse_known_args(args, namespace)
        if extras and not getattr(ns, _HINTS, None):  # the innermost parser that met them answers
            hints = self._unknown(extras)
            if hints:
                setattr(ns, _HINTS, (self, hints))
        return ns, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        ns, extras = self.parse_known_args(args, namespace)
        found = vars(ns).pop(_HINTS, None)
        if extras:
            parser, hints = found if found else (self, {})
            parser.error(f"unrecognized arguments: {' '.join(extras)}{_said(hints)}")
        return ns

    def error(self, message: str) -> NoReturn:
        """argparse's error, with the nearest option for each unknown one among this parser's arguments:
        a missing required argument or an unknown command is reported before the unrecognized options are,
        and the mistyped option is often why (``train ldm --dat x`` leaves ``--data`` missing)."""
        seen = getattr(self, "_seen", None)
        if "did you mean" not in message and seen:
            message += _said(self._unknown(seen))
        super().error(message)

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """A command name not among the choices: argparse's error, plus the nearest command."""
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            choices = [c for c in (action.choices or ()) if isinstance(c, str)]
            match = nearest(str(value), choices) if isinstance(value, str) else None
            if match is None:
                raise
            raise argparse.ArgumentError(action, f"{exc.message}; did you mean {match!r}?") from None


def _said(hints: dict[str, str]) -> str:
    return "".join(f"; {word}: did you mean {match}?" for word, match in hints.items())
