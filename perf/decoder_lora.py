#!/usr/bin/env python3
"""Throughput and peak memory of LoRA training of a decoder LLM with xstilts' training loop.

A Llama-style decoder is built from its config with random weights (default: Qwen2-0.5B shapes, 494M parameters),
in bf16 on the GPU, with LoRA adapters (r=16 on all attention and MLP projections) and a sequence-classification
head on the last token; it trains on random token sequences of the given batch and length with xstilts' ``train``.
Prints one JSON line: parameters, trainable parameters, examples/s, tokens/s, step time and peak memory.

    python perf/decoder_lora.py                        # GPU: 0.5B, batch 16 x length 256, bf16
    python perf/decoder_lora.py --tiny --device cpu    # CPU check with a tiny config
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer 64-wide decoder (CPU check)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    args = ap.parse_args()

    from accelerate import Accelerator
    from transformers import LlamaConfig, LlamaModel

    from xstilts.config import LoraConfig, TrainConfig
    from xstilts.models.heads import ClassificationHead
    from xstilts.models.backbone import add_lora, estimate_memory
    from xstilts.tasks import get_family, get_task
    from xstilts.train import MultiTaskModel, TaskData, train

    if args.tiny:
        cfg = LlamaConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=4, intermediate_size=128, max_position_embeddings=1024)
    else:  # Qwen2-0.5B shapes
        cfg = LlamaConfig(vocab_size=151936, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                          num_key_value_heads=2, intermediate_size=4864, max_position_embeddings=4096,
                          tie_word_embeddings=True)
    cfg.use_cache = False
    device = torch.device(args.device)
    bf16 = device.type == "cuda"
    torch.manual_seed(0)
    base = LlamaModel(cfg).to(device=device, dtype=torch.bfloat16 if bf16 else torch.float32)
    if args.gradient_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    enc = add_lora(base, LoraConfig(r=16, alpha=32, dropout=0.05))
    head = ClassificationHead(cfg.hidden_size, 2, 0.1, summary="last").to(device)
    model = MultiTaskModel(enc, {"pawsx": head})
    n = args.batch * (args.steps + args.warmup)
    g = torch.Generator().manual_seed(0)
    feats = {"input_ids": [torch.randint(3, cfg.vocab_size, (args.length,), generator=g).tolist() for _ in range(n)],
             "label": torch.randint(0, 2, (n,), generator=g).tolist()}
    task = get_task("pawsx")
    data = TaskData("pawsx", task, get_family(task.kind), feats)
    acc = Accelerator(cpu=device.type == "cpu", mixed_precision="bf16" if bf16 else "no")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    est = estimate_memory(model, args.batch, args.length, args.gradient_checkpointing, amp=bf16)
    hp = TrainConfig(max_steps=args.warmup, lr=1e-4, batch_size=args.batch, warmup_ratio=0.0, log_every=1)
    train(model, [data], hp, seed=0, accelerator=acc, pad_id=0)  # warm-up (kernels, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    hp = TrainConfig(max_steps=args.steps, lr=1e-4, batch_size=args.batch, warmup_ratio=0.0, log_every=args.steps)
    t0 = time.perf_counter()
    hist = train(model, [data], hp, seed=1, accelerator=acc, pad_id=0)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    print(json.dumps({
        "model": "tiny-llama" if args.tiny else "llama (Qwen2-0.5B shapes)", "device": str(device),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None, "bf16": bf16,
        "parameters": total, "trainable": trainable, "batch": args.batch, "length": args.length,
        "steps": args.steps, "step_s": dt / args.steps, "examples_per_s": args.batch * args.steps / dt,
        "tokens_per_s": args.batch * args.length * args.steps / dt,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
        "estimated_memory_gib": est["total"] / 2**30, "final_loss": hist["loss_curve"][-1][1],
    }))


if __name__ == "__main__":
    main()
