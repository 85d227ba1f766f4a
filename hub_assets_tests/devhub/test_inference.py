"""The development Hub's inference routes, driven by huggingface_hub's real InferenceClient."""

import numpy as np
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from hub_assets.devhub.demo_catalog import MINILM, ORG, QA_MODEL
from hub_assets.evaluation.inference_api import model_url
from hub_assets_tests import loopback

CONTEXT = "The town of Brill lies on the river Oase. Its mayor is Tilda Rask."


@pytest.mark.parametrize("route", ["endpoint", "provider"])
def test_feature_extraction_answers_a_row_per_input(hub_server, route):
    url = (
        f"{hub_server.url}/models/{MINILM}"
        if route == "endpoint"
        else model_url(hub_server.url, "hf-inference", MINILM, "feature-extraction")
    )
    client = InferenceClient(model=url)
    rows = client.feature_extraction(["a red bicycle", "a blue bicycle", "tax law"])
    assert rows.shape == (3, 384)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    assert rows[0] @ rows[1] > rows[0] @ rows[2]  # a real encoder: similar texts are close
    assert client.feature_extraction("one text").shape == (1, 384)
    assert hub_server.state.requests["POST inference"] == 2


def test_question_answering_answers_a_span_or_nothing(hub_server):
    client = InferenceClient(
        model=model_url(hub_server.url, "hf-inference", QA_MODEL, "question-answering")
    )
    got = client.question_answering(
        question="Who is the mayor of Brill?", context=CONTEXT, handle_impossible_answer=True
    )
    assert CONTEXT[got.start : got.end] == got.answer and 0 < got.score <= 1
    span = client.question_answering(question="What is the capital of Mars?", context=CONTEXT)
    assert span.answer == CONTEXT[span.start : span.end].strip() and span.answer


@pytest.mark.parametrize("model", [f"{ORG}/tiny-gpt2-complete", f"{ORG}/tiny-t5-qa"])
def test_text_generation_is_greedy_and_repeatable(hub_server, model):
    client = InferenceClient(model=f"{hub_server.url}/models/{model}")
    prompt = f"Context: {CONTEXT}\nQuestion: Who is the mayor?\nAnswer:"
    first = client.text_generation(prompt, max_new_tokens=6, do_sample=False)
    assert isinstance(first, str)
    assert client.text_generation(prompt, max_new_tokens=6, do_sample=False) == first
    full = client.text_generation(prompt, max_new_tokens=6, return_full_text=True)
    assert full == prompt + first


def test_an_oversized_model_is_served_by_its_stand_in(hub_server):
    prompt = "Context: x\nQuestion: y\nAnswer:"
    big = InferenceClient(model=f"{hub_server.url}/models/{ORG}/gpt2-oversized")
    base = InferenceClient(model=f"{hub_server.url}/models/{ORG}/tiny-gpt2-complete")
    assert big.text_generation(prompt, max_new_tokens=5) == base.text_generation(
        prompt, max_new_tokens=5
    )


def test_bad_requests_answer_as_the_hub_does(hub_server):
    with pytest.raises(HfHubHTTPError) as e:
        InferenceClient(model=f"{hub_server.url}/models/{ORG}/no-such-model").feature_extraction(
            "x"
        )
    assert e.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as e:  # gated: needs a token with access
        InferenceClient(model=f"{hub_server.url}/models/{ORG}/tiny-gpt2-gated").text_generation(
            "x", max_new_tokens=2
        )
    assert e.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as e:  # an encoder cannot answer questions
        InferenceClient(model=f"{hub_server.url}/models/{MINILM}").question_answering(
            question="q", context="c"
        )
    assert e.value.response.status_code == 400
    with pytest.raises(HfHubHTTPError) as e:
        InferenceClient(model=f"{hub_server.url}/together/models/{MINILM}").feature_extraction("x")
    assert e.value.response.status_code == 404

    bad = loopback.post(f"{hub_server.url}/models/{MINILM}", content=b"{not json")
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]
    bad = loopback.post(f"{hub_server.url}/models/{MINILM}", json={"inputs": [1, 2]})
    assert bad.status_code == 400 and "strings" in bad.json()["error"]


def test_faults_apply_to_the_inference_routes(hub_server):
    client = InferenceClient(model=f"{hub_server.url}/models/{MINILM}")
    hub_server.add_fault("status", route="^/models/", status=503, times=1)
    with pytest.raises(HfHubHTTPError) as e:
        client.feature_extraction("x")
    assert e.value.response.status_code == 503
    hub_server.add_fault("status", route="^/models/", status=429, retry_after=7, times=1)
    with pytest.raises(HfHubHTTPError) as e:
        client.feature_extraction("x")
    assert e.value.response.status_code == 429
    assert e.value.response.headers["Retry-After"] == "7"
    assert client.feature_extraction("x").shape == (1, 384)
