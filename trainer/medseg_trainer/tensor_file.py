"""Tensor files shared with the gateway, in the safetensors layout.

Layout: an 8-byte little-endian header length, a UTF-8 JSON header mapping each name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the end of the header), then the raw
little-endian data. The gateway writes and reads the same layout (gateway/src/finetune/tensor-file.ts).
"""

import json
import os
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "U8": np.uint8, "I32": np.int32, "I64": np.int64}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
# A header larger than this is not a tensor file the gateway wrote (it guards against reading garbage).
_MAX_HEADER = 16 * 1024 * 1024


class TensorFileError(Exception):
    """A tensor file that is missing, truncated or malformed."""


def read_tensors(path):
    """Reads every tensor of a file; returns {name: numpy array} (copies, writable)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise TensorFileError(f"{path}: {e.strerror}") from e
    if len(raw) < 8:
        raise TensorFileError(f"{path}: shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER or 8 + n > len(raw):
        raise TensorFileError(f"{path}: header length {n} does not fit the file")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except ValueError as e:
        raise TensorFileError(f"{path}: header is not JSON ({e})") from e
    body = raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise TensorFileError(f"{path}: tensor {name} has unsupported dtype {info.get('dtype')}")
        begin, end = info["data_offsets"]
        shape = [int(d) for d in info["shape"]]
        count = int(np.prod(shape)) if shape else 1
        if begin < 0 or end > len(body) or end - begin != count * np.dtype(dtype).itemsize:
            raise TensorFileError(f"{path}: tensor {name} data offsets do not match its shape")
        out[name] = np.frombuffer(body[begin:end], dtype=dtype).reshape(shape).copy()
    return out


def write_tensors(path, tensors):
    """Writes {name: numpy array} atomically (temp file, fsync, rename)."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype not in _NAMES:
            raise TensorFileError(f"tensor {name}: unsupported dtype {a.dtype}")
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad the header to 8 bytes so the data that follows stays aligned, as the safetensors layout allows.
    head += b" " * (-len(head) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
