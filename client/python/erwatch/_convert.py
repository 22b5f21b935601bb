"""Turning numpy arrays and PyTorch tensors into tensor frames.

A frame is the raw bytes of a C-order, little-endian N x d matrix
(schema/protocol.md). prepare() returns a numpy array whose buffer is exactly
those bytes, plus the protocol's dtype name and whether the array is ours.

Design decisions:
  - torch is never imported here. A tensor can only exist if the caller has
    imported torch already, so sys.modules tells us whether to look for one;
    the package works on machines without torch.
  - Copies: a CPU array that is already C-contiguous and little-endian is
    passed on as a view of the caller's memory ("not ours"); the sender then
    has ZeroMQ copy it once, so that the caller may change it in place as
    soon as log() returns. Anything we had to create anyway (a GPU tensor
    brought to the CPU, rows gathered by max_rows, a non-contiguous input
    made contiguous) is "ours" and is handed to ZeroMQ without another copy.
  - bfloat16 has no numpy dtype: its 16-bit payload travels as int16 and the
    header says "bf16".
  - Rows are gathered on the tensor's own device before the transfer, so
    max_rows also cuts the device-to-host traffic.
  - NaN/Inf are looked for in the whole input (not only the rows max_rows
    keeps), so that the same input always gets the same answer.
"""

import sys

import numpy as np

_NP_NAMES = {2: "f16", 4: "f32", 8: "f64"}  # itemsize of a float dtype -> name


def torch_module():
    """The torch module if the program has imported it, else None."""
    return sys.modules.get("torch")


def is_tensor(x):
    torch = torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def as_array_like(x, what):
    """x itself when it is a numpy array or a torch tensor, else np.asarray(x)."""
    if isinstance(x, np.ndarray) or is_tensor(x):
        return x
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as e:
        raise ValueError("erwatch: %s is not an array or tensor (%s)" % (what, e)) from None


def shape2(x, what):
    """(N, d) of a 2-D array or tensor; a clear ValueError otherwise."""
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError("erwatch: %s must be 2-D (N rows x d features), got shape %s"
                         % (what, shape))
    return int(shape[0]), int(shape[1])


def check_dtype(x, what):
    """Raises ValueError unless x (an array or tensor) holds a float type the
    protocol carries. Cheap: looks at the dtype only."""
    torch = torch_module()
    if torch is not None and isinstance(x, torch.Tensor):
        if x.dtype not in _torch_names(torch):
            raise ValueError("erwatch: %s has dtype %s; send float32, float64, float16 or "
                             "bfloat16" % (what, x.dtype))
    elif x.dtype.kind != "f" or x.dtype.itemsize not in _NP_NAMES:
        raise ValueError("erwatch: %s has dtype %s; send float16, float32 or float64 "
                         "(or a torch bfloat16 tensor)" % (what, x.dtype))


def _nonfinite_error(what, row, col):
    return ValueError("erwatch: %s contains NaN or Inf (first at row %d, column %d); "
                      "the daemon would reject the batch" % (what, row, col))


# ---------------------------------------------------------------- numpy

# Non-finite 16-bit floats, by their bits with the sign cleared: the
# exponent is all ones (IEEE half: 0x7c00, bfloat16: 0x7f80).
_NONFINITE_BITS = {"f16": 0x7C00, "bf16": 0x7F80}


def _np_all_finite(a, name):
    """True when a (a float array, or bfloat16 bits as int16) holds no NaN
    or Inf. For f32/f64 the test is the dot product of a with itself (one
    BLAS pass, no allocation): it is NaN or Inf if any element is. Only when
    it is not finite (or a is not contiguous) does the exact, allocating scan
    run, so huge legitimate values whose squares overflow are no error."""
    if name in _NONFINITE_BITS:
        bits = a.view(np.uint16)
        return int((bits & 0x7FFF).max()) < _NONFINITE_BITS[name]
    if a.flags.c_contiguous and a.dtype.isnative:
        flat = a.reshape(-1)
        if np.isfinite(np.dot(flat, flat)):  # BLAS: no floating-point warnings
            return True
    return bool(np.isfinite(a).all())


def _np_first_nonfinite(a, name):
    if name in _NONFINITE_BITS:
        bad = (a.view(np.uint16) & 0x7FFF) >= _NONFINITE_BITS[name]
    else:
        bad = ~np.isfinite(a)
    return tuple(int(i) for i in np.argwhere(bad)[0])


def _np_prepare(a, idx, what, name=None, ours=False):
    """a: the whole input on the CPU; name: "bf16" when a holds bfloat16
    bits, else None (taken from a's dtype)."""
    if name is None:
        if a.dtype.kind != "f" or a.dtype.itemsize not in _NP_NAMES:
            raise ValueError("erwatch: %s has dtype %s; send float16, float32 or float64 "
                             "(or a torch bfloat16 tensor)" % (what, a.dtype))
        name = _NP_NAMES[a.dtype.itemsize]
    if not _np_all_finite(a, name):
        raise _nonfinite_error(what, *_np_first_nonfinite(a, name))
    if idx is not None:
        a = a[idx]  # fancy indexing: a new C-contiguous array
        ours = True
    le = a.dtype.newbyteorder("<")
    if a.dtype != le:
        a = a.astype(le)
        ours = True
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
        ours = True
    return a, name, ours


# ---------------------------------------------------------------- torch

def _torch_names(torch):
    return {torch.float32: "f32", torch.float64: "f64", torch.float16: "f16",
            torch.bfloat16: "bf16"}


def _torch_prepare(torch, t, idx, what):
    t = t.detach()
    if t.layout != torch.strided:
        raise ValueError("erwatch: %s is a %s tensor; send a dense (strided) tensor"
                         % (what, t.layout))
    name = _torch_names(torch).get(t.dtype)
    if name is None:
        raise ValueError("erwatch: %s has dtype %s; send float32, float64, float16 or "
                         "bfloat16" % (what, t.dtype))
    for resolve in ("resolve_conj", "resolve_neg"):  # lazy views numpy() refuses
        if hasattr(t, resolve):
            t = getattr(t, resolve)()
    if t.device.type == "cpu":
        # A zero-copy numpy view; numpy's checks are far faster than torch's
        # on the CPU (torch.isfinite allocates and is not vectorised everywhere).
        a = (t.view(torch.int16) if name == "bf16" else t).numpy()
        return _np_prepare(a, idx, what, name if name == "bf16" else None)
    # On an accelerator: check and gather there, then one transfer.
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        raise _nonfinite_error(what, *bad.nonzero()[0].tolist())
    if idx is not None:
        t = t.index_select(0, torch.from_numpy(idx).to(t.device))
    if name == "bf16":
        t = t.view(torch.int16)  # same bits; numpy has no bfloat16
    a = t.contiguous().cpu().numpy()  # contiguous on the device: no host copy
    if a.dtype != a.dtype.newbyteorder("<"):
        a = a.astype(a.dtype.newbyteorder("<"))
    return a, name, True


# ---------------------------------------------------------------- both

def prepare(x, idx, what):
    """Returns (array, dtype name, ours) for a 2-D numpy array or torch
    tensor x, with rows idx (sorted int64 indices) or all rows."""
    torch = torch_module()
    if torch is not None and isinstance(x, torch.Tensor):
        return _torch_prepare(torch, x, idx, what)
    return _np_prepare(x, idx, what)


def widen(a, name, target):
    """Converts a prepared array from dtype name to target ("f32" or "f64");
    used when the two views arrive in different dtypes."""
    if name == "bf16":
        a = (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return np.ascontiguousarray(a, dtype="<f4" if target == "f32" else "<f8")
