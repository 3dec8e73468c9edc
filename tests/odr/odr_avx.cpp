// tests/odr/odr_avx.cpp — the ODR test's "engine file built with -m flags":
// compiled with -mavx2 -mfma (or -march=x86-64-v4, -march=native), it
// instantiates the same sqllm templates as odr_portable.cpp. Only called when
// the CPU runs what it was compiled for.
#include "odr_case.hpp"

odr_result odr_run_avx() { return odr_case(); }
