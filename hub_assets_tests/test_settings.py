"""The one settings object: defaults, the Hub's own variables, and errors that name the
variable and what it accepts."""

import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.errors import SettingsError, exit_code
from hub_assets.registry.store import Registry
from hub_assets.resources import PipelineResource
from hub_assets.settings import Settings, env_names, load_settings


@pytest.fixture
def clean_env(monkeypatch):
    for field in Settings.model_fields:
        for name in env_names(field):
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_without_any_variable(clean_env):
    s = load_settings()
    assert s.hub_endpoint == "http://127.0.0.1:8765"
    assert s.hub_rate_limit <= 1000 / 300  # the Hub's free quota
    assert "question-answering" in s.pipeline_tags and s.token() is None
    assert s.qa_dataset is None and s.eval_sample_limit is None


def test_ours_win_over_the_hubs_own_and_lists_are_comma_separated(clean_env):
    clean_env.setenv("HF_ENDPOINT", "https://hub.example/")
    assert load_settings().hub_endpoint == "https://hub.example"
    clean_env.setenv("HUB_ASSETS_HUB_ENDPOINT", "http://127.0.0.1:9")
    clean_env.setenv("HUB_ASSETS_LICENSES", " mit , apache-2.0,,")
    clean_env.setenv("HF_HUB_OFFLINE", "1")
    clean_env.setenv("HUB_ASSETS_MIN_DOWNLOADS", "")  # empty is unset, as the Hub reads it
    s = load_settings()
    assert s.hub_endpoint == "http://127.0.0.1:9"
    assert s.licenses == ["mit", "apache-2.0"] and s.hf_hub_offline and s.min_downloads == 0


def test_metadata_only_scoring_and_models_per_run_are_settings(clean_env, tmp_path):
    from hub_assets.pipeline.context import Pipeline

    assert Pipeline.from_settings(load_settings()).settings.repro is True
    clean_env.setenv("HUB_ASSETS_REPRO", "false")
    clean_env.setenv("HUB_ASSETS_MODELS_PER_RUN", "100")
    s = load_settings()
    assert s.models_per_run == 100
    trust = Pipeline.from_settings(s)
    assert trust.settings.repro is False
    assert trust.scoring_context(None).run_reproducibility is False
    assert trust.scoring_context(None, run_reproducibility=True).run_reproducibility is True
    clean_env.setenv("HUB_ASSETS_MODELS_PER_RUN", "0")
    with pytest.raises(SettingsError, match="HUB_ASSETS_MODELS_PER_RUN"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("HUB_ASSETS_HUB_RATE_LIMIT", "fast", "valid number"),
        ("HUB_ASSETS_HUB_RATE_LIMIT", "-1", "greater than or equal to 0"),
        ("HUB_ASSETS_EVAL_BATCH_SIZE", "0", "greater than or equal to 1"),
        ("HUB_ASSETS_REQUIRE_SAFETENSORS", "perhaps", "valid boolean"),
        ("HF_HUB_OFFLINE", "sometimes", "valid boolean"),
        ("HUB_ASSETS_QA_DATASET", "org/qa", "REPO@REVISION"),
        ("HUB_ASSETS_RETRIEVAL_DATASET", "../x@abc", "repo"),
        ("HUB_ASSETS_DISCOVERY_CRON", "daily", "five fields"),
        ("HF_ENDPOINT", "hub.example", "http:// or https://"),
        ("HUB_ASSETS_REGISTRY_LOCK_TIMEOUT_S", "0", "greater than 0"),
    ],
)
def test_a_bad_value_names_its_variable_and_what_is_allowed(clean_env, name, value, words):
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert f"{name}={value!r}" in message and words in message
    assert "docs/configuration.md" in message and err.value.outcome == "invalid"


def test_a_token_is_never_shown(clean_env):
    clean_env.setenv("HF_TOKEN", "hf_verysecret")
    clean_env.setenv("HUB_ASSETS_HUB_TOKENS", "devtok-secret")
    s = load_settings()
    assert s.token() == "hf_verysecret"
    assert "verysecret" not in repr(s) and "devtok" not in repr(s)
    clean_env.setenv("HUB_ASSETS_HUB_RATE_LIMIT", "x")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "verysecret" not in str(err.value)


def test_the_cli_refuses_a_bad_value_in_one_line_with_exit_code_2(clean_env):
    clean_env.setenv("HUB_ASSETS_REGISTRY_LOCK_TIMEOUT_S", "soon")
    result = CliRunner().invoke(main, ["sql", "SELECT 1"])
    assert result.exit_code == exit_code("invalid") == 2
    assert "HUB_ASSETS_REGISTRY_LOCK_TIMEOUT_S='soon'" in result.output
    assert "Traceback" not in result.output


def test_one_lock_timeout_for_dagster_and_the_cli(clean_env, tmp_path):
    from hub_assets.cli.registry import open_registry

    clean_env.setenv("HUB_ASSETS_REGISTRY_LOCK_TIMEOUT_S", "7.5")
    clean_env.setenv("HUB_ASSETS_REGISTRY", str(tmp_path / "r.duckdb"))
    s = load_settings()
    through_dagster = PipelineResource().get().registry
    through_cli = open_registry(s)
    assert through_dagster.lock_timeout_s == through_cli.lock_timeout_s == 7.5
    assert through_dagster.path == through_cli.path == tmp_path / "r.duckdb"
    # The defaults agree as well.
    clean_env.delenv("HUB_ASSETS_REGISTRY_LOCK_TIMEOUT_S")
    assert (
        PipelineResource().settings().registry_lock_timeout_s
        == Registry(tmp_path / "x").lock_timeout_s
        == load_settings().registry_lock_timeout_s
    )


def _shown(value: object) -> str | None:
    """A default as docs/configuration.md writes it in backticks (None: not a literal)."""
    from pathlib import PurePath

    if value is None or value == [] or value == ():
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def test_the_configuration_docs_list_every_setting_with_its_default():
    """Each setting is documented in docs/configuration.md under its variable, and where
    the table writes the default as one literal (`3`, `data/registry.duckdb`), it is the
    default `Settings` has: the defaults are written once, in settings.py."""
    import re
    from pathlib import Path

    from hub_assets.settings import Settings, env_names

    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    rows = {}
    for line in doc.splitlines():
        m = re.match(r"^\| `([A-Z0-9_]+)`[^|]*\| ([^|]*) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    undocumented = [f for f in Settings.model_fields if not set(env_names(f)) & set(rows)]
    assert undocumented == []
    wrong = []
    for field, info in Settings.model_fields.items():
        cell = next(rows[n] for n in env_names(field) if n in rows)
        literal = re.fullmatch(r"`([^`]+)`", cell)
        shown = _shown(info.default)
        written = literal.group(1).replace(", ", ",") if literal else None
        if written and re.fullmatch(r"[0-9.]+", written) and re.fullmatch(r"[0-9.]+", shown or ""):
            written, shown = float(written), float(shown)
        if written is not None and shown is not None and written != shown:
            wrong.append(f"{env_names(field)[0]}: docs say {cell}, settings.py says {shown}")
    assert wrong == []


def test_the_rules_remaining_parameter_defaults_are_the_settings():
    """A few rules keep a parameter default for callers outside the pipeline (tools, the
    development Hub, tests); the pipeline always passes the settings' values
    (`Pipeline.from_settings`), and these defaults may never drift from them. The limits,
    the inference API's budget and the package store have no default of their own."""
    import dataclasses

    from hub_assets.evaluation.api_budget import ApiBudget
    from hub_assets.evaluation.backends import GenerationConfig
    from hub_assets.gate.config import load_gate_config
    from hub_assets.hardware.fit import DEFAULT_CONTEXT
    from hub_assets.metrics.reproducibility import ReproducibilityLimits
    from hub_assets.metrics.scoring import ScoringContext

    s = Settings.model_construct()
    fields = {f.name: f for f in dataclasses.fields(ScoringContext)}
    assert DEFAULT_CONTEXT == s.context_length == fields["context_length"].default
    assert fields["run_reproducibility"].default is s.repro
    assert fields["target_device"].default == load_gate_config().target_device
    batch = {f.name: f for f in dataclasses.fields(GenerationConfig)}["batch_size"]
    assert batch.default == s.eval_batch_size
    for rule in (ReproducibilityLimits, ApiBudget):
        settable = [f for f in dataclasses.fields(rule) if f.name != "warmup_s"]
        assert all(f.default is dataclasses.MISSING for f in settable), rule


def test_the_pipeline_resource_takes_overrides_by_name_and_refuses_secrets(clean_env, tmp_path):
    """The one Dagster resource: its overrides are validated as the variables are; a secret
    is refused (Dagster shows and stores resource config), naming the variable to set."""
    from hub_assets.resources import PipelineResource

    got = PipelineResource.of(hub_endpoint="http://127.0.0.1:9", eval_sample_limit=5)
    assert got.settings().hub_endpoint == "http://127.0.0.1:9"
    assert got.get().settings.eval_sample_limit == 5
    assert got.get().endpoint == "http://127.0.0.1:9"
    with pytest.raises(SettingsError, match="HUB_ASSETS_HUB_RATE_LIMIT='fast'"):
        PipelineResource.of(hub_rate_limit="fast").get()
    with pytest.raises(SettingsError, match="Unknown setting 'endpoint'"):
        PipelineResource.of(endpoint="x").get()
    for secret, variable in (("hf_token", "HF_TOKEN"), ("admin_password", "ADMIN_PASSWORD")):
        with pytest.raises(SettingsError, match=f"set \\S*{variable} in the environment"):
            PipelineResource.of(**{secret: "hf_secret_value"}).get()
    clean_env.setenv("HF_TOKEN", "hf_from_the_environment")
    assert PipelineResource().get().hub_settings.token == "hf_from_the_environment"
