"""The event vocabulary is declared once (vars.event_types in transformations/dbt_project.yml)."""

from __future__ import annotations

import re

import yaml

from pitstop.build import vocabulary
from pitstop.generator import vocab
from pitstop.settings import PROJECT_ROOT


def test_the_readme_shows_the_shipped_vocabulary() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(event_types:\n.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) == 1
    assert yaml.safe_load(blocks[0])["event_types"] == vocabulary.event_types()


def test_the_shipped_vocabulary_keeps_the_e_commerce_rules() -> None:
    assert list(vocabulary.event_types()) == list(vocab.EVENT_TYPES)
    required_item = vocabulary.types_with("item_id", ("required",))
    assert required_item == {"add_to_cart", "purchase", "refund"}
    assert vocabulary.types_with("item_id") == required_item | {"page_view"}
    assert vocabulary.types_with("price") == {"purchase", "refund"}
    # The generator's faults follow it: only a required field's absence is a fault.
    assert {vocab.EVENT_TYPES[code] for code in vocab.ITEM_EVENT_TYPES} == required_item


def test_the_readme_fields_example_is_the_one_staging_checks() -> None:
    """README "Bring your own logs" declares fields of one's own; the dbt unit test
    lines_carry_the_fields_of_the_users_own runs that same declaration on every build."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(event_fields:.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) == 1
    example = yaml.safe_load(blocks[0])
    unit_tests = yaml.safe_load(
        (PROJECT_ROOT / "transformations/models/staging/_events__unit_tests.yml").read_text()
    )["unit_tests"]
    (test,) = [t for t in unit_tests if t["name"] == "lines_carry_the_fields_of_the_users_own"]
    declared = test["overrides"]["vars"]
    assert example == {key: declared[key] for key in ("event_fields", "event_types")}
