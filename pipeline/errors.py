"""The exception that means "the user gave us something we cannot use", its kinds, and the helpers
that turn common mistakes into it.

Every such error is an :class:`InputError`; its class says what kind of mistake it is, so that a
caller decides by kind, never by the message's words: the CLI prints the message, the web app
answers each kind in its own words and HTTP status."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: How a message marks an option it names (:func:`option`): the name, and a value after a space.
_OPTION = re.compile(r"\u27e8([a-z_]+)(?: ([^\u27e9]*))?\u27e9")
#: Spells an option for a reader: its name, and the value the message gives it (or None).
Spelling = Callable[[str, "str | None"], str]


def option(name: str, value: str | None = None) -> str:
    """The option ``name`` (a parameter's name, ``label_map``), with ``value`` when the message
    suggests one, as a message names it: each reader of the error spells it its own way
    (:meth:`InputError.worded`), the command line as its flag (``--label-map C=S``), a Python
    caller as the parameter (``label_map=C=S``)."""
    return f"\u27e8{name}{'' if value is None else ' ' + value}\u27e9"


def as_parameter(name: str, value: str | None) -> str:
    """An option as a Python caller names it: the parameter, and ``=value`` when there is one."""
    return name if value is None else f"{name}={value}"


class InputError(Exception):
    """Bad input from the user: a missing or unreadable file, a bad option value.

    The message is one line that says what is wrong, with which file, and what to do. The CLI
    prints it without a traceback and exits with status 2; library callers can catch it, or one of
    its kinds below. ``argument`` names the parameter the mistake concerns, when it is one.
    """

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument

    def worded(self, spell: Spelling = as_parameter) -> str:
        """The message, each option it names (:func:`option`) spelt by ``spell`` (by default, as
        a parameter: :func:`as_parameter`)."""
        message = str(self.args[0]) if self.args else ""
        return _OPTION.sub(lambda found: spell(found.group(1), found.group(2)), message)

    def __str__(self) -> str:
        return self.worded()


class TooLarge(InputError):
    """More than a limit allows: pixels, seconds, bytes. ``limit`` is that limit."""

    def __init__(self, message: str, *, limit: float, argument: str | None = None) -> None:
        super().__init__(message, argument=argument)
        self.limit = limit


class Empty(InputError):
    """Nothing to work on: an empty file, an image of zero pixels, a clip or folder with no frames."""


class Unsupported(InputError):
    """Not a kind of input we read: not an image, not a video, a format we lack a reader for."""


class NoPictures(Unsupported):
    """A media file with no video stream (sound only)."""


class Damaged(InputError):
    """A file of a kind we read that cannot be read whole: cut short, or corrupt."""


class Mismatch(InputError):
    """Inputs that do not fit together: sizes, labels, a model and its masks."""


def check_pixels(name: str, width: int, height: int, limit: int, *, fix: str) -> None:
    """A :class:`TooLarge` naming ``name`` when a picture of ``width`` x ``height`` has more than
    ``limit`` pixels (the one wording of the pixel limit, whatever the picture: a file, a frame, a
    size asked for); ``fix`` says what to do."""
    if width * height > limit:
        raise TooLarge(
            f"{name}: {width}x{height} is {width * height:,} pixels, over the limit of {limit:,}; {fix}",
            limit=limit,
            argument="max_pixels",
        )


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """An :class:`InputError` unless ``value`` is one of ``choices`` (named ``name`` in the message)."""
    if value not in choices:
        raise InputError(f"unknown {name} '{value}'; use one of {', '.join(choices)}")


def check_finite_non_negative(name: str, value: float) -> None:
    """An :class:`InputError` unless ``value`` is a finite number >= 0 (NaN and infinity are refused:
    they would poison a loss, and a record holding them is not JSON). ``name`` is the option's spelling."""
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"{name} must be a finite number >= 0, got {value}")


def read_yaml(path: str | os.PathLike[str], *, fix: str, text: str | None = None) -> Any:
    """The YAML file ``path`` parsed (``text``, when given, is its contents, already read).

    A file that cannot be read or parsed is an :class:`InputError` in one line: the file, the line
    and column, what the parser expected there, and ``fix`` (what to do). PyYAML's own report runs
    over several lines, quoting the file around the mistake."""
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8") if text is None else text)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__}); {fix}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (UTF-8); {fix}") from None
    except yaml.MarkedYAMLError as exc:
        raise InputError(f"{path}: {_yaml_mistake(exc)}; {fix}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: its place, from its position
        before = (text if text is not None else Path(path).read_text(encoding="utf-8"))[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        character = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise InputError(f"{path}: line {line}, column {column}: character {character} is not allowed; {fix}") from None
    except yaml.YAMLError:
        raise InputError(f"{path}: not valid YAML; {fix}") from None


def _yaml_mistake(error: Any) -> str:
    """``line L, column C: problem (context from line K)`` of a PyYAML error that has marks."""
    mark, problem = error.problem_mark, " ".join(str(error.problem or "not valid YAML").split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = " ".join(str(error.context or "").split())
    if context and error.context_mark is not None and (mark is None or error.context_mark.line != mark.line):
        context += f" from line {error.context_mark.line + 1}"
    return f"{where}{problem}{f' ({context})' if context else ''}"
