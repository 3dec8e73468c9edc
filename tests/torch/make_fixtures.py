#!/usr/bin/python3
"""Builds the .pt fixtures of tests/test_torch_checkpoint.cpp (needs torch;
run with Debian's /usr/bin/python3 + python3-torch; deterministic).

    /usr/bin/python3 tests/torch/make_fixtures.py tests/data/torch

Each <dir>/model.pt is a torch.save(state_dict) of a tiny Llama-shaped model
whose linear layers are the buffers of the SqueezeLLM reference's
QuantLinearLUT, packed as its quantization/pack.py packs them (pack2: codes
as one LSB-first bit stream per 32 input columns, bits 2/3/4/8; outliers as
CSR residuals over the centroid nearest zero; balanced `startrows`; hybrid
`full_rows`/`full_row_indices`), next to quant_config.json, config.json and
tokenizer files. expected.safetensors holds, per layer, a fixed x (F32
[cols]), y = W·x (F64 [rows], the reference's semantics: LUT part + CSR
part + hybrid rows, computed in float64 from the stored float32 values, bias
excluded) and sum|W|·|x| (F64 [rows], for the tolerance).
bad/ holds malformed archives, built with a tiny pickle emitter and zipfile.
"""
import collections
import json
import os
import struct
import sys
import zipfile

import numpy as np
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/data/torch"


def pack_stream(codes, bits):
    """codes [rows, cols] (cols % 32 == 0) -> int32 [cols*bits/32, rows]:
    per row, the codes of 32 columns as one LSB-first bit stream over `bits` words."""
    rows, cols = codes.shape
    words = np.zeros((cols // 32 * bits, rows), dtype=np.uint64)
    for c in range(cols):
        g, k = divmod(c, 32)
        for b in range(bits):
            bit = (codes[:, c].astype(np.uint64) >> np.uint64(b)) & np.uint64(1)
            s = bits * k + b
            words[g * bits + s // 32] |= bit << np.uint64(s % 32)
    return words.astype(np.uint32).view(np.int32)


def startrows(rows_ptr, numvals, out_features, per_thread_nnz=10):
    """quantization/pack.py's balanced-kernel metadata (its algorithm, restated)."""
    threads = (numvals + per_thread_nnz - 1) // per_thread_nnz
    threads = 128 * ((threads + 127) // 128)
    nnz_per_thread = (numvals + threads - 1) // threads
    start = np.zeros(threads, dtype=np.int32)
    minidx = 0
    for i in range(threads):
        tmpmin = minidx
        for j in range(minidx, out_features):
            if nnz_per_thread * i > numvals:
                start[i] = -1
                break
            elif rows_ptr[j] < nnz_per_thread * i:
                start[i] = j
                tmpmin = j
            else:
                break
        minidx = tmpmin
    return torch.from_numpy(start)


def quant_layer(rng, rows, cols, bits, outlier_frac=0.0, bias=False, balanced=False, top_x=0):
    """Buffers of one QuantLinearLUT and its effective float64 weight."""
    K = 2 ** bits
    lut = np.sort(rng.normal(0, 0.05, size=(rows, K)).astype(np.float32), axis=1)
    codes = rng.integers(0, K, size=(rows, cols))
    W = np.take_along_axis(lut, codes, axis=1).astype(np.float64)
    buf = collections.OrderedDict()
    buf["qweight"] = torch.from_numpy(pack_stream(codes, bits))
    if bias:
        buf["bias"] = torch.from_numpy(rng.normal(0, 0.1, rows).astype(np.float16))
    buf["lookup_table"] = torch.from_numpy(lut)
    if outlier_frac > 0:
        dense = np.zeros((rows, cols), dtype=np.float32)
        mask = rng.random((rows, cols)) < outlier_frac
        mask[3, :] = False  # one row without outliers
        big = rng.normal(0, 0.5, size=(rows, cols)).astype(np.float32)
        for r in range(rows):
            z = int(np.argmin(np.abs(lut[r])))  # the centroid nearest zero (torch argmin: first on ties)
            for c in np.nonzero(mask[r])[0]:
                codes[r, c] = z
                dense[r, c] = np.float32(big[r, c] - lut[r, z])  # pack2: outlier - zero_mapping, in float32
        buf["qweight"] = torch.from_numpy(pack_stream(codes, bits))
        W = np.take_along_axis(lut, codes, axis=1).astype(np.float64) + dense.astype(np.float64)
        csr = torch.from_numpy(dense).to_sparse_csr()
        buf["rows"] = csr.crow_indices().to(torch.int32)
        buf["cols"] = csr.col_indices().to(torch.int32)
        buf["vals"] = csr.values().to(torch.float32)
        if balanced:
            buf["startrows"] = startrows(buf["rows"].numpy(), int(buf["vals"].shape[0]), rows)
        if top_x:
            idx = np.array([5, 1, 17][:top_x], dtype=np.int32)  # row 5 also has CSR residuals
            full = rng.normal(0, 0.3, size=(cols, top_x)).astype(np.float32)
            buf["full_rows"] = torch.from_numpy(full)
            buf["full_row_indices"] = torch.from_numpy(idx)
            for t in range(top_x):
                W[idx[t]] += full[:, t].astype(np.float64)
    return buf, W


EXTRA_FILES = {
    "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "vocab_size": 16}) + "\n",
    "generation_config.json": json.dumps({"bos_token_id": 1, "eos_token_id": 2}) + "\n",
    "tokenizer_config.json": json.dumps({"model_max_length": 64}) + "\n",
    "special_tokens_map.json": json.dumps({"bos_token": "<s>"}) + "\n",
}


def write_safetensors(path, tensors):
    header, data = {}, b""
    for name, arr in tensors.items():
        dt = {np.float32: "F32", np.float64: "F64"}[arr.dtype.type]
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def model(name, wbits, layers, seed, extra_layers=()):
    rng = np.random.default_rng(seed)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    sd = collections.OrderedDict()
    expected = {}
    sd["model.embed_tokens.weight"] = torch.from_numpy(rng.normal(0, 1, (16, 64)).astype(np.float16))
    for mod, kw in layers:
        rows, cols, bits = kw.pop("rows"), kw.pop("cols"), kw.pop("bits", wbits)
        buf, W = quant_layer(rng, rows, cols, bits, **kw)
        for k, v in buf.items():
            sd[mod + "." + k] = v
        x = rng.normal(0, 1, cols).astype(np.float32)
        expected[mod + ".x"] = x
        expected[mod + ".y"] = W @ x.astype(np.float64)
        expected[mod + ".absy"] = np.abs(W) @ np.abs(x.astype(np.float64))
        if "bias" in buf:
            expected[mod + ".bias"] = buf["bias"].numpy().astype(np.float32)
    sd["model.layers.0.input_layernorm.weight"] = torch.ones(64, dtype=torch.float16)
    sd["model.norm.weight"] = torch.from_numpy(rng.normal(1, 0.1, 64).astype(np.float16))
    sd["lm_head.weight"] = torch.from_numpy(rng.normal(0, 1, (16, 64)).astype(np.float16))
    for mod, kw in layers:
        if (mod + ".vals") in sd:
            sd["sparse_threshold." + mod] = int(sd[mod + ".vals"].shape[-1])
    torch.save(sd, os.path.join(d, "model.pt"))
    with open(os.path.join(d, "quant_config.json"), "w") as f:
        json.dump({"wbits": wbits}, f, indent=4)
    for fn, text in EXTRA_FILES.items():
        with open(os.path.join(d, fn), "w") as f:
            f.write(text)
    write_safetensors(os.path.join(d, "expected.safetensors"), expected)


P = "model.layers.0."
model("w3", 3, [
    (P + "self_attn.q_proj", dict(rows=48, cols=64)),
    (P + "self_attn.k_proj", dict(rows=48, cols=96, bias=True)),
    (P + "self_attn.v_proj", dict(rows=48, cols=64, outlier_frac=0.05)),
    (P + "self_attn.o_proj", dict(rows=64, cols=64, outlier_frac=0.05, balanced=True)),
    (P + "mlp.gate_proj", dict(rows=40, cols=64, outlier_frac=0.05, top_x=2)),
], seed=3)
model("w4", 4, [
    (P + "self_attn.q_proj", dict(rows=32, cols=64)),
    (P + "mlp.down_proj", dict(rows=64, cols=32, outlier_frac=0.04, bias=True)),
], seed=4)
model("w2", 2, [(P + "self_attn.q_proj", dict(rows=24, cols=64, outlier_frac=0.05))], seed=2)
model("w8", 8, [(P + "self_attn.q_proj", dict(rows=8, cols=32))], seed=8)

# Reader corner cases: a Parameter, a strided view, a slice at an offset, bf16, int64.
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
misc = collections.OrderedDict()
misc["param"] = torch.nn.Parameter(torch.tensor([1.5, -2.0, 3.25]))
misc["transposed"] = base.t()
misc["slice"] = base[1:3, 2:5]
misc["bf16"] = torch.tensor([1.0, -0.5, 65280.0], dtype=torch.bfloat16)
misc["int64"] = torch.tensor([-1, 2 ** 40], dtype=torch.int64)
misc["count"] = 42
torch.save(misc, os.path.join(OUT, "misc.pt"))

# --- malformed archives -----------------------------------------------------
BAD = os.path.join(OUT, "bad")
os.makedirs(BAD, exist_ok=True)


def op_int(v):
    return b"\x8a\x08" + struct.pack("<q", v)  # LONG1, 8 bytes


def op_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def op_tuple(items):
    return b"(" + b"".join(items) + b"t"


def tensor_ops(storage, key, numel, offset, size, stride):
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" +
            op_tuple([op_str("storage"), b"ctorch\n" + storage.encode() + b"\n", op_str(key), op_str("cpu"), op_int(numel)]) +
            b"Q" + op_int(offset) + op_tuple([op_int(s) for s in size]) + op_tuple([op_int(s) for s in stride]) +
            b"\x89ccollections\nOrderedDict\n)Rt" + b"R")


def state_dict_pkl(entries):
    body = b"".join(op_str(n) + ops for n, ops in entries)
    return b"\x80\x02ccollections\nOrderedDict\n)R(" + body + b"u."


def write_zip(name, entries, compress=()):
    with zipfile.ZipFile(os.path.join(BAD, name), "w") as z:
        for n, data in entries:  # fixed dates: the same bytes on every run
            info = zipfile.ZipInfo(n, date_time=(2024, 1, 1, 0, 0, 0))
            z.writestr(info, data, zipfile.ZIP_DEFLATED if n in compress else zipfile.ZIP_STORED)


f32x4 = struct.pack("<4f", 1, 2, 3, 4)
one = [("t", tensor_ops("FloatStorage", "0", 4, 0, (4,), (1,)))]
write_zip("good_handmade.pt", [("archive/data.pkl", state_dict_pkl(one)), ("archive/data/0", f32x4)])
write_zip("global_os_system.pt", [("archive/data.pkl", b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00echo\x85R."),
                                  ("archive/data/0", f32x4)])
write_zip("global_eval.pt", [("archive/data.pkl", b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.")])
write_zip("no_data_pkl.pt", [("archive/data/0", f32x4)])
write_zip("missing_storage.pt", [("archive/data.pkl", state_dict_pkl(one))])
write_zip("short_storage.pt", [("archive/data.pkl", state_dict_pkl(one)), ("archive/data/0", f32x4[:12])])
write_zip("wrong_dtype.pt", [("archive/data.pkl", state_dict_pkl([("t", tensor_ops("LongStorage", "0", 4, 0, (4,), (1,)))])),
                             ("archive/data/0", f32x4)])
write_zip("past_storage.pt", [("archive/data.pkl", state_dict_pkl([("t", tensor_ops("FloatStorage", "0", 4, 2, (3,), (1,)))])),
                              ("archive/data/0", f32x4)])
write_zip("huge_shape.pt", [("archive/data.pkl", state_dict_pkl([("t", tensor_ops("FloatStorage", "0", 4, 0, (2 ** 40, 2 ** 40), (1, 1)))])),
                            ("archive/data/0", f32x4)])
write_zip("huge_storage.pt", [("archive/data.pkl", state_dict_pkl([("t", tensor_ops("FloatStorage", "0", 2 ** 62, 0, (4,), (1,)))])),
                              ("archive/data/0", f32x4)])
write_zip("compressed_storage.pt", [("archive/data.pkl", state_dict_pkl(one)), ("archive/data/0", f32x4)],
          compress=("archive/data/0",))
write_zip("bad_storage_key.pt", [("archive/data.pkl", state_dict_pkl([("t", tensor_ops("FloatStorage", "../x", 4, 0, (4,), (1,)))])),
                                 ("archive/data/0", f32x4)])
write_zip("bomb_marks.pt", [("archive/data.pkl", b"\x80\x02" + b"(" * 1000000 + b".")], compress=("archive/data.pkl",))
write_zip("bomb_lists.pt", [("archive/data.pkl", b"\x80\x02" + b"]" * 1000000 + b"a" * 999999 + b".")],
          compress=("archive/data.pkl",))
write_zip("not_a_dict.pt", [("archive/data.pkl", b"\x80\x02]q\x00.")])
write_zip("unsupported_opcode.pt", [("archive/data.pkl", b"\x80\x02S'x'\n.")])

# Layer-level corruption: a real torch.save of one layer with one array broken.
def layer_file(name, mutate):
    rng = np.random.default_rng(11)
    buf, _ = quant_layer(rng, 16, 32, 3, outlier_frac=0.1, balanced=True, top_x=1)
    sd = collections.OrderedDict(("l." + k, v) for k, v in buf.items())
    sd["sparse_threshold.l"] = int(buf["vals"].shape[0])
    mutate(sd)
    torch.save(sd, os.path.join(BAD, name))


def set_(k, v):
    def f(sd):
        sd[k] = v
    return f


layer_file("layer_ok.pt", lambda sd: None)
layer_file("qweight_float.pt", lambda sd: sd.__setitem__("l.qweight", sd["l.qweight"].float()))
layer_file("bad_startrows.pt", lambda sd: sd["l.startrows"].__setitem__(0, 3))
layer_file("bad_full_row_index.pt", lambda sd: sd["l.full_row_indices"].__setitem__(0, 16))
layer_file("bad_threshold.pt", set_("sparse_threshold.l", 999))
layer_file("bad_csr.pt", lambda sd: sd["l.cols"].__setitem__(0, 32))
layer_file("lut_without_qweight.pt", lambda sd: sd.__delitem__("l.qweight"))
print("fixtures written to", OUT)
