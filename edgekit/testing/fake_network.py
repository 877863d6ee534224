"""The fake TensorRT's network: tensors, layers (per major) and the ONNX parser's mapping."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import numpy as np


class DT(enum.IntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3
    BOOL = 4
    UINT8 = 5
    INT64 = 8


#: DataType -> (ONNX elem type, numpy dtype)
ONNX_DT: dict[DT, tuple[int, type[np.generic]]] = {
    DT.FLOAT: (1, np.float32), DT.HALF: (10, np.float16), DT.INT8: (3, np.int8),
    DT.INT32: (6, np.int32), DT.BOOL: (9, np.bool_), DT.UINT8: (2, np.uint8),
    DT.INT64: (7, np.int64)}
_FROM_ONNX = {v[0]: k for k, v in ONNX_DT.items()}

LayerType = enum.IntEnum("LayerType", [
    "CONVOLUTION", "ACTIVATION", "ELEMENTWISE", "MATRIX_MULTIPLY", "SOFTMAX", "NORMALIZATION",
    "GRID_SAMPLE", "TOPK", "SHAPE", "GATHER", "SHUFFLE", "CONCATENATION", "SLICE", "CAST",
    "QUANTIZE", "DEQUANTIZE", "RESIZE", "REDUCE", "POOLING", "UNARY", "CONSTANT", "IDENTITY"])

_OPS = {"Conv": "CONVOLUTION", "Sigmoid": "ACTIVATION", "Relu": "ACTIVATION",
        "Tanh": "ACTIVATION", "Add": "ELEMENTWISE", "Sub": "ELEMENTWISE", "Mul": "ELEMENTWISE",
        "Div": "ELEMENTWISE", "Pow": "ELEMENTWISE", "MatMul": "MATRIX_MULTIPLY",
        "Gemm": "MATRIX_MULTIPLY", "Softmax": "SOFTMAX", "LayerNormalization": "NORMALIZATION",
        "GridSample": "GRID_SAMPLE", "TopK": "TOPK", "Shape": "SHAPE", "Gather": "GATHER",
        "GatherElements": "GATHER", "Reshape": "SHUFFLE", "Transpose": "SHUFFLE",
        "Flatten": "SHUFFLE", "Unsqueeze": "SHUFFLE", "Squeeze": "SHUFFLE",
        "Concat": "CONCATENATION", "Slice": "SLICE", "Split": "SLICE", "Cast": "CAST",
        "QuantizeLinear": "QUANTIZE", "DequantizeLinear": "DEQUANTIZE", "Resize": "RESIZE",
        "ReduceMax": "REDUCE", "ReduceMean": "REDUCE", "MaxPool": "POOLING",
        "Constant": "CONSTANT", "Identity": "IDENTITY"}


class Tensor:
    __slots__ = ("name", "_dtype", "shape", "is_shape_tensor")

    def __init__(self, name: str, dtype: DT, shape: tuple[int, ...] = (),
                 is_shape: bool = False) -> None:
        self.name, self._dtype, self.shape, self.is_shape_tensor = name, dtype, shape, is_shape

    @property
    def dtype(self) -> DT:  # read-only, as in TensorRT
        return self._dtype


def is_float(t: Tensor | None) -> bool:
    return t is not None and t.dtype in (DT.FLOAT, DT.HALF) and not t.is_shape_tensor


class Layer11:
    """A layer as TensorRT 11 has it: no precision, no output types to set."""

    __slots__ = ("name", "type", "inputs", "outputs")

    def __init__(self, name: str, type_: Any, inputs: list[Tensor],
                 outputs: list[Tensor]) -> None:
        self.name, self.type, self.inputs, self.outputs = name, type_, inputs, outputs

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    def get_input(self, i: int) -> Tensor:
        return self.inputs[i]

    def get_output(self, i: int) -> Tensor:
        return self.outputs[i]

    def get_output_type(self, i: int) -> DT:
        return self.outputs[i].dtype


class Layer10(Layer11):
    """TensorRT 10 adds the weak-typing precision API."""

    __slots__ = ("_precision", "_out_types")

    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self._precision: DT | None = None
        self._out_types: dict[int, DT] = {}

    @property
    def precision(self) -> DT:
        return self._precision or DT.FLOAT

    @precision.setter
    def precision(self, dt: DT) -> None:
        if not isinstance(dt, DT):
            raise TypeError(f"precision must be a tensorrt.DataType, not {type(dt).__name__}")
        self._precision = dt

    @property
    def precision_is_set(self) -> bool:
        return self._precision is not None

    def set_output_type(self, i: int, dt: DT) -> None:
        if not isinstance(dt, DT) or not 0 <= i < len(self.outputs):
            raise TypeError("set_output_type(index, tensorrt.DataType)")
        self._out_types[i] = dt

    def get_output_type(self, i: int) -> DT:
        return self._out_types.get(i, self.outputs[i].dtype)

    def output_type_is_set(self, i: int) -> bool:
        return i in self._out_types


class Network:
    def __init__(self, fake: Any, *, strongly_typed: bool) -> None:
        self.fake, self.strongly_typed = fake, strongly_typed
        self.layers: list[Layer11] = []
        self.inputs: list[Tensor] = []
        self.graph_outputs: list[Tensor] = []
        self.marked: list[Tensor] = []
        self.onnx_bytes = b""

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_layer(self, i: int) -> Layer11:
        return self.layers[i]

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, i: int) -> Tensor:
        return self.inputs[i]

    def mark_output(self, t: Tensor) -> None:
        if t not in self.marked and t not in self.graph_outputs:
            self.marked.append(t)

    def outputs(self) -> list[Tensor]:
        return self.graph_outputs + self.marked

    @property
    def num_outputs(self) -> int:
        return len(self.outputs())

    def get_output(self, i: int) -> Tensor:
        return self.outputs()[i]

    def has_qdq(self) -> bool:
        return any(la.type.name in ("QUANTIZE", "DEQUANTIZE") for la in self.layers)


def _dims(vi: Any) -> tuple[int, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else -1
                 for d in vi.type.tensor_type.shape.dim)


def parse_onnx(network: Network, path: Path) -> None:
    """One layer per ONNX node, named after the node, with its outputs' real dtypes."""
    import onnx

    raw = path.read_bytes()
    model = onnx.shape_inference.infer_shapes(onnx.load_from_string(raw))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.value_info, *g.output, *g.input]}
    tensors: dict[str, Tensor] = {}
    for name, init in inits.items():
        tensors[name] = Tensor(name, _FROM_ONNX.get(init.data_type, DT.FLOAT), tuple(init.dims),
                               is_shape=init.data_type in (6, 7) and len(init.dims) <= 1)
    for vi in g.input:
        if vi.name not in inits:
            t = Tensor(vi.name, _FROM_ONNX.get(vi.type.tensor_type.elem_type, DT.FLOAT), _dims(vi))
            tensors[vi.name] = t
            network.inputs.append(t)
    layer_cls = Layer10 if network.fake.major < 11 else Layer11
    for node in g.node:
        # int initializers (TopK's K, a Reshape's shape) become static layer parameters
        ins = [tensors[i] for i in node.input
               if i and not (i in inits and tensors[i].dtype in (DT.INT32, DT.INT64))]
        shape_in = ins and all(t.is_shape_tensor for t in ins if t.name not in inits)
        outs = []
        for k, o in enumerate(node.output):
            dt = _FROM_ONNX.get(types.get(o, 1), DT.FLOAT)
            if node.op_type == "TopK" and k == 1:
                dt = DT.INT32  # TensorRT's TopK gives int32 indices
            is_shape = dt in (DT.INT32, DT.INT64) and (node.op_type == "Shape" or bool(shape_in))
            outs.append(Tensor(o, dt, (), is_shape))
            tensors[o] = outs[-1]
        lt = LayerType[_OPS.get(node.op_type, "UNARY")]
        network.layers.append(layer_cls(node.name, lt, ins, outs))
    network.graph_outputs = [tensors[o.name] for o in g.output]
    network.onnx_bytes = raw
