// tests/odr/odr_portable.cpp — the ODR test's portable unit and main,
// compiled without -m flags (the x86-64 baseline).
//
// It quantizes and multiplies with its own copy of sqllm's templates, then
// calls the unit compiled with -mavx2 -mfma (odr_avx.cpp) only if the CPU
// runs it. Run on a CPU without AVX (qemu-x86_64 -cpu Nehalem), it must exit
// 0 whichever object the linker saw first: were a sqllm inline function
// shared between the units, the linker would keep one copy, and in one of
// the two link orders the portable path would run the AVX copy (SIGILL).
// When both units run, their quantized bytes must be equal (quantize() is
// bit-identical whatever the flags).
//
// Usage: odr_test avx2|avx512   (what odr_avx.cpp was compiled for)
#include <cstring>

#include "odr_case.hpp"

odr_result odr_run_portable() { return odr_case(); }

int main(int argc, char** argv) {
    const char* level = argc > 1 ? argv[1] : "avx2";
    const odr_result p = odr_run_portable();
    std::printf("portable unit: abi %s, kernels on %s, quantized hash %016llx, %d gemv/gemm failures\n", p.abi,
                p.target, static_cast<unsigned long long>(p.hash), p.failures);
    int status = p.failures ? 1 : 0;

    __builtin_cpu_init();
    bool runs_avx = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (std::strcmp(level, "avx512") == 0)  // x86-64-v4 or native on an AVX-512 machine
        runs_avx = runs_avx && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512cd");
    if (!runs_avx) {
        std::printf("AVX unit (%s) not called: this CPU cannot run it\n", level);
        return status;
    }
    const odr_result a = odr_run_avx();
    std::printf("AVX unit:      abi %s, kernels on %s, quantized hash %016llx, %d gemv/gemm failures\n", a.abi,
                a.target, static_cast<unsigned long long>(a.hash), a.failures);
    if (a.failures) status = 1;
    if (a.hash != p.hash) {
        std::printf("FAIL: the two units quantized to different bytes\n");
        status = 1;
    }
    if (std::strcmp(a.abi, p.abi) == 0) {
        std::printf("FAIL: both units use the ABI namespace %s\n", p.abi);
        status = 1;
    }
    return status;
}
