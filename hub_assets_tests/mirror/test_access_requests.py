"""Asking for a model through the mirror, reviewed with the unmodified huggingface_hub
client's gated-access calls: the requester's download goes from 403 to 200."""

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from hub_assets.devhub.demo_cases import QA_MODEL
from hub_assets.hub_protocol.http import ProtocolServer
from hub_assets.mirror import mirror_state
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.identity import Identity
from hub_assets.registry.identity import audit_events
from hub_assets.settings import load_settings
from hub_assets_tests import loopback
from hub_assets_tests.mirror.conftest import FAILING, copy_of, serving

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]
PASSWORD = "a long enough password"


def _token(identity: Identity, user: str, permissions: list[str]) -> str:
    identity.add_user(user, permissions, password=PASSWORD)
    return identity.create_token(user, "mirror", None).token


def test_ask_review_and_the_requesters_download_goes_from_403_to_200(world, tmp_path):
    registry = copy_of(world, tmp_path)
    identity = Identity(registry)
    bob = _token(identity, "bob", ["read"])
    alice = _token(identity, "alice", ["read"])
    rita = _token(identity, "rita", ["approve"])
    caches = (tmp_path / f"cache-{i}" for i in range(100))
    # a promoted-only mirror: tiny-bert-qa passed the gate and is packaged, not promoted
    with serving(registry, PackageStore(str(tmp_path / "packages")), promoted=True) as server:

        def download(token, model=QA_MODEL):  # a fresh cache: nothing served from disk
            return hf_hub_download(
                model, "config.json", endpoint=server.url, token=token, cache_dir=next(caches)
            )

        with pytest.raises(GatedRepoError, match="ask-access"):
            download(bob)

        def ask(token, model, **fields):
            return loopback.post(
                f"{server.url}/{model}/ask-access",
                data=fields,
                headers={"Authorization": f"Bearer {token}"},
            )

        asked = ask(bob, QA_MODEL, use="a QA assistant")
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "pending" and asked.json()["ingestRequestId"] is None
        failing = ask(bob, FAILING, use="text generation").json()
        new = ask(bob, "someone/not-in-the-registry").json()
        assert ask("hat_1_" + "x" * 40, QA_MODEL).status_code == 401
        assert loopback.post(f"{server.url}/{QA_MODEL}/ask-access").status_code == 401
        assert ask(bob, QA_MODEL, **{f"f{i}": "x" for i in range(30)}).status_code == 400
        with registry.read() as con:
            started = dict(
                con.execute(
                    "SELECT model_id, requested_by FROM ingest_requests WHERE status = 'pending'"
                ).fetchall()
            )
        # the request started the evaluation and the gate of what had none that passed
        assert started == {FAILING: "bob", "someone/not-in-the-registry": "bob"}
        assert failing["ingestRequestId"] and new["ingestRequestId"]

        reviewer = HfApi(endpoint=server.url, token=rita)
        [pending] = reviewer.list_pending_access_requests(QA_MODEL)
        assert (pending.username, pending.status) == ("bob", "pending")
        assert pending.fields == {"use": "a QA assistant"}
        with pytest.raises(HfHubHTTPError, match="approve permission"):
            list(HfApi(endpoint=server.url, token=alice).list_pending_access_requests(QA_MODEL))

        with pytest.raises(HfHubHTTPError, match="failed the quality gate"):
            reviewer.accept_access_request(FAILING, "bob")  # acceptance needs a passing gate
        reviewer.accept_access_request(QA_MODEL, "bob")
        assert [r.username for r in reviewer.list_accepted_access_requests(QA_MODEL)] == ["bob"]
        assert list(reviewer.list_pending_access_requests(QA_MODEL)) == []

        assert download(bob)  # 403 before, 200 now
        # `gated` is the caller's approval state: open to bob through his request
        assert HfApi(endpoint=server.url, token=bob).model_info(QA_MODEL).gated == "manual"
        with pytest.raises(GatedRepoError):
            download(alice)  # for the requester only
        with pytest.raises(GatedRepoError):
            download(False)

        reviewer.reject_access_request(QA_MODEL, "bob", rejection_reason="licence review")
        [rejected] = reviewer.list_rejected_access_requests(QA_MODEL)
        assert rejected.username == "bob"
        with pytest.raises(GatedRepoError):
            download(bob)
        reviewer.grant_access(QA_MODEL, "alice")
        assert download(alice)

    with registry.read() as con:
        audited = [(e["username"], e["action"], e["target"]) for e in audit_events(con)]
    assert ("rita", "mirror access accepted", f"{QA_MODEL} for bob") in audited
    assert ("rita", "mirror access rejected", f"{QA_MODEL} for bob") in audited
    assert ("bob", "mirror ask-access", QA_MODEL) in audited


BAD_REVIEWS = [
    ("handle", b"not json", 400),
    ("handle", b"[1, 2]", 400),
    ("handle", b'{"user": "bob", "status": "maybe"}', 400),
    ("handle", b'{"user": "bob", "requestId": "x", "status": "accepted"}', 400),
    ("handle", b'{"user": 7, "status": "accepted"}', 400),
    ("handle", b'{"user": "nobody", "status": "accepted"}', 404),
    ("handle", b'{"requestId": "nope", "status": "rejected"}', 404),
    ("handle", b'{"user": "bob", "status": "rejected", "rejectionReason": 5}', 400),
    ("grant", b'{"user": "nobody"}', 404),
    ("grant", b'{"user": ["bob"]}', 400),
    ("pending", b"", 405),
]


def test_bad_review_input_is_a_clear_4xx_and_changes_nothing(world, tmp_path):
    registry = copy_of(world, tmp_path)
    rita = _token(Identity(registry), "rita", ["approve"])
    with serving(registry, PackageStore(str(tmp_path / "packages"))) as server:
        for route, body, status in BAD_REVIEWS:
            r = loopback.post(
                f"{server.url}/api/models/{QA_MODEL}/user-access-request/{route}",
                content=body,
                headers={"Authorization": f"Bearer {rita}", "Content-Type": "application/json"},
            )
            assert r.status_code == status, (route, body, r.text)
            assert r.json()["error"]  # said in words
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM access_requests").fetchone() == (0,)


def test_the_mirror_reads_no_large_body(world, tmp_path):
    """The mirror as `mirror serve` builds it takes small bodies only: a 2 MB form is a 413
    by its length, not read into memory; a small one still gets through."""
    registry = copy_of(world, tmp_path)
    bob = _token(Identity(registry), "bob", ["read"])
    store = PackageStore(str(tmp_path / "packages"))
    state = mirror_state(load_settings(), registry, store, Identity(registry))
    with ProtocolServer(state) as server:
        auth = {"Authorization": f"Bearer {bob}"}
        big = loopback.post(
            f"{server.url}/{QA_MODEL}/ask-access", data={"use": "x" * 2_000_000}, headers=auth
        )
        assert big.status_code == 413 and "limited to 1,048,576 bytes" in big.json()["error"]
        small = loopback.post(
            f"{server.url}/{QA_MODEL}/ask-access", data={"use": "qa"}, headers=auth
        )
        assert small.status_code == 200, small.text
