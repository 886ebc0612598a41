"""The wizard's messages read as sentences, say what is meant, and sit where a person can see them."""

from __future__ import annotations

import re

import pytest

from .wizard_helpers import data_dir, fill_channels, start

pytestmark = pytest.mark.django_db


def test_a_builtin_the_engine_cannot_run_says_so_next_to_the_algorithm(bob_client, project, settings):
    settings.HPO_BACKEND = "local"
    page = start(bob_client).next(job__name="kmeans-here")
    page = page.act("load-defaults", {"def-algorithm": "kmeans"})
    page = page.next({**fill_channels(page, data_dir()), f"def-hp-{page.hp_index('k')}-value": "3",
                      f"def-hp-{page.hp_index('feature_dim')}-value": "2"})
    assert page.step == "definitions"
    builtin = page.html[page.html.index('<div class="builtin-only">'): page.html.index('<div class="custom-only">')]
    assert re.search(r'<p class="field-error" role="alert" id="algorithm-error">K-Means is not runnable on the local engine',
                     builtin)
    custom = page.html[page.html.index('<div class="custom-only">'):]
    custom = custom[: custom.index("</fieldset>")]
    assert "field-error" not in custom  # not shown twice, and not inside the block hidden for built-ins


def test_a_bad_metric_regex_is_a_sentence(bob_client, project):
    page = start(bob_client).next(job__name="regex-msg")
    page = page.act("load-defaults", {"def-algorithm_source": "custom", "def-image": "hpo-portal/example-custom:latest"})
    page = page.act("add-row:metric_definitions")
    page = page.next({"def-md-0-name": "loss", "def-md-0-regex": "loss=(", "def-objective_metric": "loss"})
    messages = page.error_near("def-md-0-regex")
    assert messages and messages[0].startswith("Not a valid regular expression ("), messages
    assert "The regex not" not in page.html


def test_the_tuning_runtime_help_says_what_is_accepted(bob_client, project):
    page = start(bob_client).next(job__name="runtime-help")
    page = page.next(fill_channels(page, data_dir()))
    assert page.step == "resources"
    assert "120 seconds to 30 days" not in page.html
    assert "120 to 15,768,000 seconds (182.5 days)" in page.html
    page = page.next(resources__max_runtime=str(40 * 86400))
    assert page.step == "review", page.errors()


def test_too_many_tags_counts_the_portals_own(bob_client, project):
    page = start(bob_client).next(job__name="many-tags", job__tags="\n".join(f"k{i}=v" for i in range(60)))
    assert page.step == "job"
    messages = page.error_near("job-tags")
    assert messages == ["At most 48 tags: SageMaker takes 50 and the portal adds its own 2 (project and creator) "
                        "(got 60)."], messages


def test_every_bad_tag_line_is_reported(bob_client, project):
    page = start(bob_client).next(job__name="bad-tags", job__tags="bad\nk=v\n=x\nk=again\nalso bad")
    messages = page.error_near("job-tags")
    assert messages == [
        "Line 1: write each tag as key=value (got 'bad').",
        "Line 3: write each tag as key=value (got '=x').",
        "Line 4: tag k is given twice.",
        "Line 5: write each tag as key=value (got 'also bad').",
    ], messages


def test_a_whole_number_too_long_is_not_called_not_a_whole_number(bob_client, project):
    page = start(bob_client).next(job__name="long-int")
    num_round = page.hp_index("num_round")
    page = page.next({**fill_channels(page, data_dir()), f"def-hp-{num_round}-kind": "Static",
                      f"def-hp-{num_round}-value": "9" * 400})
    messages = page.error_near(f"def-hp-{num_round}-value")
    assert messages and "whole number" not in messages[0], messages
    assert "num_round is too long: at most 64 characters (got 400)" in messages[0]


def test_grid_names_each_range_it_cannot_take_once(bob_client, project):
    page = start(bob_client).next(job__name="grid-msg", job__strategy="Grid")
    page = page.next(fill_channels(page, data_dir()))
    errors = page.errors()
    assert len(errors) == len(set(errors)), errors
    for name in ("eta", "num_round", "max_depth"):
        assert any(f"Grid search takes categorical ranges only: make {name} categorical" in e for e in errors), errors


def test_an_enumerated_hyperparameter_of_a_builtin_is_a_choice(bob_client, project):
    page = start(bob_client).next(job__name="choices")
    objective = page.hp_index("objective")
    select = re.search(rf'<select name="def-hp-{objective}-value"[^>]*>(.*?)</select>', page.html, re.S)
    assert select, "objective is not a choice"
    options = re.findall(r'<option value="([^"]*)"', select.group(1))
    assert options[0] == "" and "binary:logistic" in options and "reg:squarederror" in options
    booster = page.hp_index("booster")
    assert re.search(rf'<select name="def-hp-{booster}-value"', page.html)
    # A value typed elsewhere (a tampered post, an import) is refused next to the field, and kept in view.
    page = page.next({**fill_channels(page, data_dir()), f"def-hp-{objective}-value": "binary:logistik"})
    assert page.step == "definitions"
    assert any("objective must be one of" in e for e in page.error_near(f"def-hp-{objective}-value"))
    assert '<option value="binary:logistik" selected>' in page.html
