// bench/interleaved/main.cpp — two builds of sqllm's kernels in one process,
// their calls interleaved pair by pair (bench/interleaved.sh builds it).
//
// Timing two benchmark binaries one after the other mixes the builds'
// difference with the machine's drift (on a shared VM, ±15 % between runs
// minutes apart). Here each sample is one call of build A and one of build B
// back to back (alternating which goes first), so drift cancels in the ratio
// B / A, and the median over many pairs is the figure. Matrices are
// reallocated every round, alternating which side allocates first, because a
// cold multiply's speed depends on where the rotation of copies lands in
// memory (a 4-bit row pair 4 KiB apart: we saw 0.7× and 1.35× for the same
// code, depending on allocation order).
//
//   interleaved [cold|warm] [rounds]
// cold: 11008 × 4096, 2 threads, weights rotated over >= 1 GiB (bench_kernels'
// target shape); warm: 1024 × 4096 (cache-resident), 1 thread.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "side.hpp"

namespace {

double now_us() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

struct samples {
    std::vector<double> a, b, ratio;  ///< µs per call of A and B, and B / A per pair
};

/// n pairs of calls fa(i), fb(i), alternating which runs first.
template <class FA, class FB>
void pairs(FA&& fa, FB&& fb, int n, samples& s) {
    for (int i = 0; i < n; ++i) {
        double ta, tb;
        if (i % 2) {
            const double t0 = now_us();
            fa(i);
            const double t1 = now_us();
            fb(i);
            ta = t1 - t0, tb = now_us() - t1;
        } else {
            const double t0 = now_us();
            fb(i);
            const double t1 = now_us();
            fa(i);
            tb = t1 - t0, ta = now_us() - t1;
        }
        s.a.push_back(ta);
        s.b.push_back(tb);
        s.ratio.push_back(tb / ta);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const bool cold = !(argc > 1 && std::string(argv[1]) == "warm");
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 4;
    const std::size_t rows = cold ? 11008 : 1024, cols = 4096;
    const int threads = cold ? 2 : 1, per_round = cold ? 15 : 41;
    const std::size_t rotation = cold ? std::size_t{1} << 30 : 0;
    const side_api A = side_a(), B = side_b();

    std::mt19937 rng(2);
    std::normal_distribution<float> d;
    const std::size_t fp32_bytes = rows * cols * sizeof(float);
    const std::size_t fp32_copies = rotation ? rotation / fp32_bytes + 1 : 1;
    std::vector<std::vector<float>> W(fp32_copies, std::vector<float>(rows * cols));
    for (auto& w : W)
        for (auto& v : w) v = 0.02f * d(rng);

    std::printf("%s: %zux%zu, %d thread(s), %d rounds × %d pairs; A on %s, B on %s; ratio = B time / A time "
                "(median of pairs)\n\n",
                cold ? "cold" : "warm", rows, cols, threads, rounds, per_round, A.target, B.target);
    std::printf("| kernel | batch | A µs | B µs | B / A | change of B's ratio to its fp32 yardstick |\n");
    std::printf("|---|---|---|---|---|---|\n");
    struct variant {
        const char* name;
        int bits, lut;
        bool sparse;
    };
    const variant variants[] = {{"2bit/fp32/dense", 2, 0, false}, {"2bit/fp32/csr", 2, 0, true},
                                {"3bit/fp32/dense", 3, 0, false}, {"3bit/fp16/dense", 3, 1, false},
                                {"4bit/fp32/dense", 4, 0, false}, {"4bit/fp16/dense", 4, 1, false},
                                {"3bit/fp32/csr", 3, 0, true},    {"3bit/fp16/csr", 3, 1, true},
                                {"4bit/fp32/csr", 4, 0, true},    {"4bit/fp16/csr", 4, 1, true},
                                {"8bit/fp32/dense", 8, 0, false}};
    // SQLLM_INTERLEAVED_ONLY=<substring> keeps the variants whose name has it;
    // SQLLM_INTERLEAVED_BATCHES=1,8,32 (default 1,8).
    const char* only = std::getenv("SQLLM_INTERLEAVED_ONLY");
    std::vector<std::size_t> batches;
    {
        const char* b = std::getenv("SQLLM_INTERLEAVED_BATCHES");
        std::string list = b && *b ? b : "1,8";
        for (std::size_t p = 0; p <= list.size();) {
            const std::size_t q = std::min(list.find(',', p), list.size());
            batches.push_back(std::stoul(list.substr(p, q - p)));
            p = q + 1;
        }
    }
    const std::size_t max_batch = *std::max_element(batches.begin(), batches.end());
    std::vector<float> X(max_batch * cols), Y(max_batch * rows);
    for (auto& v : X) v = d(rng);
    for (const std::size_t batch : batches) {
        samples f;
        std::size_t i = 0;
        for (int r = 0; r < rounds; ++r)
            pairs([&](int) { A.fp32(W[i++ % W.size()].data(), rows, cols, X.data(), Y.data(), batch, threads); },
                  [&](int) { B.fp32(W[i++ % W.size()].data(), rows, cols, X.data(), Y.data(), batch, threads); },
                  batch == 1 ? per_round : per_round / 3, f);
        const double fp32_ratio = median(f.ratio);
        std::printf("| fp32 yardstick | %zu | %.1f | %.1f | %.3f | |\n", batch, median(f.a), median(f.b), fp32_ratio);
        for (const variant& v : variants) {
            if (only && !std::strstr(v.name, only)) continue;
            samples s;
            for (int r = 0; r < rounds; ++r) {
                const std::size_t bytes = rows * cols * static_cast<std::size_t>(v.bits) / 8;
                const std::size_t copies = rotation ? rotation / bytes + 1 : 1;
                void* ma = nullptr;
                void* mb = nullptr;
                if (r % 2) {
                    ma = A.make(v.bits, v.lut, v.sparse, rows, cols, copies);
                    mb = B.make(v.bits, v.lut, v.sparse, rows, cols, copies);
                } else {
                    mb = B.make(v.bits, v.lut, v.sparse, rows, cols, copies);
                    ma = A.make(v.bits, v.lut, v.sparse, rows, cols, copies);
                }
                std::size_t k = 0;
                pairs([&](int) { A.multiply(ma, k++, X.data(), Y.data(), batch, threads); },
                      [&](int) { B.multiply(mb, k++, X.data(), Y.data(), batch, threads); },
                      batch == 1 ? per_round : per_round / 3, s);
                A.destroy(ma);
                B.destroy(mb);
            }
            const double ratio = median(s.ratio);
            // B's speed-up over its yardstick divided by A's, minus one.
            std::printf("| %s | %zu | %.1f | %.1f | %.3f | %+.1f %% |\n", v.name, batch, median(s.a), median(s.b),
                        ratio, 100.0 * (fp32_ratio / ratio - 1.0));
        }
    }
    return 0;
}
