"""Child process: load one dataset split through a Hub endpoint with `datasets`, to Parquet.

`datasets` reads the Hub endpoint (HF_ENDPOINT) when it is imported, so each load runs in a
child process whose environment names the endpoint. Usage:
`python -m hub_assets.evaluation.fetch_dataset REPO REVISION CONFIG SPLIT OUT.parquet CACHE`.
"""

import sys


def main(repo: str, revision: str, config: str, split: str, out: str, cache: str) -> None:
    import datasets

    ds = datasets.load_dataset(repo, config, split=split, revision=revision, cache_dir=cache)
    ds.to_parquet(out)
    print(len(ds))


if __name__ == "__main__":
    main(*sys.argv[1:7])
