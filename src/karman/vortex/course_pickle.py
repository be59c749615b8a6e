"""The course notebooks' velocity files, unpickled without running code.

They are named `.npz` but were written with `ndarray.dump()`: a pickle of one float array.
`ArrayUnpickler` admits the few numpy globals an ndarray needs and refuses everything else,
so a malicious file cannot run code; plain `pickle.load` and `np.load(allow_pickle=True)` are
never used (docs/security.md).
"""

from __future__ import annotations

import codecs
import math
import os
import pickle
import re

import numpy as np

# --- the course's pickled arrays, unpickled without running code -------------------------------
#
# A numpy pickle names numpy.dtype, _reconstruct, _frombuffer and scalar, and numpy trusts the
# state a pickle gives them: forged dtype flags make an object dtype that claims to hold no
# objects, and _reconstruct allocates whatever shape the pickle asks for. So none of numpy's own
# functions is ever handed to the pickle: the names stand for the builders below, which admit a
# plain numeric dtype only (kind f, i or u, no fields, no sub-array, no metadata), rebuilt from
# its name, and make every array from bytes that are in the file, of exactly the size its shape
# and dtype need.

PLAIN_NUMBER = re.compile(r"[fiu][1248]")  # the dtype names numpy pickles give plain numbers
BYTE_ORDERS = {"<": "<", ">": ">", "=": "=", "|": "|"}


class PlainDtype:
    """`numpy.dtype(name, align, copy)` as a pickle calls it; its pickled state may only repeat
    what a plain number's dtype has."""

    def __init__(self, name, align=False, copy=True):
        if not isinstance(name, str) or not PLAIN_NUMBER.fullmatch(name):
            raise pickle.UnpicklingError(f"refusing the dtype {name!r}: only plain numbers (f, i, u) may be unpickled")
        self.name, self.byte_order = name, "="

    def __setstate__(self, state) -> None:
        # (version, byte order, sub-array, names, fields, element size, alignment, flags[, metadata])
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[1] in BYTE_ORDERS
                and state[2:5] == (None, None, None) and state[5:7] == (-1, -1) and (len(state) == 8 or state[8] is None)):
            raise pickle.UnpicklingError(f"refusing the dtype state {state!r}: it is not that of a plain number")
        self.byte_order = BYTE_ORDERS[state[1]]  # the flags are not read: they come from the name

    @property
    def dtype(self) -> np.dtype:
        plain = np.dtype(self.name)  # a name PLAIN_NUMBER admits: kind f, i or u, no fields, no metadata
        return plain if self.byte_order == "|" else plain.newbyteorder(self.byte_order)


def _array_from_bytes(raw, dtype, shape, fortran: bool = False) -> np.ndarray:
    """A new array of `shape` read from the bytes `raw`, which must hold exactly its elements."""
    if not isinstance(dtype, PlainDtype):
        raise pickle.UnpicklingError(f"refusing an array of {type(dtype).__name__}: only plain numbers may be unpickled")
    if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
        raise pickle.UnpicklingError(f"refusing the array shape {shape!r}")
    if not isinstance(raw, bytes | bytearray | pickle.PickleBuffer):
        raise pickle.UnpicklingError(f"refusing array data of type {type(raw).__name__}: only bytes")
    real = dtype.dtype
    data = memoryview(raw).cast("B")
    if data.nbytes != math.prod(shape) * real.itemsize:
        raise pickle.UnpicklingError(f"refusing an array of shape {shape} and dtype {real}: its data are {data.nbytes} bytes, "
                                     f"not the {math.prod(shape) * real.itemsize} it needs")
    return np.frombuffer(data, dtype=real).reshape(shape, order="F" if fortran else "C").copy()


class ArrayState:
    """What `_reconstruct(ndarray, shape, typecode)` stands for: nothing is allocated until the
    pickle's state gives the array's shape, dtype and bytes."""

    def __init__(self, cls, shape, typecode):
        if cls is not NDARRAY:
            raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}: only a plain numpy array may be unpickled")
        self.array = None

    def __setstate__(self, state) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise pickle.UnpicklingError("refusing an array state that is not (1, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, raw = state
        self.array = _array_from_bytes(raw, dtype, shape, fortran is True)


NDARRAY = object()  # what the pickle's numpy.ndarray stands for: a marker, never the class


def _from_buffer(buffer, dtype, shape, order) -> np.ndarray:
    """`numpy._core.numeric._frombuffer`, the protocol-5 form of an array."""
    if order not in ("C", "F"):
        raise pickle.UnpicklingError(f"refusing the array order {order!r}")
    return _array_from_bytes(buffer, dtype, shape, order == "F")


def _scalar(dtype, raw):
    """`numpy._core.multiarray.scalar`: one number of a plain dtype from its bytes."""
    return _array_from_bytes(raw, dtype, ())[()]


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}: only 'latin1' is used by numpy pickles")
    return codecs.encode(text, "latin1")


# (module, name) -> what it stands for; both numpy 1.x (`numpy.core`) and 2.x (`numpy._core`) spellings.
_ALLOWED_GLOBALS = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): ArrayState for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _from_buffer for core in ("core", "_core")},
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): PlainDtype,
    ("_codecs", "encode"): _latin1_bytes,  # how protocol 2 stores bytes in Python 3
}


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain numeric numpy arrays (and scalars) and nothing else: every other global is
    refused by name, and numpy's own constructors are never called with the pickle's arguments."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load the global {module}.{name}: only a plain numpy array may be unpickled"
            ) from None

    def load(self):
        found = super().load()
        if isinstance(found, ArrayState):
            if found.array is None:
                raise pickle.UnpicklingError("the pickle reconstructs an array but never gives its data")
            return found.array
        return found


def load_pickled_array(path: str | os.PathLike) -> np.ndarray:
    """The numpy array pickled in `path` (e.g. by `ndarray.dump`), read with ArrayUnpickler.

    Raises pickle.UnpicklingError for anything that is not a plain numeric array, or for an
    array larger than the file that holds it.
    """
    with open(path, "rb") as handle:
        array = ArrayUnpickler(handle).load()
    if not isinstance(array, np.ndarray):
        raise pickle.UnpicklingError(f"the pickle holds a {type(array).__name__}, not a numpy array")
    if array.nbytes > os.path.getsize(path):
        raise pickle.UnpicklingError(f"the pickle's array ({array.nbytes} bytes) is larger than its file")
    return array
