"""Policy profiles as rules: the file's validation, and a profile's decision from stored
evidence equal to the gate deciding under the profile's own config."""

import itertools
import random

import pytest

from hub_assets.errors import GateConfigError
from hub_assets.gate.config import load_gate_config
from hub_assets.gate.decision import decide
from hub_assets.gate.profiles import Profile, load_profiles, profile_config, profile_decision
from hub_assets.metrics.licence_chain import (
    USES,
    Ancestor,
    licence_obligations,
    obligations_verdict,
)
from hub_assets.metrics.table import GATE_METRICS

GOOD = """
default: product
profiles:
  product:
    allowed_licenses: [Apache-2.0, mit]
    thresholds: {bus_factor: 0.7}
    require_promoted: true
  research:
    allowed_uses: [modification]
"""


def test_a_profiles_file_is_read_and_checked(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text(GOOD)
    profiles = load_profiles(path)
    assert profiles.default == "product" and set(profiles.profiles) == {"product", "research"}
    product = profiles.of(None)
    assert product.allowed_licenses == ("apache-2.0", "mit")  # the Hub's ids are lower-case
    assert product.require_promoted is True and profiles.of("research").require_promoted is None
    assert profiles.of("nope") is None
    for text, complaint in [
        ("profiles: {a: {}}\ndefault: b", "`default` must name one of the profiles"),
        ("profiles: {}\ndefault: a", "at least one"),
        ("profiles: {a: {colour: red}}\ndefault: a", "unknown keys ['colour']"),
        ("profiles: {a: {thresholds: {speed: 1}}}\ndefault: a", "unknown gate metric"),
        ("profiles: {a: {thresholds: {bus_factor: 2}}}\ndefault: a", "in [0, 1]"),
        ("profiles: {a: {allowed_uses: [selling]}}\ndefault: a", "unknown ['selling']"),
        ("profiles: {'A B': {}}\ndefault: 'A B'", "must match"),
        ("profiles: {a: {require_promoted: maybe}}\ndefault: a", "true or false"),
        ("[1, 2]", "a mapping"),
        ("profiles: {a: {}\n", "not valid YAML"),
    ]:
        path.write_text(text)
        with pytest.raises(GateConfigError, match=complaint.replace("[", r"\[")):
            load_profiles(path)
    with pytest.raises(GateConfigError, match="does not exist"):
        load_profiles(tmp_path / "missing.yaml")


def _chain(own, bases):
    ancestors = [
        Ancestor(m, "acme/model", "finetune", 1, lic, frozenset(), True) for m, lic in bases
    ]
    return ancestors, own


@pytest.mark.parametrize(
    ("own", "bases"),
    [
        ("apache-2.0", []),
        ("cc-by-nc-4.0", [("acme/base", "cc-by-nc-4.0")]),
        ("apache-2.0", [("acme/base", "cc-by-nc-nd-4.0")]),  # permissive-washing
        ("mit", [("acme/base", "other")]),  # an unknown licence: reported
        ("cc-by-sa-4.0", [("acme/base", "mit"), ("acme/root", "cc-by-nd-4.0")]),
    ],
)
def test_re_judging_stored_obligations_equals_measuring_them_again(own, bases):
    """A profile's allowed uses applied to the stored details score as the metric itself
    would, measured under those uses, for every set of uses and failing findings."""
    ancestors, own = _chain(own, bases)
    stored = licence_obligations("acme/model", own, [], ancestors, USES).details
    for n in range(len(USES) + 1):
        for uses in itertools.combinations(USES, n):
            for failing in ((), ("permissive_washing",), ("unknown_licence", "missing_notice")):
                again = licence_obligations("acme/model", own, [], ancestors, uses, failing)
                score, why = obligations_verdict(stored, uses, failing)
                assert score == again.value, (uses, failing)
                assert (why != "") == (again.value == 0.0)


def test_a_profile_decides_as_the_gate_would_under_its_config():
    """Random scores: a profile without licence rules decides exactly as `decide` under
    `profile_config`; an allowed-licence list only ever adds a failure."""
    config = load_gate_config()
    rng = random.Random(7)
    strict = Profile("strict", thresholds={"bus_factor": 0.8, "ramp_up_time": 0.6})
    licensed = Profile("licensed", allowed_licenses=("mit",))
    for _ in range(300):
        scores = {m: round(rng.uniform(0.3, 1.0), 2) for m in GATE_METRICS if rng.random() > 0.05}
        licence = rng.choice(["mit", "apache-2.0", None])
        got = profile_decision(strict, config, "acme/m", licence, scores, None)
        want = decide("acme/m", scores, profile_config(config, strict))
        assert (got.passed, got.message) == (want.passed, want.message)
        plain = decide("acme/m", scores, config)
        by_licence = profile_decision(licensed, config, "acme/m", licence, scores, None)
        assert by_licence.passed == (plain.passed and licence == "mit")
        if licence != "mit":
            assert "not one profile licensed allows" in by_licence.message


def test_allowed_uses_without_stored_obligations_fail_closed():
    config = load_gate_config()
    scores = dict.fromkeys(GATE_METRICS, 1.0)
    research = Profile("research", allowed_uses=("modification",))
    refused = profile_decision(research, config, "acme/m", "mit", scores, None)
    assert not refused.passed and "Licence" in refused.message
    ancestors, own = _chain("cc-by-nc-4.0", [("acme/base", "cc-by-nc-4.0")])
    stored = licence_obligations("acme/m", own, [], ancestors, ("modification",)).details
    assert profile_decision(research, config, "acme/m", own, scores, stored).passed
    product = Profile("product", allowed_uses=USES)
    failed = profile_decision(product, config, "acme/m", own, scores, stored)
    assert not failed.passed and "commercial_use is allowed" in failed.message
