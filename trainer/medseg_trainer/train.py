"""Mask-decoder fine-tuning with the recipe of "Segment Anything Model for Medical Images?" (train_only_box.py).

Image and prompt encoders are frozen; image embeddings come precomputed from the gateway's encoder. Only the
mask decoder trains: AdamW (lr 1e-4, weight decay 0.01), Dice + binary cross-entropy on the single-mask output
(candidate 0), one box prompt per object, batches of 2 images each with all its objects. Validation Dice takes
the best of the three multimask candidates per object; the best checkpoint by validation Dice is kept.

Determinism: one seed sets the initial RNG state and every epoch's image order (a generator seeded with
seed and epoch), the thread count is fixed, and the loss is reduced in a fixed order, so two runs with the same
seed and data give bit-identical weights, and a run resumed from its last checkpoint ends where an
uninterrupted run ends.
"""

import copy
import hashlib
import os
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

from .onnx_weights import export_onnx, load_from_onnx
from .sam_decoder import LOW_RES_SIDE, SamDecoder, upscale_logits
from .tensor_file import TensorFileError, read_tensors, write_tensors

CHECKPOINT_VERSION = 1


class TrainError(Exception):
    """A typed training failure; `code` is the gateway's error code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Cancelled(TrainError):
    def __init__(self, epoch):
        super().__init__("CANCELLED", f"cancelled during epoch {epoch}")


def load_sample(path):
    """One image's training sample: embedding, box prompts, ground-truth masks and size."""
    try:
        t = read_tensors(path)
    except TensorFileError as e:
        raise TrainError("BAD_SAMPLE", str(e)) from e
    need = {"embedding": 4, "point_coords": 3, "point_labels": 2, "masks": 3, "orig_size": 1}
    for name, rank in need.items():
        if name not in t or t[name].ndim != rank:
            raise TrainError("BAD_SAMPLE", f"{path}: expected tensor {name} of rank {rank}")
    k = t["masks"].shape[0]
    if t["point_coords"].shape[0] != k or t["point_labels"].shape[0] != k:
        raise TrainError("BAD_SAMPLE", f"{path}: prompts and masks disagree on the object count")
    h, w = int(t["orig_size"][0]), int(t["orig_size"][1])
    if t["masks"].shape[1:] != (h, w) or tuple(t["embedding"].shape) != (1, 256, 64, 64):
        raise TrainError("BAD_SAMPLE", f"{path}: masks or embedding do not have the declared size")
    return {
        "embedding": torch.from_numpy(t["embedding"].astype(np.float32)),
        "coords": torch.from_numpy(t["point_coords"].astype(np.float32)),
        "labels": torch.from_numpy(t["point_labels"].astype(np.float32)),
        "masks": torch.from_numpy((t["masks"] > 0).astype(np.float32)),
        "size": (h, w),
    }


def dice_bce_loss(logits, target):
    """Mean over objects of soft Dice loss (sigmoid, squared prediction in the denominator) plus BCE."""
    p = torch.sigmoid(logits).flatten(1)
    g = target.flatten(1)
    smooth = 1e-5
    dice = 1.0 - (2.0 * (p * g).sum(1) + smooth) / ((p * p).sum(1) + (g * g).sum(1) + smooth)
    bce = F.binary_cross_entropy_with_logits(logits.flatten(1), g, reduction="none").mean(1)
    return (dice + bce).mean()


def hard_dice(pred, target):
    """Dice of binary masks per object; [K,H,W] x [K,H,W] -> [K]. Two empty masks score 1."""
    inter = (pred * target).flatten(1).sum(1)
    total = pred.flatten(1).sum(1) + target.flatten(1).sum(1)
    return torch.where(total > 0, 2.0 * inter / total.clamp(min=1), torch.ones_like(total))


def _no_mask(device):
    """mask_input and has_mask_input for prompts without a mask prior, on `device`."""
    return torch.zeros(1, 1, LOW_RES_SIDE, LOW_RES_SIDE, device=device), torch.zeros(1, device=device)


class Timer:
    """Seconds spent in the decoder's forward and backward passes vs everything else, per epoch."""

    def __init__(self):
        self.model_s = 0.0

    def model(self):
        timer = self

        class _Span:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *_):
                timer.model_s += time.perf_counter() - self.t

        return _Span()


def evaluate(model, samples, load):
    """Validation Dice: per object, the best of the multimask candidates 1-3; mean over objects."""
    model.eval()
    scores = []
    with torch.no_grad():
        for path in samples:
            s = load(path)
            no_mask, no_flag = _no_mask(s["embedding"].device)
            low, _ = model.decode(s["embedding"], s["coords"], s["labels"], no_mask, no_flag)
            full = upscale_logits(low, s["size"]) > 0
            d = torch.stack([hard_dice(full[:, c].float(), s["masks"]) for c in (1, 2, 3)], dim=1)
            scores.extend(d.max(dim=1).values.tolist())
    return float(np.mean(scores)) if scores else 0.0


def weights_digest(model):
    """SHA-256 of the mask decoder's weights in a fixed order (hex); equal digests mean identical weights."""
    h = hashlib.sha256()
    for name, p in sorted(model.mask_decoder.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().numpy().astype("<f4").tobytes())
    return h.hexdigest()


def _save_atomic(obj, path):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_checkpoint(path):
    try:
        ck = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unreadable checkpoint is one typed error
        raise TrainError("BAD_CHECKPOINT", f"{path}: unreadable checkpoint ({type(e).__name__})") from e
    if not isinstance(ck, dict) or ck.get("version") != CHECKPOINT_VERSION:
        raise TrainError("BAD_CHECKPOINT", f"{path}: not a checkpoint of this trainer")
    return ck


def train(cfg, emit, cancelled):
    """Runs (or resumes) a fine-tuning job described by `cfg`; `emit(dict)` reports progress, `cancelled()`
    is polled between steps. Returns the final summary dict. Files under cfg["workDir"]:
    checkpoint-last.pt (after every epoch), checkpoint-best.pt, decoder.onnx (the export)."""
    for key in ("workDir", "baseDecoder", "train", "val", "epochs", "seed"):
        if key not in cfg:
            raise TrainError("BAD_REQUEST", f"missing field {key}")
    work = cfg["workDir"]
    train_set, val_set = list(cfg["train"]), list(cfg["val"])
    epochs, seed = int(cfg["epochs"]), int(cfg["seed"])
    if not train_set:
        raise TrainError("EMPTY_DATASET", "the training split has no images")
    if epochs < 1 or epochs > 10000:
        raise TrainError("BAD_REQUEST", f"epochs must be 1..10000, got {epochs}")
    torch.set_num_threads(int(cfg.get("threads", 2)))
    torch.use_deterministic_algorithms(True)
    # CUDA when there is one (the deploy image), unless the request says cpu; CI runs on CPU.
    want = str(cfg.get("device", "auto"))
    device = torch.device("cuda" if want != "cpu" and torch.cuda.is_available() else "cpu")
    batch_images = int(cfg.get("batchImages", 2))
    cache = {}

    def load(path):
        # Small splits stay in memory; large ones are read per step (4 MiB per embedding).
        if path in cache:
            return cache[path]
        s = load_sample(path)
        s = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in s.items()}
        if len(cache) < int(cfg.get("cacheSamples", 64)):
            cache[path] = s
        return s

    objects = sum(int(load(p)["masks"].shape[0]) for p in train_set)
    if objects == 0:
        raise TrainError("NO_OBJECTS", "the training split has no objects to prompt")

    torch.manual_seed(seed)
    model = SamDecoder()
    try:
        load_from_onnx(model, cfg["baseDecoder"])
    except OSError as e:
        raise TrainError("MODEL_NOT_FOUND", f"base decoder {cfg['baseDecoder']}: {e}") from e
    model.to(device)
    for p in model.prompt_encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.mask_decoder.parameters(), lr=float(cfg.get("lr", 1e-4)), weight_decay=float(cfg.get("weightDecay", 0.01)))

    last_path = os.path.join(work, "checkpoint-last.pt")
    best_path = os.path.join(work, "checkpoint-best.pt")
    start_epoch, history = 1, []
    if os.path.exists(last_path):
        ck = _load_checkpoint(last_path)
        if ck["seed"] != seed or ck["train"] != train_set:
            raise TrainError("BAD_CHECKPOINT", "the checkpoint belongs to another seed or split")
        model.mask_decoder.load_state_dict(ck["decoder"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"])
        start_epoch, history = ck["epoch"] + 1, ck["history"]
        best = {"epoch": ck["bestEpoch"], "valDice": ck["bestValDice"]}
        emit({"event": "resumed", "epoch": ck["epoch"]})
    else:
        # Epoch 0 is the base model: fine-tuning must beat it on validation to replace it.
        base_dice = evaluate(model, val_set, load) if val_set else 0.0
        best = {"epoch": 0, "valDice": base_dice}
        _save_atomic({"decoder": model.mask_decoder.state_dict(), "epoch": 0, "valDice": base_dice}, best_path)
        emit({"event": "baseline", "valDice": base_dice})

    for epoch in range(start_epoch, epochs + 1):
        t0 = time.perf_counter()
        timer = Timer()
        model.train()
        order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed * 100003 + epoch)).tolist()
        losses = []
        for b in range(0, len(order), batch_images):
            if cancelled():
                raise Cancelled(epoch)
            batch = [load(train_set[i]) for i in order[b : b + batch_images]]
            batch = [s for s in batch if s["masks"].shape[0] > 0]
            if not batch:
                continue
            opt.zero_grad(set_to_none=True)
            total = 0.0
            count = sum(int(s["masks"].shape[0]) for s in batch)
            for s in batch:
                # Timed: the decoder's forward pass, and below the backward pass (which also runs back
                # through the loss and the resize, a small part of it); the rest counts as outside.
                with timer.model():
                    low, _ = model.decode(s["embedding"], s["coords"], s["labels"], *_no_mask(device))
                full = upscale_logits(low[:, :1], s["size"])[:, 0]
                # Weighted by object count so the batch loss is the mean over all its objects.
                total = total + dice_bce_loss(full, s["masks"]) * (s["masks"].shape[0] / count)
            with timer.model():
                total.backward()
            opt.step()
            losses.append(float(total))
        val_dice = evaluate(model, val_set, load) if val_set else 0.0
        train_s = time.perf_counter() - t0
        row = {
            "epoch": epoch,
            "loss": float(np.mean(losses)) if losses else 0.0,
            "valDice": val_dice,
            "seconds": train_s,
            "decoderSeconds": timer.model_s,
            # Peak resident memory of the trainer process so far (Linux reports KiB).
            "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        }
        history.append(row)
        if val_dice > best["valDice"] or (not val_set):
            best = {"epoch": epoch, "valDice": val_dice}
            _save_atomic({"decoder": model.mask_decoder.state_dict(), "epoch": epoch, "valDice": val_dice}, best_path)
        _save_atomic(
            {
                "version": CHECKPOINT_VERSION,
                "decoder": model.mask_decoder.state_dict(),
                "optimizer": opt.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch,
                "seed": seed,
                "train": train_set,
                "history": history,
                "bestEpoch": best["epoch"],
                "bestValDice": best["valDice"],
            },
            last_path,
        )
        emit({"event": "epoch", **row, "bestEpoch": best["epoch"], "bestValDice": best["valDice"]})

    final_digest = weights_digest(model)
    best_ck = torch.load(best_path, map_location="cpu")
    model.mask_decoder.load_state_dict(best_ck["decoder"])
    out = os.path.join(work, "decoder.onnx")
    export_onnx(model, cfg["baseDecoder"], out + ".tmp")
    os.replace(out + ".tmp", out)
    probe_sample = next(load(p) for p in train_set if load(p)["masks"].shape[0] > 0)
    probe = write_probe(model, probe_sample, os.path.join(work, "probe.safetensors"))
    return {
        "event": "done",
        "bestEpoch": best["epoch"],
        "bestValDice": best["valDice"],
        "history": history,
        "finalWeightsSha256": final_digest,
        "bestWeightsSha256": weights_digest(model),
        "onnx": out,
        "probe": probe,
    }


def probe_inputs(sample):
    """Decoder inputs for the export check, from a real training sample: its embedding and image size, its
    box prompts as one prompt batch, and a mask prior made from its first object (so the mask path is checked
    too). Real embeddings keep the logits in the range the 1e-4 bound is meant for."""
    k = sample["masks"].shape[0]
    prior = F.interpolate(sample["masks"][:1, None], size=(LOW_RES_SIDE, LOW_RES_SIDE), mode="bilinear", align_corners=False)
    return {
        "image_embeddings": sample["embedding"],
        "point_coords": sample["coords"],
        "point_labels": sample["labels"],
        "mask_input": (prior * 2.0 - 1.0) * 8.0,
        "has_mask_input": torch.tensor([1.0 if k > 0 else 0.0], device=prior.device),
        "orig_im_size": torch.tensor([float(sample["size"][0]), float(sample["size"][1])], device=prior.device),
    }


def run_decoder(model, inputs, float64=True):
    """The served decoder's three outputs from its six inputs (tensors), as float32 numpy arrays. By default
    computed in float64 on a copy of the model: the reference then carries no rounding of its own, and a
    comparison with ONNX Runtime measures the function, not two float32 summation orders."""
    if float64:
        model = copy.deepcopy(model).double()
    model.eval()
    dtype = torch.float64 if float64 else torch.float32
    names = ("image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size")
    with torch.no_grad():
        masks, iou, low = model(*(inputs[k].to(dtype) for k in names))
    return {k: v.float().cpu().numpy() for k, v in (("masks", masks), ("iou_predictions", iou), ("low_res_masks", low))}


def write_probe(model, sample, path):
    """Writes the probe inputs and this model's outputs on them, for the gateway to compare with ONNX Runtime."""
    inputs = probe_inputs(sample)
    outputs = run_decoder(model, inputs)
    tensors = {f"input.{k}": v.cpu().numpy() for k, v in inputs.items()}
    tensors.update({f"output.{k}": v for k, v in outputs.items()})
    write_tensors(path, tensors)
    return path
