// Writes stories260K.imatrix.gguf, the test fixture of tests/test_imatrix.cpp:
// a GGUF importance matrix of data/stories260K as llama-imatrix would write
// it (llama.cpp tensor names, in_sum2 = Σ x² per input column, counts = the
// tokens seen), from the llama2c example's forward pass over calib.u16
// (llama2c::activation_second_moments: every window of at most 257 tokens).
//
//   g++ -std=c++17 -O2 -Iinclude -Iexamples/llama2c
//       tests/data/imatrix/make_stories260K_imatrix.cpp -o /tmp/make_imatrix
//   /tmp/make_imatrix data/stories260K tests/data/imatrix/stories260K.imatrix.gguf
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <sqllm/io/imatrix.hpp>

#include "calibrate.hpp"
#include "checkpoint.hpp"
#include "perplexity.hpp"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s <data/stories260K> <out.imatrix.gguf>\n", argv[0]);
        return 2;
    }
    try {
        const std::string dir = argv[1];
        const llama2c::model m = llama2c::load_model(dir + "/stories260K.bin");
        const std::vector<int> tokens = llama2c::read_tokens_u16(dir + "/calib.u16");
        const auto sums = llama2c::activation_second_moments(m, tokens);
        const auto windows = llama2c::story_windows(tokens, 257);
        std::size_t seen = 0;
        for (const auto& w : windows)
            seen += w.size();
        std::vector<sqllm::io::imatrix_data> entries;
        for (const auto& kv : sums) {
            sqllm::io::imatrix_data e;
            e.name = sqllm::io::gguf_weight_name(kv.first);
            if (e.name.empty()) throw std::runtime_error("no llama.cpp name for " + kv.first);
            e.cols = kv.second.size();
            for (const double s : kv.second)
                e.in_sum2.push_back(static_cast<float>(s));
            e.counts = {static_cast<float>(seen)};
            entries.push_back(std::move(e));
        }
        sqllm::io::imatrix_info info;
        info.datasets = {"calib.u16"};
        info.chunk_count = static_cast<std::uint32_t>(windows.size());
        info.chunk_size = 257;
        sqllm::io::write_imatrix_gguf(argv[2], entries, info);
        std::printf("wrote %zu entries (%zu tokens, %zu windows) to %s\n", entries.size(), seen, windows.size(), argv[2]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
