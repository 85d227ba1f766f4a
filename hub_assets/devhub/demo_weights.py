"""Tiny models for the demo catalog: tokenizers trained here on invented text, randomly
initialised GPT-2 / T5 / BERT weights, and the hostile files (a malicious pickle, an
oversized sparse safetensors) the gate must catch. Deterministic: fixed seeds."""

from __future__ import annotations

import io
import json
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

from hub_assets.devhub.demo_text import tokenizer_corpus

# The harmless command the malicious pickle names; nothing in this project ever loads it.
PICKLE_MARKER_COMMAND = "echo hub-assets-demo-pickle-marker"


class DemoWeights:
    """Makes model folders under `tmp`, training each tokenizer once."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._tokenizers: dict[str, Path] = {}

    def tokenizer(self, kind: str) -> Path:
        """A tokenizer trained here on invented text, saved with save_pretrained."""
        if kind in self._tokenizers:
            return self._tokenizers[kind]
        from tokenizers import (
            Tokenizer,
            decoders,
            models,
            normalizers,
            pre_tokenizers,
            processors,
            trainers,
        )
        from transformers import PreTrainedTokenizerFast

        corpus = tokenizer_corpus()
        if kind == "wordpiece":
            # Built by counting, not by the WordPiece trainer, whose tie-breaking varies from
            # run to run: the demo catalog must come out byte-identical every time.
            special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
            vocab = _wordpiece_vocab(corpus, special, size=600)
            tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
            tok.normalizer = normalizers.BertNormalizer(lowercase=True)
            tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            tok.decoder = decoders.WordPiece()
            tok.post_processor = processors.TemplateProcessing(
                single="[CLS] $A [SEP]",
                pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
            )
            fast = PreTrainedTokenizerFast(
                model_input_names=["input_ids", "token_type_ids", "attention_mask"],
                tokenizer_object=tok,
                unk_token="[UNK]",
                pad_token="[PAD]",
                cls_token="[CLS]",
                sep_token="[SEP]",
                mask_token="[MASK]",
                model_max_length=128,
            )
        else:
            tok = Tokenizer(models.BPE(unk_token=None))
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            special = ["<|endoftext|>", "<pad>"]
            tok.train_from_iterator(
                corpus,
                trainers.BpeTrainer(
                    vocab_size=600,
                    special_tokens=special,
                    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                ),
            )
            fast = PreTrainedTokenizerFast(
                tokenizer_object=tok,
                bos_token="<|endoftext|>",
                eos_token="<|endoftext|>",
                unk_token="<|endoftext|>",
                pad_token="<pad>",
                model_max_length=128,
            )
        out = self.tmp / f"tokenizer-{kind}"
        fast.save_pretrained(out)
        self._tokenizers[kind] = out
        return out

    def model_folder(
        self,
        arch: str,
        seed: int,
        *,
        tokenizer: bool = True,
        pickle_only: bool = False,
        name_or_path: str | None = None,
    ) -> Path:
        """Save a tiny randomly initialised model (and its tokenizer) to a fresh folder."""
        import torch
        from transformers import (
            BertConfig,
            BertModel,
            GPT2Config,
            GPT2LMHeadModel,
            LlamaConfig,
            LlamaForCausalLM,
            T5Config,
            T5ForConditionalGeneration,
        )

        torch.manual_seed(seed)
        tok_kind = "wordpiece" if arch == "bert" else "bpe"
        tok_dir = self.tokenizer(tok_kind)
        vocab = json.loads((tok_dir / "tokenizer.json").read_text())["model"]["vocab"]
        vocab_size = len(vocab)
        if arch == "gpt2":
            eos = vocab["<|endoftext|>"]
            config = GPT2Config(
                vocab_size=vocab_size,
                n_positions=128,
                n_embd=32,
                n_layer=2,
                n_head=2,
                bos_token_id=eos,
                eos_token_id=eos,
                pad_token_id=vocab["<pad>"],
            )
            model = GPT2LMHeadModel(config)
        elif arch == "t5":
            pad, eos = vocab["<pad>"], vocab["<|endoftext|>"]
            config = T5Config(
                vocab_size=vocab_size,
                d_model=32,
                d_kv=16,
                d_ff=64,
                num_layers=2,
                num_heads=2,
                pad_token_id=pad,
                eos_token_id=eos,
                decoder_start_token_id=pad,
            )
            model = T5ForConditionalGeneration(config)
        elif arch == "llama":
            eos = vocab["<|endoftext|>"]
            config = LlamaConfig(
                **llama_shape(vocab_size),
                bos_token_id=eos,
                eos_token_id=eos,
                pad_token_id=vocab["<pad>"],
                tie_word_embeddings=False,
            )
            model = LlamaForCausalLM(config)
        elif arch == "bert":
            config = BertConfig(
                vocab_size=vocab_size,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=64,
                max_position_embeddings=128,
                pad_token_id=vocab["[PAD]"],
            )
            model = BertModel(config)
        else:
            raise ValueError(f"Unknown demo architecture {arch!r}")
        out = Path(tempfile.mkdtemp(dir=self.tmp, prefix=f"{arch}-"))
        if name_or_path:
            model.config._name_or_path = name_or_path
        model.save_pretrained(out)
        if name_or_path:  # transformers drops _name_or_path when saving; the Hub keeps it
            cfg = json.loads((out / "config.json").read_text())
            cfg["_name_or_path"] = name_or_path
            (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        if pickle_only:
            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            torch.save(state, out / "pytorch_model.bin")
            (out / "model.safetensors").unlink()
        if tokenizer:
            for f in tok_dir.iterdir():
                shutil.copy(f, out / f.name)
        return out


def llama_shape(vocab_size: int) -> dict:
    """The tiny Llama's shape: 2 layers, 4 query heads sharing 2 KV heads (GQA)."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 128,
    }


def write_gguf(folder: Path, out: Path, quantization: str) -> None:
    """The tiny Llama of `folder` as a GGUF file (F16 or Q8_0), written with the `gguf`
    package the way llama.cpp's converter lays it out: llama tensor names, Q/K rows
    permuted for llama.cpp's RoPE, norms in F32, the byte-level BPE vocabulary and merges
    as tokenizer metadata (transformers loads it back with `gguf_file=`)."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text())
    tok = json.loads((folder / "tokenizer.json").read_text())
    vocab, merges = tok["model"]["vocab"], tok["model"]["merges"]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    qtypes = {
        "F16": (gguf.LlamaFileType.MOSTLY_F16, gguf.GGMLQuantizationType.F16),
        "Q8_0": (gguf.LlamaFileType.MOSTLY_Q8_0, gguf.GGMLQuantizationType.Q8_0),
    }
    file_type, qtype = qtypes[quantization]
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_dimension_count(hidden // heads)
    w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    w.add_rope_freq_base(float((config.get("rope_parameters") or {}).get("rope_theta", 1e4)))
    w.add_file_type(file_type)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    tokens = sorted(vocab, key=vocab.get)
    specials = ("<|endoftext|>", "<pad>")
    w.add_token_list(tokens)
    w.add_token_types(
        [gguf.TokenType.CONTROL if t in specials else gguf.TokenType.NORMAL for t in tokens]
    )
    w.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    w.add_bos_token_id(vocab["<|endoftext|>"])
    w.add_eos_token_id(vocab["<|endoftext|>"])
    w.add_pad_token_id(vocab["<pad>"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)

    def permute(x: np.ndarray, n_head: int) -> np.ndarray:
        return (
            x.reshape(n_head, 2, x.shape[0] // n_head // 2, *x.shape[1:])
            .swapaxes(1, 2)
            .reshape(x.shape)
        )

    for name, tensor in sorted(load_file(folder / "model.safetensors").items()):
        a = tensor.astype(np.float32)
        if name.endswith("q_proj.weight"):
            a = permute(a, heads)
        elif name.endswith("k_proj.weight"):
            a = permute(a, kv_heads)
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if a.ndim == 1:
            w.add_tensor(target, a)
        elif qtype == gguf.GGMLQuantizationType.Q8_0:
            w.add_tensor(target, gguf.quants.quantize(a, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(target, a.astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def malformed_gguf(valid: bytes) -> bytes:
    """A GGUF file whose header claims 2^40 tensors: a reader that trusts it allocates
    without bound (the security metric must report it, never crash)."""
    return valid[:8] + (1 << 40).to_bytes(8, "little") + valid[16:]


def lora_adapter(base_folder: Path, out: Path, base_id: str, seed: int) -> Path:
    """A PEFT LoRA adapter (rank 4 on q_proj and v_proj) for the Llama in `base_folder`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_folder)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights="gaussian"
    )
    model = get_peft_model(base, config)
    model.save_pretrained(out)
    cfg = json.loads((out / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = base_id
    # peft keeps target_modules as a set: its order follows the process's hash seed
    cfg["target_modules"] = sorted(cfg["target_modules"])
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    (out / "README.md").unlink(missing_ok=True)
    return out


def _wordpiece_vocab(corpus: list[str], special: list[str], size: int) -> dict[str, int]:
    """A WordPiece vocabulary: specials, every character (alone and as ##suffix), then the
    most frequent lower-cased words (ties broken alphabetically)."""
    import re
    from collections import Counter

    words = Counter(w for line in corpus for w in re.findall(r"\w+|[^\w\s]", line.lower()))
    chars = sorted({c for w in words for c in w})
    tokens = list(special) + chars + [f"##{c}" for c in chars]
    for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(tokens) >= size:
            break
        if w not in tokens:
            tokens.append(w)
    return {t: i for i, t in enumerate(tokens)}


def _malicious_pickle(command: str) -> bytes:
    """Pickle bytes that would call os.system(command) if unpickled. Built, never loaded."""
    cmd = command.encode()
    return (
        b"\x80\x02"  # PROTO 2
        + b"cposix\nsystem\n"  # GLOBAL posix.system
        + b"X"
        + struct.pack("<I", len(cmd))
        + cmd  # BINUNICODE command
        + b"\x85"  # TUPLE1
        + b"R"  # REDUCE
        + b"."  # STOP
    )


def _scanner_bypass_pickle(command: str) -> bytes:
    """Pickle bytes whose only import is `_posixsubprocess.fork_exec` (it starts a process):
    picklescan (1.0.5) rates that global merely suspicious, fickling overtly malicious. The
    shape of the published picklescan bypasses: a callable that runs code, outside the
    scanner's denylist. Built, never loaded."""
    module, name, arg = b"_posixsubprocess", b"fork_exec", command.encode()
    return (
        b"\x80\x04"  # PROTO 4
        + b"\x8c"
        + bytes([len(module)])
        + module
        + b"\x94"  # SHORT_BINUNICODE, MEMOIZE
        + b"\x8c"
        + bytes([len(name)])
        + name
        + b"\x94"
        + b"\x93\x94"  # STACK_GLOBAL
        + b"\x8c"
        + bytes([len(arg)])
        + arg
        + b"\x94"
        + b"\x85\x94"  # TUPLE1
        + b"R\x94."  # REDUCE, STOP
    )


def scanner_bypass_torch_zip() -> bytes:
    """A torch-style zip (`training_args.bin`) holding the scanner-bypass pickle."""
    return _torch_zip(_scanner_bypass_pickle(PICKLE_MARKER_COMMAND))


def _torch_zip(pickled: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in (("archive/data.pkl", pickled), ("archive/version", b"3\n")):
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 9, 9, 10, 0, 0)), data)
    return buf.getvalue()


REMOTE_CODE = b'''"""Custom modeling code: what `trust_remote_code=True` would import and run."""

from transformers import GPT2LMHeadModel


class TinyRemoteModel(GPT2LMHeadModel):
    """A GPT-2 under another name: loading it runs this file."""
'''


def malicious_torch_zip() -> bytes:
    """A torch-style zip whose data.pkl is the malicious pickle (deterministic bytes)."""
    return _torch_zip(_malicious_pickle(PICKLE_MARKER_COMMAND))


def sparse_safetensors(path: Path, total: int) -> None:
    """A valid safetensors file of `total` bytes of zeros, written sparse (seek, no data)."""
    n_params = (total - 1024) // 4
    header = {
        "__metadata__": {"format": "pt"},
        "transformer.wte.weight": {
            "dtype": "F32",
            "shape": [n_params],
            "data_offsets": [0, n_params * 4],
        },
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + n_params * 4)
