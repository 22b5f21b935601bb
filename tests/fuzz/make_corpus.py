#!/usr/bin/python3
"""make_corpus.py: writes the seed corpus of the decoder fuzz target.

    /usr/bin/python3 tests/fuzz/make_corpus.py [OUTDIR]
    (default: tests/fuzz/corpus/decode next to this script)

Every seed uses the input format of tests/fuzz/fuzz_decode.c:

    byte 0: bits 0-1 = frame count - 1, bit 2 = header-only (rest is the
            header, unframed)
    then every frame but the last as u16-LE length + bytes, the last frame
    as the remaining bytes.

Seeds are named after what they exercise: ok_* are valid messages (each
dtype, support, one and two views, every optional key), hdr_* go to
decode_header alone, and rej_<reason>_* break one rule each, covering every
rejection reason of schema/protocol.md. Files in the directory that this
script does not write are kept: fuzz_* are inputs libFuzzer found that reach
branches no seed reaches (picked by greedy set cover over source-based
branch coverage of decode.c), crash_* would be crashers it found (none so far).
"""
import os
import struct
import sys

import msgpack
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def header(**over):
    """A valid minimal header (2 x 3, f32), with keys replaced or removed
    (value None removes)."""
    h = {"v": 1, "run": "seed", "tag": "proj", "step": 7, "dtype": "f32", "shape": [2, 3]}
    for k, v in over.items():
        if v is None:
            h.pop(k, None)
        else:
            h[k] = v
    return msgpack.packb(h, use_bin_type=True)


def tensor(dtype, n=2, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    if dtype == "bf16":
        bits = x.astype("<f4").view("<u4") >> 16
        return bits.astype("<u2").tobytes()
    return x.astype({"f32": "<f4", "f64": "<f8", "f16": "<f2"}[dtype]).tobytes()


def extend(hdr, *pairs):
    """Appends raw key/value pairs to a packed fixmap header."""
    assert 0x80 <= hdr[0] and hdr[0] + len(pairs) <= 0x8F
    return bytes([hdr[0] + len(pairs)]) + hdr[1:] + b"".join(pairs)


def message(frames):
    """Frames -> one fuzz input (1 to 4 frames)."""
    assert 1 <= len(frames) <= 4
    out = bytes([len(frames) - 1])
    for f in frames[:-1]:
        assert len(f) < 65536
        out += struct.pack("<H", len(f)) + f
    return out + frames[-1]


def header_only(raw):
    return bytes([4]) + raw


def seeds():
    s = {}
    # --- valid messages
    for dt in ("f32", "f64", "f16", "bf16"):
        s["ok_%s_v1" % dt] = message([header(dtype=dt), tensor(dt)])
        s["ok_%s_v2" % dt] = message([header(dtype=dt, views=2), tensor(dt), tensor(dt, seed=1)])
    # f16 extremes: subnormals, min normal, max, signed zero
    f16 = struct.pack("<6H", 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x8000, 0x8001)
    s["ok_f16_subnormal"] = message([header(dtype="f16"), f16])
    bf16 = struct.pack("<6H", 0x0001, 0x3F80, 0xC049, 0x7F7F, 0x8000, 0x0080)
    s["ok_bf16_edges"] = message([header(dtype="bf16"), bf16])
    s["ok_discrete"] = message([
        header(support="discrete", shape=[2, 2]),
        struct.pack("<4f", 0.25, 0.75, 1.0, 0.0)])
    s["ok_all_keys"] = message([
        header(views=2, support="sphere", kappa=2.5, rank=3, world=8, time=1.7e9,
               scalars={"loss": 0.71, "lr": 5, "er_entropy": -1.0}, dropped=12),
        tensor("f32"), tensor("f32", seed=2)])
    s["ok_unknown_keys"] = message([
        header(extra={"a": [1, [2, [3, b"bin"]]], "b": None}, z=msgpack.ExtType(5, b"xy"),
               t=True, f=1.5),
        tensor("f32")])
    # ints in non-minimal encodings are still ints; float32 kappa
    raw = (b"\x87" + b"\xa1v\xcc\x01" + b"\xa3run\xd9\x01r" + b"\xa3tag\xa1t" +
           b"\xa4step\xd3" + struct.pack(">q", 9) + b"\xa5dtype\xa3f32" +
           b"\xa5shape\x92\xd0\x01\xcd\x00\x01" + b"\xa5kappa\xca" + struct.pack(">f", 3.0))
    s["ok_wide_ints"] = message([raw, struct.pack("<f", 1.0)])
    s["ok_limit_shape"] = message([header(dtype="f16", shape=[1, 8192]),
                                   b"\x00\x3c" * 8192])

    # --- header only
    s["hdr_ok_minimal"] = header_only(header())
    s["hdr_ok_full"] = header_only(header(views=2, kappa=100000, rank=0, world=1, time=0,
                                          scalars={"a": 1}, dropped=0))
    s["hdr_step_max"] = header_only(header(step=2**63 - 1))

    # --- one rejection reason each (some several ways)
    good = header()
    t = tensor("f32")
    s["rej_frames_1"] = message([good])
    s["rej_frames_4"] = message([good, t, t, t])
    s["rej_frames_views2_one_tensor"] = message([header(views=2), t])
    s["rej_frames_views1_two_tensors"] = message([good, t, t])
    s["rej_frames_views0_with_tensor"] = message([
        header(views=0, dtype=None, shape=None, scalars={"loss": 0.5}), t])
    # views 0: a scalar-only batch, the header alone
    s["ok_scalar_only"] = message([header(views=0, dtype=None, shape=None,
                                          scalars={"loss": 0.5, "lr": 1})])
    s["rej_bad_value_views0_no_scalar"] = message([header(views=0, dtype=None, shape=None)])
    s["rej_msgpack_empty"] = message([b"", t])
    s["rej_msgpack_trailing"] = message([good + b"\xc0", t])
    s["rej_msgpack_truncated"] = message([good[:-1], t])
    s["rej_msgpack_not_map"] = message([msgpack.packb([1, 2]), t])
    s["rej_msgpack_c1"] = message([b"\x81\xa1v\xc1", t])
    s["rej_msgpack_huge_array"] = message([b"\x81\xa5shape\xdd\x7f\xff\xff\xff", t])
    s["rej_msgpack_huge_map"] = header_only(b"\xdf\xff\xff\xff\xff\xa1v\x01")
    s["rej_msgpack_huge_str"] = header_only(b"\x81\xa3run\xdb\x7f\xff\xff\xffabc")
    s["rej_msgpack_huge_bin"] = header_only(b"\x81\xa1x\xc6\xff\xff\xff\xf0abc")
    s["rej_msgpack_huge_ext"] = header_only(b"\x81\xa1x\xc9\xff\xff\xff\xf0\x01abc")
    s["rej_msgpack_deep"] = header_only(b"\x81\xa1x" + b"\x91" * 8 + b"\x01")
    s["rej_missing_key_dtype"] = message([header(dtype=None), t])
    s["rej_missing_key_v"] = message([header(v=None), t])
    s["rej_bad_type_step_float"] = message([header(step=7.0), t])
    s["rej_bad_type_shape_map"] = message([header(shape={"n": 2}), t])
    s["rej_bad_type_dup_key"] = message([b"\x82\xa3run\xa1a\xa3run\xa1b", t])
    s["rej_bad_type_dup_unknown"] = message([extend(good, b"\xa1q\x01", b"\xa1q\x02"), t])
    s["rej_bad_type_key_int"] = message([extend(good, b"\x05\x05"), t])
    s["rej_version_2"] = message([header(v=2), t])
    s["rej_bad_name_control"] = message([header(run="a\nb"), t])
    s["rej_bad_name_long"] = message([header(tag="x" * 129), t])
    # msgpack for Python cannot pack invalid UTF-8 as a str: patch it in
    s["rej_bad_name_utf8"] = message([header(run="@@").replace(b"\xa2@@", b"\xa2\xc0\xaf"), t])
    s["rej_bad_name_scalar"] = message([header(scalars={"": 1.0}), t])
    s["rej_dtype"] = message([header(dtype="f8"), t])
    s["rej_shape_zero"] = message([header(shape=[0, 128]), t])
    s["rej_shape_three"] = message([header(shape=[1, 2, 3]), t])
    s["rej_shape_over"] = message([header(shape=[65536, 513]), t])
    s["rej_bad_value_kappa"] = message([header(kappa=0), t])
    s["rej_bad_value_views"] = message([header(views=3), t])
    s["rej_bad_value_rank"] = message([header(rank=4, world=4), t])
    s["ok_pool_part"] = message([header(rank=1, world=4, pool=True), t])
    s["rej_bad_value_pool_world1"] = message([header(rank=0, world=1, pool=True), t])
    s["rej_bad_type_pool_int"] = message([header(rank=0, world=2, pool=1), t])
    s["rej_bad_value_step"] = message([header(step=-1), t])
    s["rej_bad_value_step_big"] = message([header(step=2**63), t])
    s["rej_bad_value_time"] = message([header(time=float("nan")), t])
    s["rej_bad_value_scalar"] = message([header(scalars={"loss": float("inf")}), t])
    s["rej_bad_value_support"] = message([header(support="torus"), t])
    s["rej_bad_value_65_scalars"] = header_only(header(scalars={"s%d" % i: i for i in range(65)}))
    s["hdr_ok_64_scalars"] = header_only(header(scalars={"s%d" % i: i / 2 for i in range(64)}))
    s["rej_frame_size_short"] = message([good, t[:-1]])
    s["rej_frame_size_long"] = message([good, t + b"\x00"])
    s["rej_frame_size_view2"] = message([header(views=2), t, t[:-4]])
    nan32 = struct.pack("<f", float("nan"))
    s["rej_nonfinite_f32"] = message([good, t[:8] + nan32 + t[12:]])
    s["rej_nonfinite_f16"] = message([header(dtype="f16"), tensor("f16")[:-2] + b"\x00\x7c"])
    s["rej_nonfinite_bf16"] = message([header(dtype="bf16"), b"\xc1\xff" + tensor("bf16")[2:]])
    s["rej_nonfinite_f64"] = message([header(dtype="f64"), tensor("f64")[:-8] +
                                      struct.pack("<d", float("-inf"))])
    s["rej_nonfinite_f64_overflow"] = message([header(dtype="f64"),
                                               struct.pack("<d", 1e39) + tensor("f64")[8:]])
    s["rej_nonfinite_view2"] = message([header(views=2), t, t[:-4] + nan32])
    # launch identity and run metadata
    s["ok_launch_resume_config"] = message([header(launch="5f0c2a9e41d3b7c8", resume=True,
                                                   config='{"lr": 0.05, "opt": {"m": [0.9]}}',
                                                   notes="try 2\nlonger warm-up"), t])
    s["hdr_ok_config_max"] = header_only(header(config='{"k":"' + "a" * (32768 - 8) + '"}'))
    s["rej_bad_launch_space"] = message([header(launch="a b"), t])
    s["rej_bad_launch_long"] = message([header(launch="x" * 129), t])
    s["rej_bad_launch_resume_alone"] = message([header(resume=True), t])
    s["rej_bad_type_resume_int"] = message([header(launch="x", resume=1), t])
    s["rej_bad_config_not_json"] = message([header(config="{lr: 1}"), t])
    s["rej_bad_config_array"] = message([header(config="[1]"), t])
    s["rej_bad_config_dup_key"] = message([header(config='{"a": 1, "a": 2}'), t])
    s["rej_bad_config_deep"] = header_only(header(config="[" * 3000 + "]" * 3000))
    s["rej_bad_config_over"] = header_only(header(config='{"k":"' + "a" * 32768 + '"}'))
    s["rej_bad_config_notes_ctl"] = message([header(notes="a\x01"), t])
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "decode")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(seeds()), out))


if __name__ == "__main__":
    main()
