"""Read the weights of a TensorFlow.js model (model.json + binary shards) into numpy arrays.

TensorFlow.js stores a model's constants in `weightsManifest`: a list of groups, each naming its shard files
(`paths`) and, in order, the arrays packed into the concatenation of those shards (`weights`: name, shape,
dtype, optional `quantization`). Arrays follow each other with no padding, little-endian.
"""
from __future__ import annotations

import collections
import json
import pathlib
from typing import Any, Dict, List, Mapping

import numpy as np

# TF.js dtype name -> numpy dtype of one stored element (unquantized).
_DTYPES: Mapping[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("bool"),
}
# Quantized storage: TF.js `quantization.dtype` -> numpy dtype of the stored element.
_QUANTIZED_DTYPES: Mapping[str, np.dtype] = {
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}


class TfjsFormatError(ValueError):
    """model.json or its shards do not hold what the TF.js weights format requires."""


def read_model_json(model_json: pathlib.Path | str) -> Dict[str, Any]:
    """Parses model.json, checking that it holds a `weightsManifest` list."""
    path = pathlib.Path(model_json)
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise TfjsFormatError(f"{path}: not JSON ({error})") from error
    manifest = content.get("weightsManifest") if isinstance(content, dict) else None
    if not isinstance(manifest, list) or not manifest:
        raise TfjsFormatError(f"{path}: expected a non-empty 'weightsManifest' list at the top level")
    return content


def _decode_array(entry: Mapping[str, Any], raw: bytes, where: str) -> np.ndarray:
    """Turns the bytes of one manifest entry into an array of its declared dtype and shape."""
    shape = [int(d) for d in entry["shape"]]
    count = int(np.prod(shape)) if shape else 1
    dtype_name = entry["dtype"]
    quantization = entry.get("quantization")
    if quantization:
        stored = _QUANTIZED_DTYPES.get(quantization.get("dtype"))
        if stored is None:
            raise TfjsFormatError(f"{where}: unsupported quantization dtype {quantization.get('dtype')!r}")
        values = np.frombuffer(raw, dtype=stored, count=count)
        if stored == np.dtype("<f2"):
            values = values.astype(np.float32)
        else:
            values = values.astype(np.float32) * float(quantization["scale"]) + float(quantization["min"])
        return values.astype(_DTYPES[dtype_name]).reshape(shape)
    return np.frombuffer(raw, dtype=_DTYPES[dtype_name], count=count).reshape(shape).copy()


def _entry_nbytes(entry: Mapping[str, Any], where: str) -> int:
    if entry.get("dtype") not in _DTYPES:
        raise TfjsFormatError(f"{where}: dtype {entry.get('dtype')!r} is not one of {sorted(_DTYPES)}")
    shape = entry.get("shape")
    if not isinstance(shape, list) or any(not isinstance(d, int) or d < 0 for d in shape):
        raise TfjsFormatError(f"{where}: 'shape' must be a list of non-negative integers, got {shape!r}")
    count = int(np.prod(shape)) if shape else 1
    quantization = entry.get("quantization")
    if quantization:
        stored = _QUANTIZED_DTYPES.get(quantization.get("dtype"))
        if stored is None:
            raise TfjsFormatError(f"{where}: unsupported quantization dtype {quantization.get('dtype')!r}")
        return count * stored.itemsize
    return count * _DTYPES[entry["dtype"]].itemsize


def read_tfjs_weights(model_json: pathlib.Path | str) -> "collections.OrderedDict[str, np.ndarray]":
    """Reads every array of a TF.js model's weights manifest, in manifest order.

    Args:
      model_json: path of model.json; its shard files are looked up next to it.

    Returns:
      An ordered mapping from the array's name (the original TF graph name) to a numpy array.

    Raises:
      TfjsFormatError: a shard is missing, or the shards hold fewer or more bytes than the manifest declares.
    """
    path = pathlib.Path(model_json)
    manifest: List[Dict[str, Any]] = read_model_json(path)["weightsManifest"]
    arrays: "collections.OrderedDict[str, np.ndarray]" = collections.OrderedDict()
    for group_index, group in enumerate(manifest):
        where_group = f"{path}: weightsManifest[{group_index}]"
        shard_bytes = []
        for shard_name in group.get("paths", []):
            shard_path = path.parent / shard_name
            if not shard_path.is_file():
                raise TfjsFormatError(f"{where_group}: shard file {shard_path} is missing")
            shard_bytes.append(shard_path.read_bytes())
        buffer = b"".join(shard_bytes)
        offset = 0
        for entry_index, entry in enumerate(group.get("weights", [])):
            where = f"{where_group}.weights[{entry_index}] ({entry.get('name')!r})"
            nbytes = _entry_nbytes(entry, where)
            if offset + nbytes > len(buffer):
                raise TfjsFormatError(f"{where}: needs bytes {offset}..{offset + nbytes} but the shards "
                                      f"{group.get('paths')} hold only {len(buffer)} bytes")
            if entry["name"] in arrays:
                raise TfjsFormatError(f"{where}: name appears twice in the manifest")
            arrays[entry["name"]] = _decode_array(entry, buffer[offset:offset + nbytes], where)
            offset += nbytes
        if offset != len(buffer):
            raise TfjsFormatError(f"{where_group}: the manifest declares {offset} bytes but the shards hold "
                                  f"{len(buffer)}")
    return arrays
