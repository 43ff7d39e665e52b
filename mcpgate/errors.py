"""The one exception type that reaches the user: bad input, named by field."""


class UsageError(Exception):
    """Invalid input; printed as one line naming the field (and file:line when known)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
