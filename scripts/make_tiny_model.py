#!/usr/bin/env python3
"""Build a small randomly initialised checkpoint of a model family around a real tokenizer (offline).

Used to run the demo with other architectures when their pretrained weights cannot be downloaded: a Llama-style or
BLOOM-style decoder, or a DeBERTa-v2 encoder, with the tokenizer of a provisioned model (default: the XLM-R
SentencePiece tokenizer of multilingual-e5-small). Random weights: for checking that a family runs end to end, and
for speed and memory figures, not for accuracy.

    python scripts/make_tiny_model.py --family llama --out runs/models/tiny-llama
    python scripts/make_tiny_model.py --family llama --hidden 896 --layers 24 --heads 14 --out runs/models/llama-0.5b
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def build(family: str, tokenizer: str, out: Path, hidden: int, layers: int, heads: int, ffn: int | None,
          seed: int = 0) -> int:
    from transformers import (BloomConfig, BloomForCausalLM, DebertaV2Config, DebertaV2Model, LlamaConfig,
                              LlamaForCausalLM)

    from xstilts.models.backbone import load_tokenizer

    tok = load_tokenizer(tokenizer)
    vocab = len(tok)
    ffn = ffn or 4 * hidden
    torch.manual_seed(seed)
    common = dict(vocab_size=vocab, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                  eos_token_id=tok.eos_token_id)
    if family == "llama":
        model = LlamaForCausalLM(LlamaConfig(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                             num_key_value_heads=heads, intermediate_size=ffn,
                                             max_position_embeddings=2048, tie_word_embeddings=True, **common))
    elif family == "bloom":
        model = BloomForCausalLM(BloomConfig(hidden_size=hidden, n_layer=layers, n_head=heads, **common))
    elif family == "deberta-v2":
        model = DebertaV2Model(DebertaV2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                               intermediate_size=ffn, max_position_embeddings=512,
                                               relative_attention=True, position_buckets=256,
                                               pos_att_type=["p2c", "c2p"], **common))
    else:
        raise SystemExit(f"unknown family {family}")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=["llama", "bloom", "deberta-v2"], default="llama")
    ap.add_argument("--tokenizer", default="xstilts/multilingual-e5-small-4bit-rebuild")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=None)
    args = ap.parse_args()
    n = build(args.family, args.tokenizer, args.out, args.hidden, args.layers, args.heads, args.ffn)
    print(f"{args.family}: {n / 1e6:.1f}M parameters -> {args.out}")


if __name__ == "__main__":
    main()
