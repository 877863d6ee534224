"""OpenVINO runner. Taps are exposed with ``Model.add_outputs`` on the IR (converted from
the bundle's ONNX, so tensor names line up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import require, version_of
from ...errors import UsageError
from ..base import Runner, RunnerSettings
from .precision import OV_TYPES, policy_name


class OpenVinoRunner(Runner):
    name = "openvino"
    device = "CPU"  # the OpenVINO device plug-in every profile targets

    def __init__(self, model_path: Path, *, extra_outputs: list[str] | None = None,
                 settings: RunnerSettings | None = None) -> None:
        super().__init__(extra_outputs, settings)
        self.model_path = Path(model_path)
        self.compiled: Any = None
        self.request: Any = None
        self._out_ports: list[Any] = []

    def config(self) -> dict[str, Any]:
        ov = require("openvino", extra="openvino", purpose="the openvino backend")
        props = ov.properties
        hint = (props.hint.PerformanceMode.LATENCY if self.settings.openvino_hint == "latency"
                else props.hint.PerformanceMode.THROUGHPUT)
        cfg: dict[str, Any] = {props.hint.performance_mode: hint}
        if self.settings.threads:
            cfg[props.inference_num_threads] = self.settings.threads
        if self.settings.openvino_streams:
            cfg[props.num_streams] = self.settings.openvino_streams
        # the profile's float precision (edgekit/precision.py); "auto" leaves the plugin's
        # default (bf16 on a CPU that has it), read back after compiling
        if self.settings.float_precision in OV_TYPES:
            cfg[props.hint.inference_precision] = getattr(ov.Type,
                                                          OV_TYPES[self.settings.float_precision])
        return cfg

    def _activate(self) -> None:
        ov = require("openvino", extra="openvino", purpose="the openvino backend")
        core = ov.Core()
        try:
            model = core.read_model(str(self.model_path))
        except Exception as exc:
            raise UsageError(f"{self.model_path}: OpenVINO cannot read it: "
                             f"{str(exc).splitlines()[0][:300]}") from exc
        batch = self.settings.batch
        if batch:
            inp = model.inputs[0]
            shape = inp.get_partial_shape()
            if shape.rank.is_static and (shape[0].is_dynamic or shape[0].get_length() != batch):
                shape[0] = batch
                try:
                    model.reshape({inp.get_any_name(): shape})
                except Exception as exc:
                    raise UsageError(
                        f"{self.model_path}: the graph has a static batch and cannot be reshaped "
                        f"to batch {batch}; re-export with a dynamic batch "
                        f"(`edgekit export MODEL --batch-range 1:{batch}`)") from exc
        if self.extra_outputs:
            try:
                model.add_outputs(list(self.extra_outputs))
            except Exception as exc:
                raise UsageError(f"{self.model_path}: cannot expose tap tensors "
                                 f"{self.extra_outputs[:3]}...: {exc}") from exc
        self.compiled = core.compile_model(model, self.device, self.config())
        self._compiled_props = self._read_props()
        self.request = self.compiled.create_infer_request()
        self.input_names = [i.get_any_name() for i in self.compiled.inputs]
        self._out_ports = list(self.compiled.outputs)
        wanted = set(self.extra_outputs)
        names: list[str] = []
        for port in self._out_ports:
            pnames = port.get_names()
            hit = sorted(pnames & wanted)
            names.append(hit[0] if hit else port.get_any_name())
        self.output_names = names

    def _deactivate(self) -> None:
        self.request = None
        self.compiled = None

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        res = self.request.infer(feed)
        return {n: np.asarray(res[p]) for n, p in zip(self.output_names, self._out_ports)}

    def input_shape(self) -> list[Any]:
        ps = self.compiled.inputs[0].get_partial_shape()
        return [d.get_length() if d.is_static else -1 for d in ps]

    def run_bare(self, feed: dict[str, np.ndarray]) -> Any:
        return self.request.infer(feed)

    def versions(self) -> dict[str, Any]:
        return {"openvino": version_of("openvino")}

    def _read_props(self) -> dict[str, Any]:
        """What the compiled model reports in force, kept after it is released: the thread
        count (without a request, the CPU plugin's own choice within this process's affinity
        mask, e.g. 1 under `taskset -c 0`) and the inference precision, as numbers/names."""
        out: dict[str, Any] = {}
        for key in ("NUM_STREAMS", "INFERENCE_NUM_THREADS", "OPTIMAL_NUMBER_OF_INFER_REQUESTS",
                    "INFERENCE_PRECISION_HINT"):
            try:
                raw = self.compiled.get_property(key)
            except Exception:
                continue
            value = raw.to_string() if hasattr(raw, "to_string") else str(raw)  # ov.Type: "f32"
            out[key.lower()] = int(value) if value.lstrip("-").isdigit() else value
        return out

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"device": self.device, "hint": self.settings.openvino_hint,
                               "float_precision_policy": self.settings.float_precision}
        props = self._read_props() if self.compiled is not None else getattr(
            self, "_compiled_props", {})
        if props:
            out.update(props)
            if "inference_precision_hint" in props:  # "auto" resolved: what the plugin chose
                out["inference_precision"] = policy_name(props["inference_precision_hint"])
            out["threads_from"] = "requested" if self.settings.threads else "openvino (affinity mask)"
        return out

    def run_async(self, feed: dict[str, np.ndarray], total: int,
                  jobs: int | None = None) -> tuple[int, list[int], int]:
        """Throughput mode: ``total`` inferences kept in flight on ``jobs`` infer requests.

        Requests are driven round-robin with ``start_async``/``wait`` and no Python callback
        (a callback needs the GIL on OpenVINO's thread, which can deadlock against a blocked
        submitter). Returns (elapsed ns, per-request latencies in ns, requests in flight);
        a latency is observed when its request is waited on, so it can include a little
        waiting behind the request before it."""
        import time

        ov = require("openvino", extra="openvino")
        jobs = jobs or int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        jobs = max(1, min(jobs, total))
        reqs = [self.compiled.create_infer_request() for _ in range(jobs)]
        for r in reqs:
            for name, arr in feed.items():
                r.set_tensor(name, ov.Tensor(np.ascontiguousarray(arr)))
        clock = time.perf_counter_ns
        started = [0] * jobs
        lat: list[int] = []
        t0 = clock()
        submitted = 0
        for i in range(jobs):
            started[i] = clock()
            reqs[i].start_async()
            submitted += 1
        done = 0
        i = 0
        while done < total:
            if started[i]:
                reqs[i].wait()
                lat.append(clock() - started[i])
                started[i] = 0
                done += 1
                if submitted < total:
                    started[i] = clock()
                    reqs[i].start_async()
                    submitted += 1
            i = (i + 1) % jobs
        return clock() - t0, lat, jobs
