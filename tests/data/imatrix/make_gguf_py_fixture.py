# Writes gguf_py_written.gguf, a fixture of tests/test_imatrix.cpp written by
# llama.cpp's own Python GGUF library (pip package "gguf", 0.19.0), so the
# reader is checked against an independent writer:
#   python3 tests/data/imatrix/make_gguf_py_fixture.py tests/data/imatrix/gguf_py_written.gguf
import sys

import gguf
import numpy as np

w = gguf.GGUFWriter(sys.argv[1], arch="x")
w.add_type("imatrix")
w.add_array("imatrix.datasets", ["a.txt", "b.txt"])
w.add_uint32("imatrix.chunk_count", 7)
w.add_uint32("imatrix.chunk_size", 512)
# A 2-D weight: in_sum2 [1, 172] = 1 ... 172, counts [1, 1] = 4.
w.add_tensor("blk.0.ffn_down.weight.in_sum2", np.arange(1, 173, dtype=np.float32).reshape(1, 172))
w.add_tensor("blk.0.ffn_down.weight.counts", np.array([[4.0]], dtype=np.float32))
# A 3-D MoE weight of 3 experts, the last never reached (count 0).
w.add_tensor("blk.0.ffn_up_exps.weight.in_sum2", np.ones((3, 64), dtype=np.float32))
w.add_tensor("blk.0.ffn_up_exps.weight.counts", np.array([[1.0], [2.0], [0.0]], dtype=np.float32))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
