"""URL converters for job and training job names."""


class NameConverter:
    """Like Django's `str`, minus the NUL character: PostgreSQL refuses it in a text value, so a name
    holding one could only fail a query; the resolver answers 404 instead."""

    regex = "[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
