"""The pipeline asks nothing of the world beyond the configured Hub: every request that
would leave loopback (telemetry, `datasets`' download counts on s3.amazonaws.com, update
checks) is caught by a stand-in proxy, in this process and in the children it starts."""

import pytest

from hub_assets.devhub.demo_cases import QA_MODEL
from hub_assets.pipeline.context import Pipeline
from hub_assets.settings import load_settings
from hub_assets_tests.outside_world import outside_world_watched


@pytest.mark.slow
def test_the_stages_ask_nothing_beyond_the_configured_hub(hub_server, registry, tmp_path):
    with pytest.MonkeyPatch.context() as mp, outside_world_watched(mp) as world:
        stages = Pipeline.from_settings(
            load_settings(
                {
                    "hub_endpoint": hub_server.url,
                    "registry": registry.location,
                    "cache_dir": str(tmp_path / "cache"),
                    "work_dir": str(tmp_path / "work"),
                    "eval_cache_dir": str(tmp_path / "eval"),
                    "eval_sample_limit": 12,
                }
            )
        )
        client = stages.client()
        assert stages.discover(client, "d").counts()["new_candidates"] > 0
        stages.record_metadata(client, QA_MODEL, "r")
        assert stages.judge_security(client, QA_MODEL, "r").cleared
        # the pinned sets, each loaded with `datasets` in a child process (eval_datasets)
        assert all(stages.cache_dataset(pin).rows for pin in stages.pins)
        # the model run with transformers and scored with `evaluate`, here; the declared
        # training data streamed with `datasets` in a child for the overlap check
        outcomes = stages.evaluate(client, QA_MODEL, "r")
        assert [o.status for o in outcomes] == ["evaluated", "evaluated"]
        assert outcomes[0].measurement.contamination["flag"] == "declared_overlap"
    assert world.requests == []
