#!/usr/bin/env python3
"""Export a SAM or MedSAM image encoder to ONNX for the Triton configs in triton-models/.

The official segment-anything repository exports only the prompt decoder (scripts/export_onnx_model.py);
this script exports the image encoder with the interface the *_encoder/config.pbtxt files declare:

    input  "image"            float32 [batch, 3, 1024, 1024]  resized, normalized and padded by the gateway
    output "image_embeddings" float32 [batch, 256, 64, 64]

The batch axis is dynamic so that Triton's dynamic batcher can stack up to max_batch_size images. Models
over the 2 GB protobuf limit (ViT-H) are written as model.onnx plus one external weights file
model.onnx.data beside it.

Usage (see deploy/MODELS.md):
    python deploy/export/export_sam_encoder.py --model-type vit_b \
        --checkpoint sam_vit_b_01ec64.pth --output triton-models/sam_vit_b_encoder/1/model.onnx
"""

import argparse
import os
import sys
import tempfile

import onnx
import torch
from segment_anything import sam_model_registry

# The protobuf limit: a ModelProto larger than this cannot be serialized as one message.
PROTOBUF_LIMIT_BYTES = 2 * 1024**3


def load_state_dict(checkpoint: str) -> dict:
    # map_location="cpu" lets checkpoints saved on a GPU (MedSAM's) load on any machine.
    state = torch.load(checkpoint, map_location="cpu")
    # Some fine-tuned checkpoints wrap the weights as {"model": state_dict}.
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    return state


def export(model_type: str, checkpoint: str, output: str, opset: int, external: bool) -> None:
    sam = sam_model_registry[model_type](checkpoint=None)
    missing, unexpected = sam.load_state_dict(load_state_dict(checkpoint), strict=False)
    encoder_missing = [k for k in missing if k.startswith("image_encoder.")]
    if encoder_missing:
        sys.exit(f"checkpoint lacks image encoder weights, e.g. {encoder_missing[:3]}: wrong --model-type?")
    if unexpected:
        print(f"note: {len(unexpected)} checkpoint entries are not SAM weights and were ignored")
    encoder = sam.image_encoder.eval()
    size = encoder.img_size
    dummy = torch.zeros(1, 3, size, size, dtype=torch.float32)
    kwargs = dict(
        input_names=["image"],
        output_names=["image_embeddings"],
        dynamic_axes={"image": {0: "batch"}, "image_embeddings": {0: "batch"}},
        opset_version=opset,
        do_constant_folding=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = os.path.join(tmp, "encoder.onnx")
        with torch.no_grad():
            try:
                # PyTorch >= 2.9 defaults to the dynamo exporter; the TorchScript one honours dynamic_axes.
                torch.onnx.export(encoder, (dummy,), tmp_path, dynamo=False, **kwargs)
            except TypeError:
                torch.onnx.export(encoder, (dummy,), tmp_path, **kwargs)
        model = onnx.load(tmp_path)  # also loads any external tensors torch wrote beside it
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    data_name = os.path.basename(output) + ".data"
    data_path = os.path.join(os.path.dirname(os.path.abspath(output)), data_name)
    if os.path.exists(data_path):
        os.remove(data_path)  # save_model appends to an existing data file
    weights = sum(t.ByteSize() for t in model.graph.initializer)
    if external or weights > PROTOBUF_LIMIT_BYTES * 0.9:
        onnx.save_model(
            model,
            output,
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data_name,
            size_threshold=1024,
        )
        print(f"wrote {output} and {data_path} (keep both, with these names, in the same folder)")
    else:
        onnx.save_model(model, output)
        print(f"wrote {output}")


def verify(output: str, size: int) -> None:
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: skipped the test run; `medseg models check` still checks the interface")
        return
    session = ort.InferenceSession(output, providers=["CPUExecutionProvider"])
    (embeddings,) = session.run(None, {"image": np.zeros((2, 3, size, size), dtype=np.float32)})
    if tuple(embeddings.shape) != (2, 256, 64, 64):
        sys.exit(f"unexpected embedding shape {embeddings.shape}, expected (2, 256, 64, 64)")
    print("verified with ONNX Runtime: batch of 2 -> image_embeddings (2, 256, 64, 64)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="SAM or MedSAM PyTorch checkpoint (.pth)")
    parser.add_argument("--model-type", required=True, choices=["vit_b", "vit_l", "vit_h"])
    parser.add_argument("--output", required=True, help="e.g. triton-models/sam_vit_b_encoder/1/model.onnx")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument(
        "--external-data",
        action="store_true",
        help="store weights in <output>.data (automatic when they approach 2 GB, i.e. for vit_h)",
    )
    parser.add_argument("--skip-verify", action="store_true", help="do not run the exported model once")
    args = parser.parse_args()
    export(args.model_type, args.checkpoint, args.output, args.opset, args.external_data)
    if not args.skip_verify:
        verify(args.output, 1024)


if __name__ == "__main__":
    main()
