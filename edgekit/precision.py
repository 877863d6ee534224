"""The float-precision policy: at what precision a bundle's float parts run.

A profile states it (``float_precision``): ``f32``, ``bf16``, ``fp16``, or ``auto`` (the
runtime's own default, recorded as resolved). Runners apply it as a compile option
(:class:`edgekit.runtimes.RunnerSettings` carries it); a runtime whose artifact can carry
it does so too (the OpenVINO IR: :mod:`edgekit.runtimes.openvino.precision`).
"""

from __future__ import annotations

#: the policies a profile may state
FLOAT_PRECISIONS = ("f32", "bf16", "fp16", "auto")


def cpu_support(flags: dict[str, bool] | None = None) -> dict[str, bool]:
    """What reduced precision pays on this CPU, from its flags (``hostinfo.cpu_info``):
    INT8 needs VNNI (AVX512_VNNI, AVX_VNNI or AMX) to beat f32 by much; bf16 needs
    AVX512_BF16 or AMX-BF16 (without them OpenVINO runs f32)."""
    if flags is None:
        from .hostinfo import cpu_info

        flags = cpu_info()["flags"]
    return {"vnni": bool(flags.get("avx512_vnni") or flags.get("avx_vnni") or flags.get("amx")),
            "bf16": bool(flags.get("avx512_bf16") or flags.get("amx_bf16")),
            "amx": bool(flags.get("amx"))}


def int8_pays(support: dict[str, bool]) -> tuple[bool, str]:
    """Whether INT8 beats f32 on a CPU with these features (``cpu_support``)."""
    return ((True, "VNNI") if support["vnni"]
            else (False, "no VNNI (AVX512_VNNI, AVX_VNNI or AMX): INT8 gains little"))
