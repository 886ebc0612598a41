"""The ``hpo`` command: log in, list projects and jobs, create, watch, stop, read the best
training job and export training jobs, all through the portal's API."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import config as config_store
from .client import CliError, Portal

app = typer.Typer(help="HPO Portal from the command line.", no_args_is_help=True, add_completion=False)
jobs_app = typer.Typer(help="HPO jobs of a project.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")

out = Console()
err = Console(stderr=True)


@app.callback()
def _consoles() -> None:
    """Fresh consoles for each run, sized to the terminal (or COLUMNS) of that run."""
    global out, err
    out, err = Console(), Console(stderr=True)

# `hpo jobs watch` (and `create --wait`) exit with the job's end: 0 only when it completed.
EXIT_CODES = {"Completed": 0, "Failed": 10, "Stopped": 11, "Deleted": 12}
EXIT_OTHER_END = 13
EXIT_ERROR = 1  # the portal could not be reached, refused the token or the request, or has no such job

ProjectOption = typer.Option(None, "--project", "-p", help="The project's slug (default: the one saved by login).",
                             envvar="HPO_PROJECT")


# ---- plumbing ---------------------------------------------------------------------------------
def _portal() -> Portal:
    import os

    saved = config_store.load()
    return Portal(os.environ.get("HPO_URL") or saved.url, os.environ.get("HPO_TOKEN") or saved.token)


def _project(project: str | None) -> str:
    chosen = project or config_store.load().project
    if not chosen:
        raise CliError("Which project? Give --project SLUG, or save a default with `hpo login --project SLUG`.")
    return chosen


def _fail(exc: CliError) -> None:
    err.print(f"[bold red]Error:[/] {exc}", highlight=False)
    for problem in exc.problems:
        path = problem.get("path") or "(body)"
        err.print(f"  • [bold]{path}[/]: {problem.get('message', '')}", highlight=False)
    raise typer.Exit(EXIT_ERROR)


def _run(fn, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except CliError as exc:
        _fail(exc)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# ---- login and projects -----------------------------------------------------------------------
@app.command()
def login(
    url: str = typer.Option(..., prompt="Portal URL", help="The portal's address, e.g. http://127.0.0.1:8000"),
    token: str = typer.Option(..., prompt="API token", hide_input=True,
                              help="A personal API token, made on the portal's API tokens page."),
    project: Optional[str] = typer.Option(None, "--project", "-p", help="A default project for the other commands."),
) -> None:
    """Check the URL and token with the portal, then save them (and a default project)."""
    portal = Portal(url, token) if url and token else None

    def check() -> list[dict[str, Any]]:
        if portal is None:
            raise CliError("Give both the portal's URL and a token.")
        return portal.get("projects/")

    projects = _run(check)
    slugs = [p["slug"] for p in projects]
    if project and project not in slugs:
        _fail(CliError(f"You are in no project {project!r}; yours: {', '.join(slugs) or 'none'}."))
    path = config_store.save(config_store.Config(url=url.rstrip("/"), token=token, project=project or ""))
    out.print(f"Logged in to {url} ({len(projects)} project{'s' if len(projects) != 1 else ''}). Saved to {path}.",
              highlight=False)


@app.command()
def projects() -> None:
    """The projects you belong to."""
    rows = _run(lambda: _portal().get("projects/"))
    table = Table("Project", "Name", "Role")
    for p in rows:
        table.add_row(p["slug"], p["name"], p["role"] or "staff")
    out.print(table)


# ---- jobs -------------------------------------------------------------------------------------
@jobs_app.command("list")
def jobs_list(
    project: Optional[str] = ProjectOption,
    status: Optional[str] = typer.Option(None, help="A status, or 'active'."),
    search: Optional[str] = typer.Option(None, "--search", "-q", help="Part of the job name."),
    sort: Optional[str] = typer.Option(None, help="e.g. name, -created, -best."),
    page: int = typer.Option(1, min=1),
) -> None:
    """A project's jobs, newest first."""
    def fetch():
        slug = _project(project)
        return _portal().get(f"projects/{slug}/jobs/", status=status, q=search, sort=sort, page=page)

    data = _run(fetch)
    table = Table("Job", "Status", "Progress", "Best", "Metric", "Strategy", "Creator", "Created")
    for job in data["results"]:
        total = job["max_training_jobs"]
        table.add_row(job["name"], job["status"], f"{job['completed_count']}/{total if total is not None else '?'}",
                      _value(job["best_objective_value"]), job["objective_metric"] or "", job["strategy"],
                      job["created_by"] or "—", job["created_at"][:19].replace("T", " "))
    out.print(table)
    out.print(f"Page {data['page']} of {data['pages']} · {data['count']} job{'s' if data['count'] != 1 else ''}",
              highlight=False)


@jobs_app.command("create")
def jobs_create(
    file: Path = typer.Option(..., "--file", "-f", exists=True, dir_okay=False, readable=True,
                              help="A CreateHyperParameterTuningJob request as JSON."),
    project: Optional[str] = ProjectOption,
    name: Optional[str] = typer.Option(None, help="A name replacing the request's."),
    wait: bool = typer.Option(False, "--wait", help="Watch the job until it ends; exit code by its end."),
    idempotency_key: Optional[str] = typer.Option(
        None, help="A key making a retried create safe (one is made for each run otherwise)."),
    interval: float = typer.Option(2.0, min=0.2, help="Seconds between status checks with --wait."),
    timeout: Optional[float] = typer.Option(None, min=1, help="With --wait: give up after this many seconds (exit 1)."),
) -> None:
    """Create a job from a request file (the portal checks it by the import page's rules)."""
    try:
        request = json.loads(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        _fail(CliError(f"{file} is not a JSON request: {exc}"))

    def create():
        slug = _project(project)
        body = {"request": request, **({"name": name} if name else {})}
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return slug, _portal().post(f"projects/{slug}/jobs/", body, headers=headers)

    slug, job = _run(create)
    out.print(f"Created job [bold]{job['name']}[/] in {slug}: {job['status']}. {job['links']['web']}", highlight=False)
    if wait:
        raise typer.Exit(_watch(slug, job["name"], interval, timeout))


def _best_text(job: dict[str, Any]) -> str:
    best = job.get("best_training_job")
    if not best or best.get("value") is None:
        return "best: —"
    return f"best {best.get('metric') or job['objective']['metric']}: {_value(best['value'])}"


def _watch(slug: str, name: str, interval: float, timeout: float | None = None) -> int:
    portal = _run(_portal)
    path = Portal.job_path(slug, name)
    deadline = time.monotonic() + timeout if timeout else None
    columns = [TextColumn("[bold]{task.fields[name]}[/]"), TextColumn("{task.fields[status]}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("{task.fields[best]}"), TimeElapsedColumn()]
    with Progress(*columns, console=out, transient=False) as progress:
        task = progress.add_task("job", name=name, status="", best="", total=None)
        while True:
            job = _run(portal.get, path)
            p = job["progress"]
            progress.update(task, completed=p["completed"], total=p["total"], status=job["status"], best=_best_text(job))
            if not job["active"]:
                break
            if deadline is not None and time.monotonic() > deadline:
                progress.stop()
                _fail(CliError(f"{name} is still {job['status']} after {timeout:g} s."))
            time.sleep(interval)
    code = EXIT_CODES.get(job["status"], EXIT_OTHER_END)
    line = f"{name} ended {job['status']}; {_best_text(job)}"
    if job.get("failure_reason"):
        line += f" ({job['failure_reason']})"
    (out if code == 0 else err).print(line, highlight=False)
    return code


@jobs_app.command("watch")
def jobs_watch(
    name: str,
    project: Optional[str] = ProjectOption,
    interval: float = typer.Option(2.0, min=0.2, help="Seconds between status checks."),
    timeout: Optional[float] = typer.Option(None, min=1, help="Give up after this many seconds (exit 1)."),
) -> None:
    """A live progress bar and the best objective so far, until the job ends.
    Exit code: 0 Completed, 10 Failed, 11 Stopped, 12 Deleted, 1 on an error."""
    slug = _run(_project, project)
    raise typer.Exit(_watch(slug, name, interval, timeout))


@jobs_app.command("best")
def jobs_best(
    name: str,
    project: Optional[str] = ProjectOption,
    as_json: bool = typer.Option(False, "--json", help="The best training job as JSON."),
) -> None:
    """The best training job: its objective and the hyperparameters that won."""
    job = _run(lambda: _portal().get(Portal.job_path(_project(project), name)))
    best = job["best_training_job"]
    if as_json:
        sys.stdout.write(json.dumps(best, indent=2) + "\n")
        return
    if not best:
        out.print(f"{name} has no best training job yet ({job['status']}).", highlight=False)
        return
    out.print(f"[bold]{best['name']}[/] · {best['metric']} = {_value(best['value'])}"
              f"{' (estimated from stored results)' if job['best_estimated'] else ''}", highlight=False)
    table = Table("Hyperparameter", "Value", "Kind")
    for key, value in best["tuned_hyperparameters"].items():
        table.add_row(key, value, "tuned")
    for key, value in best["static_hyperparameters"].items():
        table.add_row(key, value, "static")
    out.print(table)


@jobs_app.command("stop")
def jobs_stop(name: str, project: Optional[str] = ProjectOption) -> None:
    """Stop a job (its creator, a project owner or staff)."""
    job = _run(lambda: _portal().post(Portal.job_path(_project(project), name) + "stop/"))
    out.print(f"{job['name']}: {job['status']}.", highlight=False)


@app.command("training-jobs")
def training_jobs(
    name: str,
    project: Optional[str] = ProjectOption,
    csv: bool = typer.Option(False, "--csv", help="Every training job as CSV (to stdout, or --output)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", dir_okay=False, help="Write the CSV here."),
    limit: int = typer.Option(50, min=1, max=1000, help="Without --csv: how many to list, best first."),
) -> None:
    """A job's training jobs: a table of the best ones, or all of them as CSV."""
    path = Portal.job_path(_run(_project, project), name)
    if csv:
        response = _run(lambda: _portal().request("GET", path + "training-jobs.csv", headers={"Accept": "text/csv"}))
        if output:
            output.write_bytes(response.content)
            err.print(f"Wrote {output}.", highlight=False)
        else:
            sys.stdout.write(response.text)
        return
    page = _run(lambda: _portal().get(path + "training-jobs/", page_size=limit))
    table = Table("Training job", "Status", "Objective", "Hyperparameters")
    for tj in page["results"]:
        table.add_row(tj["name"], tj["status"], _value(tj["objective_value"]),
                      ", ".join(f"{k}={v}" for k, v in tj["tuned_hyperparameters"].items()))
    out.print(table)


def run() -> None:
    """The console script's entry point."""
    app(prog_name="hpo")
