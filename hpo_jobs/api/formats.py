"""The API's own body formats: a create's JSON read by the import page's reader, and CSV."""

from __future__ import annotations

import json

from rest_framework import exceptions, parsers, renderers

from hpo_jobs.wizard.forms import MAX_IMPORT_BYTES, parse_request_text


class RequestParser(parsers.BaseParser):
    """JSON, read as the import page reads a pasted request: the same limits and messages (too
    large, too deeply nested, not an object), as a 400 problem instead of a server error."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_IMPORT_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_IMPORT_BYTES:
            raise exceptions.ParseError(f"The request is larger than {MAX_IMPORT_BYTES // 1000} kB.")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise exceptions.ParseError("The body is not UTF-8 text.") from None
        if not text.strip():
            return {}  # as an empty body: the missing "request" is named
        parsed, problem = parse_request_text(text)
        if problem:
            raise exceptions.ParseError(problem.replace("The request must be", "The body must be"))
        return parsed


class CSVRenderer(renderers.BaseRenderer):
    """text/csv for the training jobs export (the view streams the CSV itself); an error is its
    problem document as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""
