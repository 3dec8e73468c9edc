// make_safetensors: writes a synthetic safetensors file for the tool tests.
//
//   make_safetensors OUT NAME:DTYPE:SHAPE[:KIND] ...
//
// DTYPE is F32, F16, BF16 or I32; SHAPE is RxC or N; KIND is "weight"
// (LLM-like Laplacian values, the default), "sensitivity" (positive,
// heavy-tailed), or either of those followed by "+nan" (one NaN in the middle). One tensor is generated at a time, so writing a large file
// takes memory for one tensor only.
#include <sqllm/io/safetensors.hpp>
#include <sqllm/io/safetensors_writer.hpp>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (;;) {
        const std::size_t next = s.find(sep, pos);
        out.push_back(s.substr(pos, next - pos));
        if (next == std::string::npos) return out;
        pos = next + 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: make_safetensors OUT NAME:DTYPE:SHAPE[:KIND] ...\n");
        return 2;
    }
    try {
        sqllm::io::safetensors_writer out(argv[1]);
        out.set_metadata("generator", "make_safetensors");
        std::mt19937_64 rng(1234);
        for (int a = 2; a < argc; ++a) {
            const auto f = split(argv[a], ':');
            if (f.size() < 3) throw std::runtime_error(std::string("bad tensor spec ") + argv[a]);
            sqllm::io::dtype type{};
            if (!sqllm::io::parse_dtype(f[1], type)) throw std::runtime_error("bad dtype " + f[1]);
            std::vector<std::size_t> shape;
            for (const auto& d : split(f[2], 'x'))
                shape.push_back(std::stoul(d));
            const std::string kind = f.size() > 3 ? f[3] : "weight";
            const bool sensitivity = kind.compare(0, 11, "sensitivity") == 0;
            std::size_t n = 1;
            for (auto d : shape)
                n *= d;
            std::vector<float> v(n);
            std::exponential_distribution<float> e(30.0f);
            std::lognormal_distribution<float> ln(-6.0f, 2.0f);
            std::bernoulli_distribution sign(0.5);
            for (auto& x : v)
                x = sensitivity ? ln(rng) : (sign(rng) ? -1.0f : 1.0f) * e(rng);
            if (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "+nan") == 0)
                v[n / 2] = std::numeric_limits<float>::quiet_NaN();
            switch (type) {
                case sqllm::io::dtype::f32:
                    out.add<float>(f[0], shape, v);
                    break;
                case sqllm::io::dtype::f16: {
                    std::vector<sqllm::half> h(v.begin(), v.end());
                    out.add<sqllm::half>(f[0], shape, h);
                    break;
                }
                case sqllm::io::dtype::bf16: {
                    std::vector<sqllm::bfloat16> h(v.begin(), v.end());
                    out.add<sqllm::bfloat16>(f[0], shape, h);
                    break;
                }
                case sqllm::io::dtype::i32: {
                    std::vector<std::int32_t> h(n);
                    for (std::size_t i = 0; i < n; ++i)
                        h[i] = static_cast<std::int32_t>(i);
                    out.add<std::int32_t>(f[0], shape, h);
                    break;
                }
                default:
                    throw std::runtime_error("unsupported dtype " + f[1]);
            }
        }
        out.finish();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_safetensors: %s\n", e.what());
        return 1;
    }
    return 0;
}
