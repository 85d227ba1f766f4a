"""Child process: read a dataset through a Hub endpoint with `datasets`.

`datasets` reads the Hub endpoint (HF_ENDPOINT) when it is imported, so loads run in a child
process whose environment names the endpoint; one child loads every split of a pin, so the
library is imported once per dataset, not once per split. Two uses:

- `python -m hub_assets.evaluation.fetch_dataset REPO REVISION CACHE (CONFIG SPLIT OUT)...`
  loads each (config, split) of a pinned evaluation set into its Parquet file and prints
  one JSON object: `rows`, each `config/split` with its number of rows.
- `python -m hub_assets.evaluation.fetch_dataset --text REPO REVISION CACHE OUT MAX_ROWS`
  streams the `train` split of a declared training dataset and writes each row's text
  (its string fields, joined, cut at MAX_ROW_CHARS) as one JSON line, up to MAX_ROWS rows
  and MAX_TOTAL_CHARS characters, for the overlap check;
  it prints `{"rows": N, "complete": bool}`.
"""

import json
import sys

# a training row's text is cut here: the overlap check needs its n-grams, not a hostile
# dataset's gigabyte-long string (rows x this bounds what the parent reads)
MAX_ROW_CHARS = 20_000
MAX_TOTAL_CHARS = 200_000_000  # and the whole read stops here (marked incomplete)


def preload() -> None:
    """Import the loader's libraries (the warm box server calls this once, before it forks
    the loads): `datasets`, which reads the Hub endpoint as it is imported."""
    import datasets  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def reach_the_hub(repo: str, revision: str) -> None:
    """Connect to the Hub once before `datasets` does, so that a Hub that cannot be reached
    is said at once, as the pipeline's Hub client says it (`HubClient.call`). `datasets`
    would retry the connection with huggingface_hub's back-off, 23 s of sleeps, and then
    fail the same way. The answer's body is never read and no token is sent: any answer
    lets the load go on, and `datasets` words an error status itself."""
    from urllib.parse import quote

    import httpx2
    from huggingface_hub import constants

    from hub_assets.hub.pacing import transport_words

    url = f"{constants.ENDPOINT}/api/datasets/{repo}/revision/{quote(revision, safe='')}"
    try:
        with httpx2.stream("GET", url, timeout=30):
            pass
    except httpx2.ConnectError as e:
        raise SystemExit(
            f"The Hub at {constants.ENDPOINT} is unreachable ({transport_words(e)})."
        ) from None
    except httpx2.TransportError:  # slow or cut short: `datasets` has its own patience
        pass


def main(repo: str, revision: str, cache: str, *triples: str) -> None:
    """Load each (config, split) of `repo` at `revision` into its Parquet file."""
    import datasets

    if not triples or len(triples) % 3:
        raise SystemExit("expected (CONFIG SPLIT OUT) triples after REPO REVISION CACHE")
    reach_the_hub(repo, revision)
    rows = {}
    for i in range(0, len(triples), 3):
        config, split, out = triples[i : i + 3]
        ds = datasets.load_dataset(repo, config, split=split, revision=revision, cache_dir=cache)
        ds.to_parquet(out)
        rows[f"{config}/{split}"] = len(ds)
    print(json.dumps({"rows": rows}))


def _text(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _text(v)]
    if isinstance(value, list):
        return [t for v in value for t in _text(v)]
    return []


def training_text(repo: str, revision: str, cache: str, out: str, max_rows: str) -> None:
    """Stream up to `max_rows` rows of the `train` split, each row's text as a JSON line."""
    import datasets

    limit = int(max_rows)
    reach_the_hub(repo, revision)
    ds = datasets.load_dataset(
        repo, split="train", revision=revision, cache_dir=cache, streaming=True
    )
    n, chars, complete = 0, 0, True
    with open(out, "w", encoding="utf-8") as f:
        for row in ds:
            if n >= limit or chars >= MAX_TOTAL_CHARS:
                complete = False
                break
            text = " ".join(_text(row))[:MAX_ROW_CHARS]
            f.write(json.dumps(text) + "\n")
            n, chars = n + 1, chars + len(text)
    print(json.dumps({"rows": n, "complete": complete}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--text"]:
        training_text(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
