"""Data and model parallelism: the process group (:class:`_Dist`), DDP and FSDP2 wrapping, full state dicts, and
the per-rank pieces of a global batch and of the resume state."""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from ..errors import XstiltsError
from .model import _LossModule


class _Dist:
    """Collectives of a data-parallel run (no-ops in a single process)."""

    def __init__(self, accelerator):
        self.acc = accelerator
        self.world, self.rank = accelerator.num_processes, accelerator.process_index

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
        return t

    def any(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.acc.device)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        out: list = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            self.acc.wait_for_everyone()


class Replicas:
    """The model as this process trains it, and every place where that depends on how it is replicated: the
    caller's model itself (one process), a DDP replica of it, or a sharded FSDP2 copy (the caller's model, meanwhile
    on the CPU, receives the trained weights from :meth:`finish`).

    Args:
        inner: the unwrapped :class:`~xstilts.train.model.MultiTaskModel` (its weights already resumed).
        dist: the process group (:class:`_Dist`).
        fsdp: shard with FSDP2 (:func:`_fsdp`) instead of replicating with DDP (data-parallel runs only).
    """

    def __init__(self, inner: nn.Module, dist: _Dist, fsdp: bool, device: torch.device):
        self.inner, self.dist, self.fsdp, self.device = inner, dist, fsdp, device
        if fsdp:  # a sharded copy trains; *inner* (on the CPU meanwhile) gets its weights at the end
            self.sharded = _fsdp(_LossModule(copy.deepcopy(inner)), device, dist.world)
            self.trained: nn.Module = self.sharded
        else:
            inner.to(device)
            self.sharded = None
            self.trained = inner

    def load_optimizer_state(self, optimizer, state: dict) -> None:
        """Resume *optimizer* from a checkpoint's full optimizer state dict (sharded again with FSDP)."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(self.sharded, optimizer, state, options=StateDictOptions(full_state_dict=True))
        else:
            optimizer.load_state_dict(state)

    def prepare_optimizer(self, optimizer, accelerator):
        """accelerate's optimizer wrapper (mixed-precision gradient scaling); with FSDP the plain optimizer (bf16
        autocast needs no gradient scaler)."""
        return optimizer if self.fsdp else accelerator.prepare(optimizer)

    def loss_module(self) -> nn.Module:
        """What a step calls: ``module(label, family, batch) -> loss`` (:class:`~xstilts.train.model._LossModule`)."""
        return self.sharded if self.fsdp else _LossModule(self.inner)

    def set_position_offset(self, offset) -> None:
        """Packed rows' position offset (:func:`~xstilts.models.backbone.packing_layout`) on every copy."""
        self.inner.position_offset = offset
        if self.fsdp:
            self.sharded.model.position_offset = offset

    def data_parallel(self, module: nn.Module) -> nn.Module:
        """*module* under DDP when several processes replicate the model (FSDP shards already)."""
        return _ddp(module, self.device) if self.dist.world > 1 and not self.fsdp else module

    def gradient_sync(self, module: nn.Module, last: bool):
        """The context of one backward pass: gradients are synchronised across processes on a step's last
        micro-batch only."""
        if self.fsdp:
            module.set_requires_gradient_sync(last)
            return contextlib.nullcontext()
        return module.no_sync() if self.dist.world > 1 and not last else contextlib.nullcontext()

    def clip_gradients(self, accelerator, max_norm: float) -> None:
        if self.fsdp:  # sharded gradients (DTensors): torch computes the global norm
            nn.utils.clip_grad_norm_(self.trained.parameters(), max_norm)
        else:
            accelerator.clip_grad_norm_(self.inner.parameters(), max_norm)

    def full_state(self, optimizer, main: bool) -> dict | None:
        """``{"model", "optim"}``: full state dicts for a checkpoint, on the main process (``None`` elsewhere). With
        FSDP a collective: every process calls it."""
        if self.fsdp:
            return _fsdp_full_state(self.sharded, optimizer)
        return {"model": self.inner.state_dict(), "optim": optimizer.state_dict()} if main else None

    def finish(self) -> None:
        """The trained weights into the caller's (unsharded) model, in every process (FSDP; otherwise it is the
        model that trained)."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            weights = get_model_state_dict(self.sharded, options=StateDictOptions(full_state_dict=True))
            self.inner.load_state_dict({k.removeprefix("model."): v for k, v in weights.items()})
            self.inner.to(self.device)


def _ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DDP over *module* (the process group is accelerate's). Buffers are not synchronised at each forward (the
    encoders' buffers are constant); ``find_unused_parameters`` since a step uses one task's head only."""
    import inspect

    kwargs = {"device_ids": [device.index] if device.type == "cuda" else None, "find_unused_parameters": True}
    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    kwargs["forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"] = False
    return nn.parallel.DistributedDataParallel(module, **kwargs)


def _wants_fsdp(accelerator, distributed: str | None, hp) -> bool:
    """Whether a data-parallel run shards parameters, gradients and optimizer states (FSDP) rather than replicating
    them (DDP): *distributed* ``fsdp``, or none given and the run launched with ``accelerate launch --use_fsdp``."""
    if distributed is None:
        distributed = "fsdp" if str(getattr(accelerator, "distributed_type", "")).endswith("FSDP") else "ddp"
    if distributed not in ("ddp", "fsdp"):
        raise XstiltsError(f"distributed: {distributed!r}; expected ddp or fsdp")
    if distributed == "fsdp":
        if getattr(hp, "compile", False):
            raise XstiltsError("compile is not supported with distributed: fsdp; set compile: false")
        if getattr(accelerator, "mixed_precision", "no") == "fp16":
            raise XstiltsError("distributed: fsdp trains in fp32 or bf16 autocast; set mixed_precision: bf16")
    return distributed == "fsdp"


def _fsdp(module: "_LossModule", device: torch.device, world: int) -> nn.Module:
    """FSDP2 (``torch.distributed.fsdp.fully_shard``) over *module*: each transformer layer (the children of the
    encoder's layer lists) one unit, the rest (embeddings, heads) the root unit, so that a head tied to the input
    embeddings (masked LM) is gathered with them. Parameters, gradients and optimizer states are sharded over the
    processes; gradients are averaged over them as with DDP."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (world,))
    for sub in list(module.model.encoder.modules()):
        if isinstance(sub, nn.ModuleList) and len(sub) > 1 and len({type(x) for x in sub}) == 1:
            for layer in sub:
                if any(p.requires_grad for p in layer.parameters()):
                    fully_shard(layer, mesh=mesh)
    fully_shard(module, mesh=mesh)
    return module


def _fsdp_full_state(module: nn.Module, optimizer) -> dict:
    """Full (unsharded) model and optimizer state dicts of an FSDP module, on the main process's CPU (a collective:
    every process calls it); the model's keys are those of the unwrapped :class:`MultiTaskModel`."""
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_optimizer_state_dict)

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model = get_model_state_dict(module, options=opts)
    optim = get_optimizer_state_dict(module, optimizer, options=opts)
    return {"model": {k.removeprefix("model."): v for k, v in model.items()}, "optim": optim}


def _rank_state(st: dict, rank: int, world: int) -> tuple[dict, list[float]]:
    """This process's RNG states and loss window from a checkpoint state. Saved by as many processes: its own.
    Saved by another number of processes: the main process's RNG states, and the summed window on process 0
    (zeros elsewhere), so that the logged loss (a sum over processes) is unchanged."""
    ranks = st.get("ranks") or [{"rng": st["rng"], "window": st["window"]}]
    if len(ranks) == world:
        return ranks[rank]["rng"], ranks[rank]["window"]
    summed = [sum(w) for w in zip(*(r["window"] for r in ranks))]
    return ranks[0]["rng"], summed if rank == 0 else [0.0] * len(summed)


def _gather_objects(obj, world: int) -> list:
    out: list = [None] * world
    torch.distributed.all_gather_object(out, obj)
    return out
