"""The one helper that starts the development Hub in another process."""

import httpx
import pytest

from hub_assets.devhub.process import ServerStartError, served_catalog
from hub_assets_tests import loopback


@pytest.mark.slow
def test_a_served_catalog_answers_and_stops(demo_catalog):
    with served_catalog(demo_catalog, tokens=["tok-x"]) as url:
        gated = f"{url}/hub-assets-demo/tiny-gpt2-gated/resolve/main/config.json"
        assert loopback.get(gated).status_code == 401
        assert loopback.get(gated, headers={"Authorization": "Bearer tok-x"}).status_code == 200
    with pytest.raises(httpx.TransportError):
        loopback.get(f"{url}/api/models", timeout=2)


def test_a_server_that_cannot_start_says_so(tmp_path):
    with pytest.raises(ServerStartError, match="exited with code"):
        with served_catalog(tmp_path / "no-such-catalog"):
            pass
