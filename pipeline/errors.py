"""The one exception type that means "the user gave us something we cannot use"."""


class InputError(Exception):
    """Bad input from the user: a missing or unreadable file, a bad option value.

    The message is one line that says what is wrong, with which file, and what to do. The CLI
    prints it without a traceback and exits with status 2; library callers can catch it.
    """


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """An :class:`InputError` unless ``value`` is one of ``choices`` (named ``name`` in the message)."""
    if value not in choices:
        raise InputError(f"unknown {name} '{value}'; use one of {', '.join(choices)}")
