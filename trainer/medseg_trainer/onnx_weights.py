"""Weights between the served decoder's ONNX graph and the PyTorch module, in both directions.

Every parameter is found by the graph's structure and checked by shape: linear layers whose weight the
exporter stored as an anonymous MatMul operand are found through the Add that consumes their named bias; the
channel layer norms that were exported as plain arithmetic are found by walking from their convolution to the
first Mul and Add with a constant operand; the no-mask embedding is the constant multiplied by
(1 - has_mask_input); the output tokens are the [1,5,256] constant that the graph expands to the prompt batch.
A graph that does not have the expected structure is refused with a message that says what was expected.
"""

import numpy as np
import onnx
import torch
from onnx import numpy_helper


class GraphStructureError(Exception):
    """The decoder graph does not have the structure of SAM's official decoder export."""


class _Graph:
    def __init__(self, model):
        self.model = model
        g = model.graph
        self.inits = {t.name: t for t in g.initializer}
        self.consumers = {}
        self.producer = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
            for o in n.output:
                self.producer[o] = n

    def array(self, name):
        return numpy_helper.to_array(self.inits[name])

    def named(self, name, shape):
        if name not in self.inits:
            raise GraphStructureError(f"expected an initializer named {name}")
        a = self.array(name)
        if list(a.shape) != list(shape):
            raise GraphStructureError(f"{name}: expected shape {list(shape)}, found {list(a.shape)}")
        return name, a

    def const_operand(self, node):
        """The one initializer input of a node, or None."""
        found = [i for i in node.input if i in self.inits]
        return found[0] if len(found) == 1 else None

    def matmul_weight_of_bias(self, bias_name, shape):
        """The [in,out] MatMul operand whose product the named bias is added to."""
        adds = [n for n in self.consumers.get(bias_name, []) if n.op_type == "Add"]
        if len(adds) != 1:
            raise GraphStructureError(f"expected one Add consuming {bias_name}, found {len(adds)}")
        other = [i for i in adds[0].input if i != bias_name]
        prod = self.producer.get(other[0]) if other else None
        if prod is None or prod.op_type != "MatMul":
            raise GraphStructureError(f"expected {bias_name} to be added to a MatMul's output")
        w = self.const_operand(prod)
        if w is None:
            raise GraphStructureError(f"expected the MatMul before {bias_name} to have one constant operand")
        a = self.array(w)
        if list(a.shape) != list(shape):
            raise GraphStructureError(f"MatMul weight before {bias_name}: expected {list(shape)}, found {list(a.shape)}")
        return w, a

    def channel_norm_after(self, conv_weight_name, channels):
        """(scale, bias) initializer names of the channel layer norm that follows the convolution."""
        convs = [n for n in self.consumers.get(conv_weight_name, []) if n.op_type in ("Conv", "ConvTranspose")]
        if len(convs) != 1:
            raise GraphStructureError(f"expected one convolution using {conv_weight_name}")
        frontier, seen = [convs[0].output[0]], set()
        # The norm is ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, then Mul(scale) and Add(bias).
        for _ in range(12):
            nxt = []
            for t in frontier:
                for n in self.consumers.get(t, []):
                    if n.name in seen:
                        continue
                    seen.add(n.name)
                    c = self.const_operand(n)
                    if n.op_type == "Mul" and c is not None and list(self.array(c).shape) == [channels, 1, 1]:
                        adds = [m for m in self.consumers.get(n.output[0], []) if m.op_type == "Add"]
                        b = self.const_operand(adds[0]) if len(adds) == 1 else None
                        if b is None or list(self.array(b).shape) != [channels, 1, 1]:
                            raise GraphStructureError(f"expected an Add of a [{channels},1,1] bias after {c}")
                        return c, b
                    nxt.extend(n.output)
            frontier = nxt
        raise GraphStructureError(f"expected a channel layer norm ([{channels},1,1] scale) after {conv_weight_name}")

    def no_mask_embedding(self):
        subs = [n for n in self.consumers.get("has_mask_input", []) if n.op_type == "Sub"]
        for s in subs:
            for n in self.consumers.get(s.output[0], []):
                c = self.const_operand(n)
                if n.op_type == "Mul" and c is not None and list(self.array(c).shape) == [1, 256, 1, 1]:
                    return c
        raise GraphStructureError("expected (1 - has_mask_input) multiplied by a [1,256,1,1] no-mask embedding")

    def output_tokens(self):
        found = [
            name
            for name, t in self.inits.items()
            if list(t.dims) == [1, 5, 256] and any(n.op_type == "Expand" for n in self.consumers.get(name, []))
        ]
        if len(found) != 1:
            raise GraphStructureError(f"expected one [1,5,256] token constant expanded to the batch, found {len(found)}")
        return found[0]


def _linear(g, prefix, in_dim, out_dim, table, onnx_bias):
    w, _ = g.matmul_weight_of_bias(onnx_bias, [in_dim, out_dim])
    g.named(onnx_bias, [out_dim])
    table.append((f"{prefix}.weight", w, "T"))
    table.append((f"{prefix}.bias", onnx_bias, ""))


def _gemm(g, prefix, onnx_prefix, in_dim, out_dim, table):
    g.named(f"{onnx_prefix}.weight", [out_dim, in_dim])
    g.named(f"{onnx_prefix}.bias", [out_dim])
    table.append((f"{prefix}.weight", f"{onnx_prefix}.weight", ""))
    table.append((f"{prefix}.bias", f"{onnx_prefix}.bias", ""))


def weight_table(model):
    """[(torch parameter or buffer name, ONNX initializer name, transform)] for every weight of SamDecoder.
    transform: "" copy, "T" transpose (MatMul operand [in,out] vs Linear [out,in]), "R" reshape."""
    g = _Graph(model)
    t = []
    pe = "model.prompt_encoder"
    md = "mask_decoder"
    t.append(("prompt_encoder.positions.gaussian", g.named(f"{pe}.pe_layer.positional_encoding_gaussian_matrix", [2, 128])[0], ""))
    for k in range(4):
        t.append((f"prompt_encoder.label_embeddings.{k}", g.named(f"{pe}.point_embeddings.{k}.weight", [1, 256])[0], "R"))
    t.append(("prompt_encoder.not_a_point", g.named(f"{pe}.not_a_point_embed.weight", [1, 256])[0], "R"))
    t.append(("prompt_encoder.no_mask", g.no_mask_embedding(), "R"))
    for conv, src, shape in (("mask_conv1", 0, [4, 1, 2, 2]), ("mask_conv2", 3, [16, 4, 2, 2]), ("mask_conv3", 6, [256, 16, 1, 1])):
        t.append((f"prompt_encoder.{conv}.weight", g.named(f"{pe}.mask_downscaling.{src}.weight", shape)[0], ""))
        t.append((f"prompt_encoder.{conv}.bias", g.named(f"{pe}.mask_downscaling.{src}.bias", [shape[0]])[0], ""))
    for norm, conv, ch in (("mask_norm1", 0, 4), ("mask_norm2", 3, 16)):
        scale, bias = g.channel_norm_after(f"{pe}.mask_downscaling.{conv}.weight", ch)
        t.append((f"prompt_encoder.{norm}.weight", scale, "R"))
        t.append((f"prompt_encoder.{norm}.bias", bias, "R"))

    t.append(("mask_decoder.output_tokens", g.output_tokens(), "R"))
    for i in range(2):
        src = f"{md}.transformer.layers.{i}"
        dst = f"mask_decoder.blocks.{i}"
        for attn, inner in (("self_attn", 256), ("cross_attn_token_to_image", 128), ("cross_attn_image_to_token", 128)):
            for proj in ("q_proj", "k_proj", "v_proj"):
                _linear(g, f"{dst}.{attn}.{proj}", 256, inner, t, f"{src}.{attn}.{proj}.bias")
            _linear(g, f"{dst}.{attn}.out_proj", inner, 256, t, f"{src}.{attn}.out_proj.bias")
        _linear(g, f"{dst}.lin1", 256, 2048, t, f"{src}.mlp.lin1.bias")
        _linear(g, f"{dst}.lin2", 2048, 256, t, f"{src}.mlp.lin2.bias")
        for k in range(1, 5):
            t.append((f"{dst}.norm{k}.weight", g.named(f"{src}.norm{k}.weight", [256])[0], ""))
            t.append((f"{dst}.norm{k}.bias", g.named(f"{src}.norm{k}.bias", [256])[0], ""))
    src = f"{md}.transformer.final_attn_token_to_image"
    for proj in ("q_proj", "k_proj", "v_proj"):
        _linear(g, f"mask_decoder.final_attn_token_to_image.{proj}", 256, 128, t, f"{src}.{proj}.bias")
    _linear(g, "mask_decoder.final_attn_token_to_image.out_proj", 128, 256, t, f"{src}.out_proj.bias")
    t.append(("mask_decoder.norm_final_attn.weight", g.named(f"{md}.transformer.norm_final_attn.weight", [256])[0], ""))
    t.append(("mask_decoder.norm_final_attn.bias", g.named(f"{md}.transformer.norm_final_attn.bias", [256])[0], ""))
    t.append(("mask_decoder.up1.weight", g.named(f"{md}.output_upscaling.0.weight", [256, 64, 2, 2])[0], ""))
    t.append(("mask_decoder.up1.bias", g.named(f"{md}.output_upscaling.0.bias", [64])[0], ""))
    scale, bias = g.channel_norm_after(f"{md}.output_upscaling.0.weight", 64)
    t.append(("mask_decoder.up_norm.weight", scale, "R"))
    t.append(("mask_decoder.up_norm.bias", bias, "R"))
    t.append(("mask_decoder.up2.weight", g.named(f"{md}.output_upscaling.3.weight", [64, 32, 2, 2])[0], ""))
    t.append(("mask_decoder.up2.bias", g.named(f"{md}.output_upscaling.3.bias", [32])[0], ""))
    for m in range(4):
        for layer, (i, o) in enumerate(((256, 256), (256, 256), (256, 32))):
            _gemm(g, f"mask_decoder.hypernetworks.{m}.layers.{layer}", f"{md}.output_hypernetworks_mlps.{m}.layers.{layer}", i, o, t)
    for layer, (i, o) in enumerate(((256, 256), (256, 256), (256, 4))):
        _gemm(g, f"mask_decoder.iou_head.layers.{layer}", f"{md}.iou_prediction_head.layers.{layer}", i, o, t)
    return t


def _state_index(module):
    index = dict(module.named_parameters())
    index.update(dict(module.named_buffers()))
    # label_embeddings rows are addressed as label_embeddings.<k>.
    return index


def _target(index, name):
    if name.startswith("prompt_encoder.label_embeddings."):
        return index["prompt_encoder.label_embeddings"][int(name.rsplit(".", 1)[1])]
    return index[name]


def load_from_onnx(module, path):
    """Copies every weight of the served decoder at `path` into `module` (a SamDecoder); returns the table."""
    model = onnx.load(path)
    table = weight_table(model)
    g = _Graph(model)
    index = _state_index(module)
    covered = set()
    with torch.no_grad():
        for name, init, how in table:
            a = g.array(init).astype(np.float32)
            if how == "T":
                a = a.T
            dst = _target(index, name)
            if how == "R":
                a = a.reshape(tuple(dst.shape))
            if tuple(a.shape) != tuple(dst.shape):
                raise GraphStructureError(f"{init} -> {name}: shape {a.shape} does not fit {tuple(dst.shape)}")
            dst.copy_(torch.from_numpy(np.ascontiguousarray(a)))
            covered.add(name.rsplit(".", 1)[0] if name.startswith("prompt_encoder.label_embeddings.") else name)
    missing = [n for n in index if n not in covered]
    if missing:
        raise GraphStructureError(f"no initializer found for {missing}")
    return table


def export_onnx(module, base_path, out_path):
    """Writes the served decoder graph at `base_path` with `module`'s weights to `out_path`: the same nodes,
    inputs and outputs (four candidates, prompt batch), only the initializers replaced."""
    model = onnx.load(base_path)
    table = weight_table(model)
    index = _state_index(module)
    g = _Graph(model)
    with torch.no_grad():
        for name, init, how in table:
            a = _target(index, name).detach().cpu().numpy().astype(np.float32)
            if how == "T":
                a = a.T
            old = g.inits[init]
            a = np.ascontiguousarray(a).reshape(tuple(old.dims))
            old.CopyFrom(numpy_helper.from_array(a, name=init))
    onnx.save(model, out_path)
