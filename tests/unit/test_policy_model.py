"""MDS 2.0 Policy documents: parsing, the MDS JSON form, and the official schema (pure)."""

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.errors import InvalidInput
from geofencing.policy import PolicyError, parse_policy, policy_to_mds
from tests.mds_schemas import assert_valid, mds_dir, model_validator, response_validator

PUBLISHED = 1_790_000_000_000  # 2026-09-21
START = PUBLISHED + 20 * 60 * 1000
CITY = "3c9604d6-b5ee-11e8-96f8-529269fb1459"
CENTRE = "0c77c813-bece-4e8a-84fd-f99af777d198"
STATION = "e3ed0a0e-61d3-4887-8b6a-4af4f3769c14"
PROVIDER_A = "2411d395-04f2-47c9-ab66-d09e9e3c3251"
PROVIDER_B = "63f13c48-34ff-49d2-aca7-cf6a5b6171c3"


def _rule(n: int, **fields: Any) -> dict[str, Any]:
    return {"name": f"rule {n}", "rule_id": f"00000000-0000-4000-8000-{n:012d}", **fields}


# fleetbed's own policies, one per use case of the spec's Background list, using every
# field of models/policy.yaml and models/policy-rule.yaml at least once.
EXAMPLES: dict[str, dict[str, Any]] = {
    "fleet caps with a station allowance": {
        "name": "Helsingborg caps",
        "mode_id": "micromobility",
        "policy_id": "99f7a469-6e3a-4981-9313-c2f6c0bbd5ce",
        "provider_ids": [PROVIDER_A, PROVIDER_B],
        "description": "At most 300 scooters per operator, 50 more near the station",
        "start_date": START,
        "published_date": PUBLISHED,
        "rules": [
            _rule(
                1,
                rule_type="count",
                rule_units="devices",
                geographies=[STATION],
                states={"available": [], "reserved": [], "non_operational": ["battery_low"]},
                vehicle_types=["scooter_standing", "scooter_seated"],
                propulsion_types=["electric"],
                maximum=50,
            ),
            _rule(
                2,
                rule_type="count",
                rule_units="devices",
                geographies=[CITY],
                states={"available": [], "reserved": [], "on_trip": []},
                vehicle_types=["scooter_standing", "scooter_seated"],
                minimum=20,
                maximum=300,
                inclusive_minimum=True,
                inclusive_maximum=True,
            ),
        ],
    },
    "speed limits by zone and time": {
        "name": "Speed limits",
        "mode_id": "micromobility",
        "policy_id": "95645117-fd85-463e-a2c9-fc95ea47463e",
        "description": "10 km/h in the centre on weekend nights, 20 km/h elsewhere",
        "start_date": START,
        "end_date": START + 90 * 86_400_000,
        "published_date": PUBLISHED,
        "rules": [
            _rule(
                3,
                rule_type="speed",
                rule_units="kph",
                geographies=[CENTRE],
                states={"on_trip": []},
                days=["fri", "sat"],
                start_time="22:00:00",
                end_time="04:00:00",
                maximum=10,
                messages={"sv-SE": "Max 10 km/h i centrum", "en-US": "Stay under 10 km/h"},
            ),
            _rule(
                4,
                rule_type="speed",
                rule_units="mph",
                geographies=[CITY, STATION],
                states={"on_trip": ["trip_start", "trip_resume"]},
                maximum=12,
                inclusive_maximum=False,
                rate_amount=500,
                rate_recurrence="once_on_match",
                rate_applies_when="out_of_bounds",
            ),
        ],
        "currency": "SEK",
    },
    "idle and disabled time": {
        "name": "Idle time",
        "mode_id": "micromobility",
        "policy_id": "ac2d1fb1-b5b5-4b83-9c3e-8d8c2c9a6c3e",
        "description": "5 days idle while rentable, 12 hours while unrentable",
        "start_date": START,
        "published_date": PUBLISHED,
        "prev_policies": ["2800cd0a-7827-4110-9713-b9e5bf29e9a1"],
        "rules": [
            _rule(
                5,
                rule_type="time",
                rule_units="days",
                geographies=[CITY],
                states={"available": []},
                maximum=5,
            ),
            _rule(
                6,
                rule_type="time",
                rule_units="hours",
                geographies=[CITY],
                states={"non_operational": ["maintenance", "battery_low"], "missing": []},
                maximum=12,
            ),
        ],
    },
    "tiered parking fees within bounds": {
        "name": "Tiered dwell fees",
        "mode_id": "micromobility",
        "policy_id": "2800cd0a-7827-4110-9713-b9e5bf29e9a1",
        "provider_ids": [],
        "description": "First hour 2 SEK, second 4 SEK, then 10 SEK an hour",
        "currency": "SEK",
        "start_date": START,
        "published_date": PUBLISHED,
        "rules": [
            _rule(
                7,
                rule_type="time",
                rule_units="minutes",
                geographies=[STATION],
                states={"available": [], "non_operational": []},
                maximum=60,
                inclusive_maximum=False,
                rate_amount=200,
                rate_recurrence="each_time_unit",
                rate_applies_when="in_bounds",
            ),
            _rule(
                8,
                rule_type="time",
                rule_units="seconds",
                geographies=[STATION],
                states={"available": [], "non_operational": []},
                minimum=3600,
                maximum=7200,
                inclusive_minimum=True,
                inclusive_maximum=False,
                rate_amount=400,
                rate_recurrence="per_complete_time_unit",
                rate_applies_when="in_bounds",
            ),
        ],
    },
    "prohibited zone and a user rule": {
        "name": "Event at the arena",
        "mode_id": "micromobility",
        "policy_id": "5b0c9a2e-3f6a-4f1c-9a57-0c6f5cf0e4d1",
        "description": "No mopeds near the arena during the concert; helmets advised",
        "start_date": START,
        "end_date": START + 6 * 3_600_000,
        "published_date": PUBLISHED,
        "rules": [
            _rule(
                9,
                rule_type="count",
                rule_units="devices",
                geographies=[CENTRE],
                states={"available": [], "on_trip": [], "reserved": []},
                vehicle_types=["moped"],
                maximum=0,
                value_url="https://mds.example.se/policy/value/arena",
            ),
            _rule(
                10,
                rule_type="user",
                geographies=[CITY],
                states={},
                messages={"sv": "Använd hjälm", "en": "Wear a helmet"},
            ),
        ],
    },
}


@pytest.fixture(scope="module")
def policy_schema() -> Any:
    return model_validator("models/policy.yaml")


@pytest.mark.parametrize("document", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_fleetbed_examples_parse_round_trip_and_validate(
    document: dict[str, Any], policy_schema: Any
) -> None:
    assert_valid(policy_schema, document)  # the examples themselves are valid MDS
    policy = parse_policy(document)
    out = policy_to_mds(policy)
    assert out == document
    assert json.loads(json.dumps(out)) == out
    assert parse_policy(out) == policy


def _policies_in(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if "policy_id" in document and "rules" in document:
            yield document
        for key in ("policies", "data"):
            inner = document.get(key)
            if isinstance(inner, list):
                for item in inner:
                    yield from _policies_in(item)
            elif isinstance(inner, dict):
                yield from _policies_in(inner)


def _official_examples() -> list[tuple[str, dict[str, Any]]]:
    folder = mds_dir() / "spec" / "policy" / "examples"
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".json":
            documents = [json.loads(path.read_text())]
        elif path.suffix == ".md":
            blocks = re.findall(r"```json[ \t]*\n(.*?)```", path.read_text(), flags=re.S)
            documents = [json.loads(block) for block in blocks]
        else:
            continue
        for number, document in enumerate(documents):
            found.extend(
                (f"{path.name}#{number}.{i}", policy)
                for i, policy in enumerate(_policies_in(document))
            )
    return found


def test_official_example_policies_parse_and_round_trip(policy_schema: Any) -> None:
    examples = _official_examples()
    if not examples:
        pytest.skip(
            "spec/policy/examples of this MDS 2.0 copy holds no policy documents (MDS 2.0 "
            "points to the OMF wiki for them); EXAMPLES above stand in"
        )
    for name, document in examples:
        _check_round_trip(name, document, policy_schema)


def _check_round_trip(name: str, document: dict[str, Any], policy_schema: Any) -> None:
    policy = parse_policy(document)
    out = policy_to_mds(policy)
    assert_valid(policy_schema, out)
    assert out == {"mode_id": "micromobility"} | _without_nulls(document), name
    assert parse_policy(out) == policy, name


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_example_discovery_reads_json_files_and_markdown_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = tmp_path / "mds-2.0" / "spec" / "policy" / "examples"
    examples.mkdir(parents=True)
    (tmp_path / "mds-2.0" / "models").symlink_to(mds_dir() / "models")
    caps, limits = (
        EXAMPLES["fleet caps with a station allowance"],
        EXAMPLES["idle and disabled time"],
    )
    (examples / "caps.json").write_text(json.dumps({"data": {"policies": [caps]}}))
    (examples / "README.md").write_text(f"# Idle\n\n```json\n{json.dumps(limits)}\n```\n")
    monkeypatch.setenv("FLEETBED_SPECS_DIR", str(tmp_path))
    found = _official_examples()
    assert [doc for _, doc in found] == [limits, caps]
    for name, document in found:
        _check_round_trip(name, document, model_validator("models/policy.yaml"))


def test_nulls_are_accepted_and_left_out_of_the_mds_form(policy_schema: Any) -> None:
    document = copy.deepcopy(EXAMPLES["idle and disabled time"])
    del document["mode_id"]
    document |= {"end_date": None, "prev_policies": None, "provider_ids": None, "currency": None}
    document["rules"][0] |= {"vehicle_types": None, "maximum": None, "value_url": None}
    out = policy_to_mds(parse_policy(document))
    assert_valid(policy_schema, out)
    assert out["mode_id"] == "micromobility"
    assert not {"end_date", "prev_policies", "provider_ids", "currency"} & out.keys()
    assert not {"vehicle_types", "maximum", "value_url"} & out["rules"][0].keys()
    assert list(out) == [
        "name",
        "mode_id",
        "policy_id",
        "description",
        "start_date",
        "published_date",
        "rules",
    ]


def test_policies_response_validates_against_the_reference_api() -> None:
    body = {
        "version": "2.0.0",
        "last_updated": PUBLISHED,
        "policies": [policy_to_mds(parse_policy(doc)) for doc in EXAMPLES.values()],
    }
    assert_valid(response_validator("policy", "/policies", "get", 200), body)


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(document: dict[str, Any]) -> None:
        target: Any = document
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _delete(key: str) -> Mutation:
    return lambda document: document.pop(key)


def _duplicate_rule(document: dict[str, Any]) -> None:
    document["rules"].append(copy.deepcopy(document["rules"][0]))


# (mutation of the caps example, the field PolicyError must name, whether the official
# schema rejects it too; False where only the spec's prose says "must", or where the
# schema is looser than its own description).
BAD_INPUTS: dict[str, tuple[Mutation, str, bool]] = {
    "missing name": (_delete("name"), "name", True),
    "missing rules": (_delete("rules"), "rules", True),
    "missing published_date": (_delete("published_date"), "published_date", True),
    "unknown policy field": (_set("colour", "red"), "colour", False),
    "unknown rule field": (
        _set("rules.0.accessibility_options", []),
        "rules[0].accessibility_options",
        True,
    ),
    "name too long": (_set("name", "x" * 256), "name", True),
    "name with a line break": (_set("description", "a\nb"), "description", True),
    "uppercase uuid": (
        _set("policy_id", "99F7A469-6E3A-4981-9313-C2F6C0BBD5CE"),
        "policy_id",
        True,
    ),
    "unknown mode": (_set("mode_id", "bus"), "mode_id", True),
    "duplicate provider": (_set("provider_ids", [PROVIDER_A, PROVIDER_A]), "provider_ids", True),
    "timestamp as float": (_set("start_date", float(START) + 0.5), "start_date", True),
    "timestamp as string": (_set("published_date", str(PUBLISHED)), "published_date", True),
    "timestamp as bool": (_set("start_date", True), "start_date", True),
    "timestamp in seconds": (_set("published_date", PUBLISHED // 1000), "published_date", True),
    "start too soon after publishing": (
        _set("start_date", PUBLISHED + 60_000),
        "start_date",
        False,
    ),
    "end before start": (_set("end_date", START), "end_date", False),
    "lowercase currency": (_set("currency", "sek"), "currency", True),
    "no rules": (_set("rules", []), "rules", True),
    "rule not an object": (_set("rules.0", "count"), "rules[0]", True),
    "duplicate rule_id": (_duplicate_rule, "rules[2].rule_id", False),
    "unknown rule type": (_set("rules.0.rule_type", "parking"), "rules[0].rule_type", True),
    "count rule in kph": (_set("rules.0.rule_units", "kph"), "rules[0].rule_units", True),
    "count rule without units": (_set("rules.0.rule_units", None), "rules[0].rule_units", True),
    "unknown unit": (_set("rules.0.rule_units", "furlongs"), "rules[0].rule_units", True),
    "speed rule in hours": (
        lambda d: d["rules"][0].update(rule_type="speed", rule_units="hours"),
        "rules[0].rule_units",
        True,
    ),
    "user rule with units": (_set("rules.0.rule_type", "user"), "rules[0].rule_units", True),
    "user rule with a rate": (
        lambda d: d["rules"][0].update(rule_type="user", rule_units=None, rate_amount=5),
        "rules[0].rate_amount",
        True,
    ),
    "count rule with time recurrence": (
        _set("rules.0.rate_recurrence", "each_time_unit"),
        "rules[0].rate_recurrence",
        True,
    ),
    "unknown rate_applies_when": (
        _set("rules.0.rate_applies_when", "always"),
        "rules[0].rate_applies_when",
        True,
    ),
    "no geographies": (_set("rules.0.geographies", []), "rules[0].geographies", True),
    "duplicate geographies": (
        _set("rules.0.geographies", [CITY, CITY]),
        "rules[0].geographies",
        True,
    ),
    "geography not a uuid": (
        _set("rules.0.geographies", ["city"]),
        "rules[0].geographies[0]",
        True,
    ),
    "missing states": (lambda d: d["rules"][0].pop("states"), "rules[0].states", True),
    "unknown state": (_set("rules.0.states.parked", []), "rules[0].states.parked", True),
    "unknown event": (
        _set("rules.0.states.available", ["parked"]),
        "rules[0].states.available[0]",
        True,
    ),
    "duplicate events": (
        _set("rules.0.states.available", ["trip_end", "trip_end"]),
        "rules[0].states.available",
        True,
    ),
    "null event list": (_set("rules.0.states.available", None), "rules[0].states.available", True),
    "MDS 1.x vehicle type": (
        _set("rules.0.vehicle_types", ["scooter"]),
        "rules[0].vehicle_types[0]",
        True,
    ),
    "unknown propulsion": (
        _set("rules.0.propulsion_types", ["steam"]),
        "rules[0].propulsion_types[0]",
        True,
    ),
    "maximum as string": (_set("rules.0.maximum", "50"), "rules[0].maximum", True),
    "fractional minimum": (_set("rules.0.minimum", 1.5), "rules[0].minimum", True),
    "minimum above maximum": (_set("rules.1.minimum", 301), "rules[1].minimum", False),
    "inclusive flag as string": (
        _set("rules.0.inclusive_maximum", "yes"),
        "rules[0].inclusive_maximum",
        True,
    ),
    "hour 24": (_set("rules.0.start_time", "24:00:00"), "rules[0].start_time", True),
    "time without seconds": (_set("rules.0.end_time", "7:00"), "rules[0].end_time", True),
    "day name in full": (_set("rules.0.days", ["monday"]), "rules[0].days[0]", True),
    "duplicate days": (_set("rules.0.days", ["mon", "mon"]), "rules[0].days", True),
    "bad language tag": (
        _set("rules.0.messages", {"english": "hi"}),
        "rules[0].messages.english",
        False,  # the schema's language-tag pattern is unanchored and finds "en" in it
    ),
    "message not a string": (_set("rules.0.messages", {"en": 5}), "rules[0].messages.en", False),
    "value_url not a URI": (_set("rules.0.value_url", "not a url"), "rules[0].value_url", False),
}


@pytest.mark.parametrize(
    ("mutate", "field", "schema_rejects"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys()
)
def test_bad_input_raises_policy_error_naming_the_field(
    mutate: Mutation, field: str, schema_rejects: bool, policy_schema: Any
) -> None:
    document = copy.deepcopy(EXAMPLES["fleet caps with a station allowance"])
    mutate(document)
    with pytest.raises(PolicyError) as caught:
        parse_policy(document)
    assert caught.value.field == field
    assert field in str(caught.value)
    if schema_rejects:
        # Our refusals that the schema can express are the schema's own.
        assert list(policy_schema.iter_errors(document))


def test_policy_error_is_a_value_error_and_a_domain_error() -> None:
    document = copy.deepcopy(EXAMPLES["fleet caps with a station allowance"])
    document["rules"][0]["rule_units"] = "kph"
    document["rules"][1]["maximum"] = "many"
    with pytest.raises(ValueError, match=r"rules\[0\]\.rule_units") as caught:
        parse_policy(document)
    error = caught.value
    assert isinstance(error, PolicyError)
    assert isinstance(error, InvalidInput)
    assert error.fields == ("rules[0].rule_units", "rules[1].maximum")


@pytest.mark.parametrize("document", [None, [], "policy", 5])
def test_non_object_input_raises_policy_error(document: Any) -> None:
    with pytest.raises(PolicyError, match="JSON object"):
        parse_policy(document)


_uuids = st.uuids().map(str)
_units = {
    "count": st.just("devices"),
    "speed": st.sampled_from(["kph", "mph"]),
    "time": st.sampled_from(["seconds", "minutes", "hours", "days"]),
}
_recurrences = {
    "count": ["once_on_match", "once_on_unmatch"],
    "speed": ["once_on_match", "once_on_unmatch"],
    "time": ["each_time_unit", "per_complete_time_unit"],
}
_clock = st.builds(
    "{:02d}:{:02d}:{:02d}".format,
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
)


@st.composite
def _rules(draw: st.DrawFn) -> dict[str, Any]:
    rule_type = draw(st.sampled_from(["count", "speed", "time", "user"]))
    rule: dict[str, Any] = {
        "name": draw(
            st.text(
                st.characters(exclude_categories=["Cs"], exclude_characters="\x00\n\r\u2028\u2029"),
                max_size=20,
            )
        ),
        "rule_id": draw(_uuids),
        "rule_type": rule_type,
        "geographies": draw(st.lists(_uuids, min_size=1, max_size=3, unique=True)),
        "states": draw(
            st.dictionaries(
                st.sampled_from(["available", "on_trip", "non_operational", "reserved"]),
                st.lists(st.sampled_from(["trip_end", "battery_low", "on_hours"]), unique=True),
                max_size=3,
            )
        ),
    }
    if rule_type != "user":
        rule["rule_units"] = draw(_units[rule_type])
        optional = {
            "minimum": st.integers(0, 10),
            "inclusive_minimum": st.booleans(),
            "inclusive_maximum": st.booleans(),
            "rate_amount": st.integers(-1000, 1000),
            "rate_recurrence": st.sampled_from(_recurrences[rule_type]),
            "rate_applies_when": st.sampled_from(["in_bounds", "out_of_bounds"]),
        }
        for name, strategy in optional.items():
            if draw(st.booleans()):
                rule[name] = draw(strategy)
        if draw(st.booleans()):
            rule["maximum"] = rule.get("minimum", 0) + draw(st.integers(0, 100))
    for name, strategy in {
        "vehicle_types": st.lists(
            st.sampled_from(["bicycle", "moped", "scooter_standing"]), unique=True
        ),
        "propulsion_types": st.lists(st.sampled_from(["human", "electric"]), unique=True),
        "days": st.lists(st.sampled_from(["sun", "mon", "fri"]), unique=True),
        "start_time": _clock,
        "end_time": _clock,
        "messages": st.dictionaries(
            st.sampled_from(["en-US", "sv-SE", "sv"]),
            # st.text's own default alphabet leaves out surrogates (Cs); keep that, less NUL.
            st.text(
                st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=10
            ),
        ),
    }.items():
        if draw(st.booleans()):
            rule[name] = draw(strategy)
    return rule


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(_rules(), min_size=1, max_size=4, unique_by=lambda r: r["rule_id"]),
    published=st.integers(1_514_764_800_000, 2_000_000_000_000),
    lead=st.integers(20 * 60 * 1000, 10**10),
)
def test_random_valid_policies_round_trip_and_validate(
    rules: list[dict[str, Any]], published: int, lead: int
) -> None:
    document = {
        "name": "random",
        "mode_id": "micromobility",
        "policy_id": "99f7a469-6e3a-4981-9313-c2f6c0bbd5ce",
        "description": "generated",
        "start_date": published + lead,
        "published_date": published,
        "rules": rules,
    }
    out = policy_to_mds(parse_policy(document))
    assert out == document
    assert_valid(model_validator("models/policy.yaml"), out)
