"""Child process: load the splits of one pinned dataset through a Hub endpoint with
`datasets`, each to a Parquet file.

`datasets` reads the Hub endpoint (HF_ENDPOINT) when it is imported, so loads run in a child
process whose environment names the endpoint; one child loads every split of a pin, so the
library is imported once per dataset, not once per split. Usage:
`python -m hub_assets.evaluation.fetch_dataset REPO REVISION CACHE (CONFIG SPLIT OUT.parquet)...`
It prints one JSON object: each `config/split` with its number of rows.
"""

import json
import sys


def main(repo: str, revision: str, cache: str, *triples: str) -> None:
    """Load each (config, split) of `repo` at `revision` into its Parquet file."""
    import datasets

    if not triples or len(triples) % 3:
        raise SystemExit("expected (CONFIG SPLIT OUT) triples after REPO REVISION CACHE")
    rows = {}
    for i in range(0, len(triples), 3):
        config, split, out = triples[i : i + 3]
        ds = datasets.load_dataset(repo, config, split=split, revision=revision, cache_dir=cache)
        ds.to_parquet(out)
        rows[f"{config}/{split}"] = len(ds)
    print(json.dumps(rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
