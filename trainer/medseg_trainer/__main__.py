"""The trainer process: JSON requests, one per line on stdin; JSON events, one per line on stdout.

Requests: {"id", "cmd": "train", ...config} (see train.train), {"id", "cmd": "forward", "decoder", "inputs",
"outputs"} (the served decoder's outputs from PyTorch, for parity checks), {"cmd": "cancel"}. Every event
carries the request's id; a request ends with {"event": "done"} or {"event": "error", "code", "message"}.
End of stdin (the gateway went away) cancels the running request and ends the process.
"""

import json
import queue
import sys
import threading
import traceback

from .onnx_weights import GraphStructureError
from .tensor_file import TensorFileError
from .train import TrainError, run_decoder, train


def _emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _forward(req):
    import torch

    from .onnx_weights import load_from_onnx
    from .sam_decoder import SamDecoder
    from .tensor_file import read_tensors, write_tensors

    torch.set_num_threads(int(req.get("threads", 2)))
    model = SamDecoder()
    try:
        load_from_onnx(model, req["decoder"])
    except OSError as e:
        raise TrainError("MODEL_NOT_FOUND", f"decoder {req['decoder']}: {e.strerror or e}") from e
    t = read_tensors(req["inputs"])
    names = ("image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size")
    missing = [n for n in names if f"input.{n}" not in t]
    if missing:
        raise TrainError("BAD_REQUEST", f"inputs lack {missing}")
    out = run_decoder(model, {n: torch.from_numpy(t[f"input.{n}"]) for n in names})
    write_tensors(req["outputs"], {f"output.{k}": v for k, v in out.items()})
    return {"event": "done", "outputs": req["outputs"]}


def main():
    requests = queue.Queue()
    cancel = threading.Event()

    def reader():
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                _emit({"event": "error", "code": "BAD_REQUEST", "message": "request is not JSON"})
                continue
            if isinstance(msg, dict) and msg.get("cmd") == "cancel":
                cancel.set()
            else:
                requests.put(msg)
        cancel.set()
        requests.put(None)

    threading.Thread(target=reader, daemon=True).start()
    while True:
        req = requests.get()
        if req is None:
            return
        rid = req.get("id") if isinstance(req, dict) else None
        try:
            if not isinstance(req, dict):
                raise TrainError("BAD_REQUEST", "request must be a JSON object")
            if req.get("cmd") == "train":
                result = train(req, lambda e: _emit({"id": rid, **e}), cancel.is_set)
            elif req.get("cmd") == "forward":
                result = _forward(req)
            else:
                raise TrainError("BAD_REQUEST", f"unknown cmd {req.get('cmd')!r}")
            _emit({"id": rid, **result})
        except TrainError as e:
            _emit({"id": rid, "event": "error", "code": e.code, "message": str(e)})
        except GraphStructureError as e:
            _emit({"id": rid, "event": "error", "code": "BAD_MODEL", "message": str(e)})
        except TensorFileError as e:
            _emit({"id": rid, "event": "error", "code": "BAD_SAMPLE", "message": str(e)})
        except Exception as e:  # noqa: BLE001 - reported, never a silent crash of the process
            traceback.print_exc(file=sys.stderr)
            _emit({"id": rid, "event": "error", "code": "INTERNAL", "message": f"{type(e).__name__}: {e}"})
        # A cancel applies to the request running when it arrived (or the next one, when sent just before it
        # started), never to a later one.
        cancel.clear()


if __name__ == "__main__":
    main()
