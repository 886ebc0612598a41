"""Metric regexes cannot freeze a reader: every one runs on RE2 over lines cut to a bounded length,
a pattern RE2 cannot run is refused at submit next to its field, and the local engine reads each
training job's metrics once, as the log is written, and stores them for the pages.

A catastrophic pattern would backtrack for ever under Python's ``re``; here each such match runs
in a child process with a generous timeout, so a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from hpo_jobs.models import SiteSettings
from hpo_jobs.sagemaker import catalogue, spec
from hpo_jobs.sagemaker.metrics import MAX_POINTS, compile_definitions, match_line, parse_text

from .factories import tuning_request
from .local_engine_harness import Engine, custom
from .wizard_helpers import data_dir, fill_channels, start

# The issue's pattern: nested quantifiers, exponential for a backtracking engine on a line that
# almost matches.
NESTED = r"^(?:(?:[a-z0-9=. _:]+)+)+#([0-9]+)"
ALMOST = "epoch=1 loss=0.5 " + "a" * 2_500 + "!"
GENEROUS_S = 120  # far above what a linear match needs; a backtracking one would not finish in days


def run_isolated(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (it prints one JSON line) and return what it printed."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=GENEROUS_S, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_metric_regex_is_compiled_by_re2():
    compiled = compile_definitions([{"Name": "m", "Regex": NESTED}])
    assert type(compiled[0][1]).__module__ == "re2"


def test_the_issues_nested_regex_on_a_long_line_completes_and_still_matches():
    result = run_isolated(f"""
        import json
        from hpo_jobs.sagemaker.metrics import compile_definitions, match_line
        defs = compile_definitions([{{"Name": "m", "Regex": {NESTED!r}}}])
        misses = [match_line({ALMOST!r}, defs) for _ in range(200)]
        hit = match_line("epoch=1 loss=0.5 value#42", defs)
        print(json.dumps({{"misses": misses[0], "hit": hit}}))
    """)
    assert result == {"misses": [], "hit": [["m", 42.0]]}


def test_the_xgboost_regexes_on_a_log_with_a_2500_character_objective_complete():
    # The built-in XGBoost echoes its hyperparameters; the catalogue's `.*...#011...:(...).*`
    # regexes are cubic for a backtracking engine on such a line.
    result = run_isolated(f"""
        import json
        from hpo_jobs.sagemaker import catalogue
        from hpo_jobs.sagemaker.metrics import parse_text
        definitions = list(catalogue.get("xgboost").metric_definitions)
        echo = "[0]\\tobjective: " + "x" * 2_499 + "\\t:"
        log = "\\n".join([echo] * 200 + ["[1]\\ttrain-auc:0.91\\tvalidation-auc:0.88"])
        print(json.dumps(parse_text(log, definitions)))
    """)
    assert result == {"train:auc": [0.91], "validation:auc": [0.88]}


def test_a_line_is_matched_on_its_first_part_only():
    defs = compile_definitions([{"Name": "loss", "Regex": r"loss=([0-9.]+)"}])
    assert match_line("loss=0.5" + " " * 10, defs) == [("loss", 0.5)]
    assert match_line(" " * 100_000 + "loss=0.5", defs) == []


def test_a_metric_keeps_its_last_values_only():
    log = "".join(f"loss={i}\n" for i in range(MAX_POINTS + 10))
    values = parse_text(log, [{"Name": "loss", "Regex": r"loss=([0-9]+)"}])["loss"]
    assert len(values) == MAX_POINTS and values[-1] == MAX_POINTS + 9 and values[0] == 10


@pytest.mark.parametrize("regex,why", [
    (r"(a)\1=([0-9.]+)", None),  # two groups: refused for that first
    (r"(?<=loss=)([0-9.]+)", "RE2"),
    (r"loss=(?=[0-9])([0-9.]+)", "RE2"),
    (r"(x)\1", "RE2"),
    (r"(?:[a-z]{1,1000}){1,1000}=([0-9.]+)", "RE2"),
    (r"(?:[a-z0-9]{20}){40}=([0-9.]+)", "too complex"),
])
def test_the_validator_refuses_what_re2_cannot_run_with_why(regex, why):
    problem = spec.regex_problem(regex)
    assert problem is not None
    if why:
        assert why in problem, problem


def test_the_validator_accepts_the_issues_regex_and_every_catalogue_regex():
    assert spec.regex_problem(NESTED) is None
    for algorithm in catalogue.ALGORITHMS.values():
        for item in algorithm.metric_definitions:
            assert spec.linear_regex_problem(item["Regex"]) is None, (algorithm.key, item)


# ---- at submit -------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("regex", [r"loss=(?=[0-9])([0-9.]+)", r"(?<=validation_accuracy=)([0-9.]+)"])
def test_the_wizard_refuses_a_lookaround_next_to_the_regex(bob_client, project, regex):
    SiteSettings.objects.filter(pk=1).update(ecr_enabled=True)
    page = start(bob_client).next(job__name="re2-job")
    page = page.type(fill_channels(page, data_dir()))
    page = page.act("load-defaults", {"def-algorithm_source": "custom", "def-image": "hpo-portal/example-custom:latest"})
    page = page.act("add-row:hyperparameters", {
        "def-md-0-name": "validation:accuracy", "def-md-0-regex": regex, "def-objective_metric": "validation:accuracy",
    })
    page = page.next({"def-hp-0-name": "lr", "def-hp-0-min": "0.1", "def-hp-0-max": "1"})
    assert page.step == "definitions"
    near = page.error_near("def-md-0-regex")
    assert any("linear-time regex engine (RE2)" in e and "lookahead or lookbehind" in e for e in near), near


# ---- the local engine reads once, as the log is written ------------------------------------------------
LONG_LINES = """
    import sys
    print("objective: " + "a" * 2_500 + "!", flush=True)
    for epoch in range(1, 4):
        print(f"epoch={epoch} loss={1.0 / epoch:.4f} tag#{epoch}", flush=True)
"""


def test_the_supervisor_reads_a_nested_regex_over_long_lines_and_stores_the_series(engine):  # noqa: F811
    path = engine.root / "long_lines.py"
    path.write_text(textwrap.dedent(LONG_LINES))
    image = "test.local/long-lines:1"
    from django.conf import settings

    settings.HPO_LOCAL_CUSTOM_IMAGES = {**settings.HPO_LOCAL_CUSTOM_IMAGES, image: [sys.executable, str(path)]}
    metrics = [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}, {"Name": "tag", "Regex": NESTED}]
    training = custom(engine, "epochs", metrics=metrics, runtime=60)
    training["AlgorithmSpecification"]["TrainingImage"] = image
    engine.backend.create_tuning_job(tuning_request("nested", training, jobs=1, parallel=1, objective=("Minimize", "loss")))
    described = engine.wait("nested", timeout=GENEROUS_S)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described
    name = engine.all_training_jobs("nested")[0]["TrainingJobName"]
    # The series are what the supervisor stored: the backend reads them, it does not parse the log.
    stored = engine.backend.get_training_job_metrics(name, [])
    assert stored == {"loss": [1.0, 0.5, 0.3333], "tag": [1.0, 2.0, 3.0]}


CHATTER = """
    import random
    rng = random.Random(1)
    while True:
        print("".join(rng.choice("abcdefghij0123456789 =.:") for _ in range(2_500)), flush=True)
"""
HOSTILE = [
    {"Name": "loss", "Regex": NESTED},
    {"Name": "other", "Regex": r"[a-z0-9=. :]*[a-e][a-z0-9=. :]{95}#([0-9]+)"},  # DFA-hostile, accepted
]


def test_a_hostile_regex_over_endless_long_lines_costs_the_supervisor_a_bounded_time(engine, settings):  # noqa: F811
    assert all(spec.regex_problem(m["Regex"]) is None for m in HOSTILE)  # what a member may submit
    path = engine.root / "algorithms" / "chatter.py"
    path.write_text(textwrap.dedent(CHATTER))
    image = "test.local/chatter:1"
    settings.HPO_LOCAL_CUSTOM_IMAGES = {**settings.HPO_LOCAL_CUSTOM_IMAGES, image: [sys.executable, str(path)]}
    settings.HPO_LOCAL_MAX_LOG_MB = 0  # the matching budget alone ends the first training job
    settings.HPO_LOCAL_MAX_METRICS_CPU_S = 3
    training = custom(engine, "epochs", metrics=HOSTILE, runtime=600)
    training["AlgorithmSpecification"]["TrainingImage"] = image
    engine.backend.create_tuning_job(tuning_request("hostile", training, jobs=3, parallel=1))
    engine.wait("hostile", timeout=GENEROUS_S, until=lambda d: d["TrainingJobStatusCounters"]["NonRetryableError"] >= 1)
    failed = [j for j in engine.all_training_jobs("hostile") if j["TrainingJobStatus"] == "Failed"]
    assert "used up their 3 s of matching on its log (HPO_LOCAL_MAX_METRICS_CPU_S)" in failed[0]["FailureReason"]
    # The supervisor, busy matching the next job's log, still acts on Stop.
    engine.backend.stop_tuning_job("hostile")
    described = engine.wait("hostile", timeout=GENEROUS_S)
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert engine.state("hostile")["launches"] == 1  # the supervisor never died (nor was restarted)
