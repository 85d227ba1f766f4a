"""Policy profiles on the mirror: each caller's token selects a profile, decided from the
same stored evidence; `main` is the newest revision that profile approves; nothing leaks
from one profile to another (a fuzz of 1,000 requests), and the real clients work under
two profiles."""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError

from hub_assets.cli import main
from hub_assets.devhub.demo_cases import MINILM, QA_MODEL
from hub_assets.gate.config import load_gate_config
from hub_assets.gate.profiles import load_profiles
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.identity import Identity
from hub_assets_tests.conftest import pipeline_env
from hub_assets_tests.mirror.conftest import FAILING, copy_of, serving, sha_of

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]
NEW_SHA = "5eed" * 10  # a later revision of MiniLM, made in the registry below
PROFILES = """
default: product
profiles:
  product:
    description: what ships to customers
    allowed_licenses: [{licence}]
    thresholds: {{ramp_up_time: 0.8}}
  research:
    allowed_uses: [modification, redistribution]
"""


def _later_revision(registry, model_id: str, old_sha: str) -> None:
    """A second packaged, gate-passed revision of `model_id` (the same package bytes under
    a new sha), whose ramp-up time is lower than the first's: 0.7 against 0.9."""
    with registry.write() as con:
        con.execute(
            "INSERT INTO packages SELECT * REPLACE (? AS revision_sha, "
            "package_id || '-later' AS package_id, version || '-later' AS version, "
            "now() AS created_at) FROM packages WHERE model_id = ? AND revision_sha = ?",
            [NEW_SHA, model_id, old_sha],
        )
        con.execute(
            "INSERT INTO gate_results SELECT * REPLACE (? AS revision_sha, now() AS created_at) "
            "FROM gate_results WHERE model_id = ? AND revision_sha = ?",
            [NEW_SHA, model_id, old_sha],
        )
        con.execute(
            "INSERT INTO metric_values SELECT * REPLACE (? AS revision_sha) "
            "FROM metric_values WHERE model_id = ? AND revision_sha = ?",
            [NEW_SHA, model_id, old_sha],
        )
        for sha, value in ((old_sha, 0.9), (NEW_SHA, 0.7)):
            con.execute(
                "INSERT INTO metric_values (model_id, revision_sha, metric, value, run_id, "
                "created_at) VALUES (?, ?, 'ramp_up_time', ?, 'profiles-test', "
                "now() + INTERVAL 1 SECOND)",
                [model_id, sha, value],
            )


@pytest.fixture(scope="module")
def profiled(world, tmp_path_factory):
    """A mirror with two profiles over a registry where MiniLM has two approved revisions
    and the product profile allows MiniLM's licence only (not tiny-bert-qa's)."""
    tmp = tmp_path_factory.mktemp("profiles")
    registry = copy_of(world, tmp)
    old = sha_of(registry, MINILM)
    qa_sha = sha_of(registry, QA_MODEL)
    _later_revision(registry, MINILM, old)
    with registry.write() as con:  # both demo models are apache-2.0: make one MIT
        con.execute("UPDATE models SET license = 'mit' WHERE model_id = ?", [QA_MODEL])
        licences = dict(con.execute("SELECT model_id, license FROM models").fetchall())
    assert (licences[MINILM], licences[QA_MODEL]) == ("apache-2.0", "mit")
    path = tmp / "profiles.yaml"
    path.write_text(PROFILES.format(licence=licences[MINILM]))
    identity = Identity(registry)
    tokens = {}
    for user, profile in (("pat", "product"), ("rae", "research"), ("uma", "retired-team")):
        identity.add_user(user, ["read"], password="a long enough password")
        tokens[profile] = identity.create_token(user, "mirror", None, profile=profile).token
    identity.add_user("dan", ["read"], password="a long enough password")
    tokens["default"] = identity.create_token("dan", "mirror", None).token
    with serving(
        registry,
        PackageStore(str(tmp / "packages")),
        profiles=load_profiles(path),
        gate_config=load_gate_config(),
        refresh_s=3600,  # the registry does not change under these tests
    ) as server:
        yield {
            "url": server.url,
            "tokens": tokens,
            "old": old,
            "qa": qa_sha,
            "registry": registry,
            "path": path,
            "tmp": tmp,
        }


def test_each_profile_gets_the_newest_revision_it_approves(profiled, tmp_path):
    url, tokens = profiled["url"], profiled["tokens"]
    research = HfApi(endpoint=url, token=tokens["research"])
    product = HfApi(endpoint=url, token=tokens["product"])
    assert research.model_info(MINILM).sha == NEW_SHA
    assert product.model_info(MINILM).sha == profiled["old"]  # 0.7 < the product's 0.8
    # no profile on the token, or no token: the default profile
    assert HfApi(endpoint=url, token=tokens["default"]).model_info(MINILM).sha == profiled["old"]
    assert HfApi(endpoint=url, token=False).model_info(MINILM).sha == profiled["old"]
    assert {m.id for m in research.list_models()} == {MINILM, QA_MODEL}
    assert {m.id for m in product.list_models()} == {MINILM}

    caches = (tmp_path / f"cache-{i}" for i in range(100))

    def download(token, model, revision=None):  # a fresh cache: huggingface_hub answers a
        # refused request from its cache when the file is there (docs/mirror.md, Profiles)
        return hf_hub_download(
            model,
            "config.json",
            revision=revision,
            endpoint=url,
            token=token,
            cache_dir=next(caches),
        )

    assert json.loads(Path(download(tokens["research"], QA_MODEL)).read_text())
    with pytest.raises(GatedRepoError, match="not approved for profile product") as refused:
        download(tokens["product"], QA_MODEL)
    assert "licence" in str(refused.value)
    with pytest.raises(GatedRepoError, match="the approved revision is"):
        download(tokens["product"], MINILM, NEW_SHA)  # research's revision, by sha
    assert download(tokens["research"], MINILM, NEW_SHA)
    # a gate failure is refused under every profile, with the gate's reason
    with pytest.raises(GatedRepoError, match="quality gate"):
        download(tokens["research"], FAILING)
    # a token whose profile the mirror does not have is refused, never served another's
    with pytest.raises(GatedRepoError, match="does not have"):
        download(tokens["retired-team"], MINILM)


def test_no_request_leaks_across_profiles(profiled):
    """1,000 requests of every kind, each with a random caller, model and revision: every
    answer is the caller's profile's, and everything the profile approves is served."""
    url, tokens = profiled["url"], profiled["tokens"]
    old, qa = profiled["old"], profiled["qa"]
    allowed = {  # what each profile approves, from how the registry was built
        "product": {MINILM: old},
        "default": {MINILM: old},
        "anonymous": {MINILM: old},
        "research": {MINILM: NEW_SHA, QA_MODEL: qa},
        "retired-team": {},
    }
    rng = random.Random(31)
    models = [MINILM, QA_MODEL, FAILING, MINILM.upper(), "nobody/nothing"]
    revisions = ["main", old, NEW_SHA, qa, "0" * 40, None]
    routes = ["info", "revision", "resolve", "tree", "list", "paths"]
    leaks, refusals, served = [], 0, 0
    with httpx.Client(timeout=30) as client:
        for i in range(1000):
            who = rng.choice(list(allowed))
            model, rev, route = rng.choice(models), rng.choice(revisions), rng.choice(routes)
            headers = {} if who == "anonymous" else {"Authorization": f"Bearer {tokens[who]}"}
            sha_asked = rev if rev not in (None, "main") else None
            at = rev or "main"
            if route == "info":
                r = client.get(f"{url}/api/models/{model}", headers=headers)
                sha_asked = None
            elif route == "revision":
                r = client.get(f"{url}/api/models/{model}/revision/{at}", headers=headers)
            elif route == "resolve":
                r = client.get(f"{url}/{model}/resolve/{at}/config.json", headers=headers)
            elif route == "tree":
                r = client.get(f"{url}/api/models/{model}/tree/{at}", headers=headers)
            elif route == "paths":
                r = client.post(
                    f"{url}/api/models/{model}/paths-info/{at}",
                    data={"paths": ["config.json"]},
                    headers=headers,
                )
            else:
                r = client.get(f"{url}/api/models", headers=headers)
            mine = allowed[who]
            key = next((m for m in mine if m.lower() == model.lower()), None)
            if route == "list":
                got = {m["id"] for m in r.json()} if r.status_code == 200 else None
                if got != (set(mine) if who != "retired-team" else None):
                    leaks.append((i, who, route, r.status_code, got))
                continue
            expected_ok = key is not None and sha_asked in (None, mine[key])
            if r.status_code == 200:
                served += 1
                sha = r.headers.get("x-repo-commit") or (
                    r.json().get("sha") if route in ("info", "revision") else None
                )
                if not expected_ok or (sha is not None and sha != mine[key]):
                    leaks.append((i, who, route, model, rev, sha))
            else:
                refusals += 1
                if expected_ok or r.status_code >= 500:
                    leaks.append((i, who, route, model, rev, r.status_code, r.text[:200]))
    assert leaks == []
    assert served > 150 and refusals > 300  # both sides were tried, often


def test_the_real_clients_under_two_profiles(profiled, tmp_path):
    """transformers and sentence-transformers as users run them, with each profile's
    token (one process, a cache per token): each loads what its profile approves and is
    refused the rest, with the reason."""
    tokens = {p: profiled["tokens"][p] for p in ("product", "research")}
    script = f"""
import json, sys
from transformers import AutoModelForQuestionAnswering
from sentence_transformers import SentenceTransformer
from huggingface_hub import HfApi
results = {{}}
for profile, token in {tokens!r}.items():
    cache = {str(tmp_path)!r} + "/" + profile
    out = results[profile] = {{}}
    model = SentenceTransformer("{MINILM}", token=token, cache_folder=cache)
    out["st"] = list(model.encode(["hello"]).shape)
    out["sha"] = HfApi(token=token).model_info("{MINILM}").sha
    try:
        AutoModelForQuestionAnswering.from_pretrained("{QA_MODEL}", token=token, cache_dir=cache)
        out["qa"] = "loaded"
    except Exception as e:
        out["qa"] = str(e)
print(json.dumps(results))
"""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_ENDPOINT": profiled["url"],
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["product"]["st"] == results["research"]["st"] == [1, 384]
    assert results["product"]["sha"] == profiled["old"]
    assert results["research"]["sha"] == NEW_SHA
    assert results["research"]["qa"] == "loaded"
    assert "not approved for profile product" in results["product"]["qa"]


def test_tokens_and_locks_name_only_configured_profiles(profiled, monkeypatch):
    """`tokens create --profile` and `lock --profile` take configured names only, and a lock
    pins what its profile's callers are served."""
    registry, runner = profiled["registry"], CliRunner()
    with pipeline_env(profiled["url"], registry, profiled["tmp"]):
        monkeypatch.setenv("HUB_ASSETS_MIRROR_PROFILES", str(profiled["path"]))
        made = runner.invoke(
            main, ["tokens", "create", "--user", "rae", "--name", "ci", "--profile", "research"]
        )
        assert made.exit_code == 0, made.output
        wrong = runner.invoke(
            main, ["tokens", "create", "--user", "rae", "--name", "x", "--profile", "nope"]
        )
        assert wrong.exit_code != 0 and "expected one of product, research" in wrong.output
        assert "profile research" in runner.invoke(main, ["tokens", "list"]).output
        locks = profiled["tmp"] / "locks"
        locks.mkdir()
        for profile, sha in (("research", NEW_SHA), (None, profiled["old"])):
            out = locks / f"{profile}.lock"
            chosen = ["--profile", profile] if profile else []
            done = runner.invoke(main, ["lock", MINILM, "-o", str(out), *chosen])
            assert done.exit_code == 0, done.output
            assert json.loads(out.read_text())["models"][MINILM]["revision"] == sha
        refused = runner.invoke(main, ["lock", QA_MODEL, "-o", str(locks / "qa.lock")])
        assert refused.exit_code != 0 and "not approved for profile product" in refused.output
        monkeypatch.delenv("HUB_ASSETS_MIRROR_PROFILES")
        unset = runner.invoke(
            main, ["tokens", "create", "--user", "rae", "--name", "y", "--profile", "research"]
        )
        assert unset.exit_code != 0 and "HUB_ASSETS_MIRROR_PROFILES" in unset.output
