"""The torch runtime of a fit or a scoring call: device, threads, seeding, all-or-nothing."""

from contextlib import contextmanager

import torch
from joblib import cpu_count, effective_n_jobs

__all__ = [
    "PRECISIONS",
    "all_or_nothing",
    "check_precision",
    "native_bfloat16",
    "resolve_device",
    "seeded_torch",
    "torch_threads",
]

#: The precisions the encoder may train in.
PRECISIONS = ("float32", "bfloat16")


def resolve_device(device):
    """The torch device that ``device`` ("auto" or a torch device name) names, checked to work here.

    Raises a ValueError naming the fix when this machine cannot use it.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError:
        # torch's message lists every device type it knows, two dozen of them.
        hint = " (a GPU is 'cuda')" if str(device).lower().startswith("gpu") else ""
        raise ValueError(f"device={device!r} is not a torch device name{hint}; use 'auto', 'cpu' or 'cuda'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; use 'auto' or 'cpu'.")
    try:
        torch.ones(1, device=resolved).sum().item()
    except Exception as exc:
        # A device torch names but cannot use here fails in many ways
        # (RuntimeError, AssertionError, ...), each deep inside training.
        # Its first sentence: torch goes on with advice for its own developers.
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0].rstrip(".")
        raise ValueError(
            f"device={device!r} cannot be used here, with this machine and torch build ({reason}); "
            "use 'auto' or 'cpu'."
        ) from None
    return device


def check_precision(precision, device):
    """Raise a ValueError when ``device`` cannot train in ``precision`` ("auto" or one of ``PRECISIONS``)."""
    if precision == "bfloat16" and torch.device(device).type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("precision='bfloat16' but this GPU cannot compute in bfloat16; use 'float32'.")


def native_bfloat16(device):
    """Whether ``device`` is a CPU that computes bfloat16 natively (AMX or AVX512-BF16 instructions).

    Elsewhere on a CPU bfloat16 is emulated, slower than float32.
    """
    # torch.cpu.get_capabilities is recent; without it, float32 is the safe answer.
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if torch.device(device).type != "cpu" or get_capabilities is None:
        return False
    capabilities = get_capabilities()
    return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))


@contextmanager
def torch_threads(n_jobs):
    """Let torch use ``n_jobs`` CPU threads (joblib's meaning), then restore its setting.

    No more threads than this machine has CPUs: more would only contend
    for them.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(min(effective_n_jobs(n_jobs), cpu_count()))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def seeded_torch(seed, device):
    """Seed torch for the duration of a fit, then restore its global random state."""
    cuda_devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        # Only the generators in use are seeded, so that no other device's
        # random state changes.
        torch.default_generator.manual_seed(seed)
        for cuda_device in cuda_devices:
            with torch.cuda.device(cuda_device):
                torch.cuda.manual_seed(seed)
        yield


@contextmanager
def all_or_nothing(estimator):
    """Run a fit that either completes or leaves ``estimator`` as it was.

    Fitted attributes (those ending in an underscore) are dropped first, so
    that none of a previous fit outlives a successful one; if the fit raises,
    every attribute is put back.
    """
    before = dict(vars(estimator))
    for name in [name for name in before if name.endswith("_") and not name.startswith("__")]:
        delattr(estimator, name)
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(before)
        raise
