"""The bounded GGUF header reader: the same numbers as llama.cpp's own reader, a header
read by range without the tensor data, and every malformation a finding, never a crash."""

import random
import struct

import gguf
import numpy as np
import pytest

from hub_assets.devhub.demo_weights import DemoWeights, malformed_gguf, write_gguf
from hub_assets.errors import MalformedGgufError
from hub_assets.hub.gguf_header import gguf_summary, read_gguf_header, read_local_gguf_header


@pytest.fixture(scope="module")
def ggufs(tmp_path_factory):
    """The demo catalog's tiny Llama written as F16 and Q8_0 GGUF files."""
    tmp = tmp_path_factory.mktemp("gguf")
    folder = DemoWeights(tmp).model_folder("llama", 22)
    out = {}
    for quant in ("F16", "Q8_0"):
        out[quant] = tmp / f"tiny-llama-{quant}.gguf"
        write_gguf(folder, out[quant], quant)
    return out


@pytest.mark.parametrize("quant", ["F16", "Q8_0"])
def test_header_has_the_numbers_of_the_gguf_package_reader(ggufs, quant):
    header = read_local_gguf_header(ggufs[quant])
    reference = gguf.GGUFReader(ggufs[quant])
    assert header.parameters == sum(int(t.n_elements) for t in reference.tensors) == 56_992
    assert header.tensor_bytes == sum(int(t.n_bytes) for t in reference.tensors)
    assert [(t.name, t.type_name) for t in header.tensors] == [
        (t.name, t.tensor_type.name) for t in reference.tensors
    ]
    assert header.data_offset == reference.data_offset
    assert header.quantization == quant
    assert header.file_type == f"MOSTLY_{quant}"
    summary = gguf_summary(header)
    assert summary["architecture"] == "llama"
    assert summary["arch"] == {
        "layers": 2,
        "hidden_size": 32,
        "heads": 4,
        "kv_heads": 2,
        "head_dim": 8,
        "context_length": 128,
        "decoder": True,
    }
    assert summary["parameters_by_type"] == {"F32": 160, quant: 56_832}
    assert header.array_counts["tokenizer.ggml.tokens"] == 600


def test_a_header_is_read_without_the_tensor_data(tmp_path):
    path = tmp_path / "big.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((2048, 2048), dtype=np.float32))  # 16 MiB
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    size = path.stat().st_size
    read = []

    def read_at(offset: int, length: int) -> bytes:
        read.append(length)
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(length)

    header = read_gguf_header(read_at, size)
    assert header.parameters == 2048 * 2048 and header.tensor_bytes == 16 * 1024**2
    assert sum(read) <= 1024**2 < size / 16  # one range request of at most 1 MiB


def _header(*parts: bytes) -> bytes:
    return b"GGUF" + struct.pack("<I", 3) + b"".join(parts)


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda b: b"GGML" + b[4:], "not a GGUF file"),
        (lambda b: b[:4] + struct.pack("<I", 7) + b[8:], "GGUF version 7 is not supported"),
        (malformed_gguf, "claims 1,099,511,627,776 tensors (limit 100,000)"),
        (lambda b: b[:200], "past the end of the 200-byte file"),
        (lambda b: b[: len(b) - 4096], "outside the file's"),
        (
            lambda _: _header(struct.pack("<QQ", 0, 1), struct.pack("<Q", 1 << 62)),
            "claims 4,611,686,018,427,387,904 bytes",
        ),
        (
            lambda _: _header(struct.pack("<QQ", 0, 1), struct.pack("<Q", 1), b"k", b"\x63\0\0\0"),
            "has unknown value type 99",
        ),
        (
            lambda _: _header(
                struct.pack("<QQ", 0, 1),
                struct.pack("<Q", 1) + b"k",
                struct.pack("<IIQ", 9, 4, 1 << 40),
            ),
            "claims 1,099,511,627,776 items",
        ),
        (
            lambda _: _header(
                struct.pack("<QQ", 1, 0),
                struct.pack("<Q", 1) + b"t",
                struct.pack("<I", 9),
            ),
            "claims 9 dimensions",
        ),
    ],
)
def test_malformed_headers_are_findings(ggufs, tmp_path, mutate, words):
    path = tmp_path / "bad.gguf"
    path.write_bytes(mutate(ggufs["Q8_0"].read_bytes()))
    with pytest.raises(MalformedGgufError) as e:
        read_local_gguf_header(path)
    assert words in str(e.value)
    assert e.value.outcome == "unsafe_repo"


def test_random_corruption_never_crashes_the_reader(ggufs, tmp_path):
    original = ggufs["Q8_0"].read_bytes()
    rng = random.Random(7)
    outcomes = {"parsed": 0, "finding": 0}
    for i in range(300):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(0, 2048)] = rng.randrange(256)
        path = tmp_path / f"fuzz-{i}.gguf"
        path.write_bytes(bytes(data))
        try:
            read_local_gguf_header(path)
            outcomes["parsed"] += 1
        except MalformedGgufError:
            outcomes["finding"] += 1
    assert outcomes["finding"] > 0 and sum(outcomes.values()) == 300
