"""The one exception type that reaches the user: bad input, named by field."""


class UsageError(Exception):
    """Invalid input; printed as one line naming the field (and file:line when known).

    The line is guaranteed: whatever user text a message repeats, a line break or a control
    character in it is shown escaped (``\\n``, ``\\x1b``), never written to the terminal.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(one_line(f"{field}: {message}" if field else message))
        self.field = field
        self.message = message


def one_line(text: str) -> str:
    """``text`` with every unprintable character (line breaks, controls, lone surrogates) escaped."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def field_name(part: object) -> str:
    """One part of a field path as a message shows it: as written, or quoted when empty or unprintable."""
    text = str(part)
    return text if text and text.isprintable() else repr(text)
