"""Drive the create wizard through Django's test client as a browser would: read the page's form,
change some fields, press a named button, and post what the page holds."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

from hpo_jobs.backends import get_backend


class _FormReader(HTMLParser):
    """The fields of one <form> as a browser submits them, and its buttons."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.action = ""
        self.fields: list[tuple[str, str]] = []
        self.buttons: list[tuple[str, str, str, bool]] = []  # (name, value, text, disabled)
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self._button: tuple[str, str, bool] | None = None
        self._option_value: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside, self.action = True, a.get("action", "")
            return
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if not name or "disabled" in a or kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((name, a.get("value", "on")))
            else:
                self.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []
        elif tag == "button":
            self._button = (name or "", a.get("value", ""), "disabled" in a)
            self._text = []

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and self._options:
                chosen = [self._options[0][0]]  # a browser submits the first option when none is selected
            self.fields.extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            self.fields.append((self._textarea, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "button" and self._button is not None:
            name, value, disabled = self._button
            self.buttons.append((name, value, " ".join("".join(self._text).split()), disabled))
            self._button = None

    def handle_data(self, data):
        if self._textarea is not None or self._button is not None:
            self._text.append(data)


class WizardPage:
    """One page of the wizard as the test client received it."""

    def __init__(self, client, response):
        self.client = client
        self.response = response
        self.status = response.status_code
        self.html = response.content.decode()
        reader = _FormReader("wizard-form")
        reader.feed(self.html)
        self.action = unescape(reader.action)
        self.fields = reader.fields
        self.buttons = reader.buttons

    # -- reading --
    def value(self, name: str) -> str | None:
        values = [v for n, v in self.fields if n == name]
        return values[-1] if values else None

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.fields if n == name]

    @property
    def step(self) -> str:
        return next(v for n, v in self.fields if n.endswith("-current_step"))

    @property
    def run(self) -> str:
        return re.search(r"run=([A-Za-z0-9_-]+)", self.action).group(1)

    @property
    def drafts(self) -> list[dict]:
        return json.loads(self.value("definitions-drafts"))

    def errors(self) -> list[str]:
        """Every error message on the page (fields, rows and the form)."""
        found = re.findall(r'<p class="field-error" role="alert">(.*?)</p>', self.html, re.S)
        found += re.findall(r'<ul class="errorlist[^"]*">(.*?)</ul>', self.html, re.S)
        found += re.findall(r'<div class="form-errors" role="alert">(.*?)</div>', self.html, re.S)
        for listing in re.findall(r'<ul class="problem-list">(.*?)</ul>', self.html, re.S):
            found += re.findall(r"<li>(.*?)</li>", listing, re.S)
        return [unescape(re.sub(r"<[^>]+>", " ", text)).strip() for text in found]

    def error_near(self, field_name: str) -> list[str]:
        """The errors shown with the input called ``field_name``: in its table cell, or its field block."""
        match = re.search(rf'name="{re.escape(field_name)}"', self.html)
        assert match, f"no field {field_name} on the page"
        start = match.start()
        cell = self.html.rfind("<td", 0, start)
        block = self.html.rfind('<div class="field', 0, start)
        if cell > block:
            end = self.html.find("</td>", start)
        else:
            ends = [i for i in (self.html.find('<div class="field', start), self.html.find("</fieldset>", start),
                                self.html.find("</section>", start)) if i != -1]
            end = min(ends) if ends else len(self.html)
        chunk = self.html[start:end]
        return [unescape(re.sub(r"<[^>]+>", "", e)).strip()
                for e in re.findall(r'<p class="field-error" role="alert">(.*?)</p>', chunk, re.S)]

    def row_errors(self, table_prefix: str, row: int) -> list[str]:
        """Errors shown under a row of a table (a problem with the whole row)."""
        match = re.search(rf'name="{re.escape(table_prefix)}-{row}-', self.html)
        assert match
        end = self.html.find("</tr>", match.start())
        following = self.html[end:end + 2000]
        if not following.startswith('</tr>\n          <tr class="row-errors">') and 'class="row-errors"' not in following[:200]:
            return []
        chunk = following[: following.find("</tr>", 5)]
        return [unescape(e).strip() for e in re.findall(r'<p class="field-error" role="alert">(.*?)</p>', chunk, re.S)]

    def table_errors(self, table_prefix: str) -> list[str]:
        """Errors shown above a table (about the table as a whole)."""
        match = re.search(rf'name="{re.escape(table_prefix)}-TOTAL_FORMS"', self.html)
        assert match
        ends = [i for i in (self.html.find("<table", match.end()), self.html.find("<button", match.end())) if i != -1]
        chunk = self.html[match.end(): min(ends)]
        return [unescape(e).strip() for e in re.findall(r'<p class="field-error" role="alert">(.*?)</p>', chunk, re.S)]

    def hp_index(self, name: str) -> int:
        """The row number of hyperparameter ``name`` in the open definition's table."""
        for field, value in self.fields:
            match = re.fullmatch(r"def-hp-(\d+)-name", field)
            if match and value == name:
                return int(match.group(1))
        raise AssertionError(f"no hyperparameter row {name}")

    def request_json(self) -> dict:
        """The request shown on the review step."""
        match = re.search(r'<code id="request-json">(.*?)</code>', self.html, re.S)
        assert match, "no request on this page"
        return json.loads(unescape(match.group(1)))

    # -- acting --
    def type(self, changes: dict) -> "WizardPage":
        """Change fields on the page without posting it (as typing does)."""
        for name, value in changes.items():
            self.fields = [(n, v) for n, v in self.fields if n != name]
            if value is not None:
                values = value if isinstance(value, list) else [str(value)]
                self.fields.extend((name, v) for v in values)
        return self

    def submit(self, button: tuple[str, str] | None = None, changes: dict | None = None, follow: bool = False,
               **more) -> "WizardPage":
        """Post the page's form with ``changes`` (field name -> value; a list for several values; None
        removes; keyword names use __ for -), pressing ``button`` (name, value), or Next when None."""
        changes = {**(changes or {}), **{key.replace("__", "-"): value for key, value in more.items()}}
        data: dict[str, list[str]] = {}
        for name, value in self.fields:
            data.setdefault(name, []).append(value)
        for name, value in changes.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value if isinstance(value, list) else [str(value)]
        if button is not None:
            available = [(n, v) for n, v, _, disabled in self.buttons if not disabled]
            assert button in available, f"no enabled button {button} on the page: {available}"
            data[button[0]] = [button[1]]
        response = self.client.post(self.action, data, follow=follow)
        return WizardPage(self.client, response)

    def next(self, changes: dict | None = None, **more) -> "WizardPage":
        return self.submit(changes=changes, **more)

    def back(self, changes: dict | None = None, **more) -> "WizardPage":
        prev = [v for n, v, text, _ in self.buttons if n == "wizard_goto_step" and text == "Back"]
        return self.submit(button=("wizard_goto_step", prev[0]), changes=changes, **more)

    def act(self, value: str, changes: dict | None = None, **more) -> "WizardPage":
        """Press one of the definitions step's buttons (def-action=value)."""
        return self.submit(button=("def-action", value), changes=changes, **more)

    def goto(self, value: str) -> "WizardPage":
        """Press an edit link or step button (wizard_goto_step=value)."""
        return self.submit(button=("wizard_goto_step", value))


def start(client, slug: str = "demo") -> WizardPage:
    """Open a new run of the wizard."""
    page = WizardPage(client, client.get(f"/projects/{slug}/hpo-jobs/create/"))
    assert page.status == 200, page.html[:2000]
    return page


def data_dir(name: str = "wizard-tests", project: str = "demo") -> Path:
    """Folders the local engine may read (train and validation), made under the project's first data folder."""
    root = get_backend("local").data_folders(project)[0] / name
    for channel in ("train", "validation"):
        (root / channel).mkdir(parents=True, exist_ok=True)
        (root / channel / "data.csv").write_text("1,0.5,0.25\n0,0.1,0.2\n")
    return root


def fill_channels(page: WizardPage, root: Path) -> dict[str, str]:
    """Changes pointing the open definition's channels at ``root``'s train and validation folders."""
    changes = {}
    for index in range(int(page.value("def-ch-TOTAL_FORMS"))):
        name = page.value(f"def-ch-{index}-name")
        changes[f"def-ch-{index}-uri"] = (root / name).as_uri() + "/"
    return changes


def import_(client, payload, **extra):
    """Post ``payload`` (a request, or text) to the demo project's import page."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post("/projects/demo/hpo-jobs/import/", {"request_json": text, **extra})
