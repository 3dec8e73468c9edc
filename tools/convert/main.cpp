// sqllm-convert: a SqueezeLLM reference checkpoint (`torch.save` .pt of a
// model with QuantLinearLUT layers) to a sqllm safetensors model directory,
// without PyTorch and without running any of the file's code; or a sqllm
// safetensors checkpoint from one code layout to the other.
//
//   sqllm-convert MODEL.pt -o OUT_DIR [--quant-config FILE] [--config-dir DIR] [--quiet]
//   sqllm-convert IN.safetensors -o OUT.safetensors --layout striped|reference [--threads N] [--quiet]
//
// .pt mode: writes OUT_DIR/model.safetensors: every quantized layer under the
// reference's names via io::write_quantized (hybrid full_rows folded into
// the sparse part, io/torch_reference.hpp; balanced `startrows` checked and
// dropped), every other tensor with its own dtype and bytes, the metadata
// sqllm-quantize writes plus "sparse_threshold.<layer>"; OUT_DIR/quant_config.json
// (io/quant_config.hpp); and copies of config.json, generation_config.json
// and the tokenizer files found beside MODEL.pt (or in --config-dir). The
// input's quant_config.json (beside it, or --quant-config) must agree with
// every layer's LUT width. All outputs are written as temporaries and
// renamed only when all are complete, the model last (docs/CLI.md).
//
// .safetensors mode: rewrites every quantized layer in the chosen layout
// (io::checkpoint_layout: "striped" loads in place with io::view_quantized,
// "reference" is what the reference's tools read), each layer's LUT in its
// own dtype (a BF16 LUT becomes F32 in the reference layout, exactly), and
// copies every other tensor and the metadata ("sqllm.layout" set). Layers
// are loaded on --threads threads. The striped output starts every tensor
// at a multiple of 64 bytes (docs/DESIGN.md §3.1).
#include <CLI/CLI.hpp>
#include <sqllm/core/thread_pool.hpp>
#include <sqllm/io/quant_config.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/io/torch_reference.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../quantize/file_safety.hpp"
#include "../quantize/model_output.hpp"

namespace {

namespace sio = sqllm::io;

struct settings {
    std::string input, output_dir, quant_config, config_dir;
    std::string layout;  // .safetensors mode: "striped" or "reference"
    std::size_t threads = 0;
    bool quiet = false;
};

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string read_file(const std::string& path, std::size_t limit) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw sqllm::error(sqllm::errc::io_error, path + ": cannot open");
    std::string s;
    char buf[65536];
    while (f.read(buf, sizeof buf) || f.gcount() > 0) {
        s.append(buf, static_cast<std::size_t>(f.gcount()));
        if (s.size() > limit)
            throw sqllm::error(sqllm::errc::invalid_argument, path + ": larger than " + std::to_string(limit) + " bytes");
    }
    if (f.bad()) throw sqllm::error(sqllm::errc::io_error, path + ": read error");
    return s;
}

using sparse_type = sqllm::csr<float, std::int32_t>;

template <int Bits>
std::size_t convert_layer(const sio::torch_checkpoint& in, const sio::torch_quantized_layer& L,
                          sio::safetensors_writer& out) {
    const auto q = sio::load_torch_quantized<Bits, float, sparse_type, sqllm::reference_layout<Bits>>(in, L);
    sio::write_quantized(out, L.name, q.view(), L.lut_type);
    return q.view().nonzeros();
}

std::size_t dispatch(const sio::torch_checkpoint& in, const sio::torch_quantized_layer& L, sio::safetensors_writer& out) {
    switch (L.bits) {
        case 1: return convert_layer<1>(in, L, out);
        case 2: return convert_layer<2>(in, L, out);
        case 3: return convert_layer<3>(in, L, out);
        case 4: return convert_layer<4>(in, L, out);
        case 5: return convert_layer<5>(in, L, out);
        case 6: return convert_layer<6>(in, L, out);
        case 7: return convert_layer<7>(in, L, out);
        case 8: return convert_layer<8>(in, L, out);
        default: throw sqllm::error(sqllm::errc::corrupt_data, in.path() + ": layer \"" + L.name + "\" has no valid width");
    }
}

int run(const settings& s) {
    const std::string model_dir = sio::directory_of(s.input);
    const std::string config_dir = s.config_dir.empty() ? model_dir : s.config_dir;
    const std::string out_model = s.output_dir + "/model.safetensors";
    const std::string out_config = s.output_dir + "/quant_config.json";
    sqllm_tool::require_distinct("the output", out_model, "input", s.input);

    const sio::torch_checkpoint in(s.input);
    const auto layers = sio::find_torch_quantized_layers(in);
    if (layers.empty())
        throw sqllm::error(sqllm::errc::invalid_argument,
                           s.input + ": no quantized layer (<name>.qweight beside <name>.lookup_table)");

    // The reference's {"wbits": N} must agree with every layer's LUT width.
    const std::string qc_in = s.quant_config.empty() ? model_dir + "/quant_config.json" : s.quant_config;
    sio::quant_config cfg;
    if (exists(qc_in)) {
        const sio::quant_config given = sio::quant_config::parse(read_file(qc_in, 64u << 20), qc_in);
        for (const auto& L : layers)
            if (L.bits != given.wbits)
                throw sqllm::error(sqllm::errc::corrupt_data,
                                   qc_in + " says wbits " + std::to_string(given.wbits) + " but layer \"" +
                                       sio::printable(L.name) + "\" of " + s.input + " has a " +
                                       std::to_string(L.bits) + "-bit lookup_table (2^" + std::to_string(L.bits) +
                                       " entries per row)");
        cfg.extra = given.extra;
    } else if (!s.quant_config.empty()) {
        throw sqllm::error(sqllm::errc::io_error, qc_in + ": no such file");
    }

    // Only now, with the input read and checked: a failed run leaves no new directory behind.
    if (::mkdir(s.output_dir.c_str(), 0777) != 0 && errno != EEXIST)
        throw sqllm::error(sqllm::errc::io_error, s.output_dir + ": cannot create the output directory (" +
                                                      std::strerror(errno) + ")");
    for (const std::string& target : {out_model, out_config})
        for (const std::string& f : sio::temporary_output::remove_stale(target))
            if (!s.quiet) std::fprintf(stderr, "sqllm-convert: removed %s, left by a run that no longer exists\n", f.c_str());
    sqllm_tool::cleanup_list cleanup;
    std::optional<sio::safetensors_writer> out_file;
    std::optional<sio::temporary_output> config_out;
    std::vector<std::unique_ptr<sio::temporary_output>> copies;
    std::vector<std::string> copy_sources;
    {
        const sqllm_tool::signals_blocked hold;
        out_file.emplace(out_model);
        cleanup.add(out_file->spool_file());
        cleanup.add(out_file->output_file());
        config_out.emplace(out_config);
        cleanup.add(*config_out);
        for (const std::string& name : sqllm_tool::carried_files()) {  // the files sqllm-quantize carries too
            const std::string src = config_dir + "/" + name;
            if (!exists(src)) continue;
            const std::string dst = s.output_dir + "/" + name;
            sqllm_tool::require_distinct("the output", dst, "input", src);
            copies.push_back(std::make_unique<sio::temporary_output>(dst));
            cleanup.add(*copies.back());
            copy_sources.push_back(src);
        }
    }
    sio::safetensors_writer& out = *out_file;

    namespace keys = sio::checkpoint_keys;
    std::size_t total_nnz = 0;
    for (const auto& L : layers) {
        sio::quantized_layer_config lc;
        lc.name = L.name;
        lc.bits = L.bits;
        lc.rows = L.rows;
        lc.cols = L.cols;
        lc.lut_type = L.lut_type;
        lc.sparsity = L.has_sparse ? "reference" : "none";
        cfg.layers.push_back(lc);
    }
    cfg.wbits = cfg.majority_bits();
    cfg.producer = std::string("sqllm-convert ") + SQLLM_VERSION_STRING;
    cfg.method = "reference";
    cfg.sparsity = "reference";
    cfg.sensitivity = "none";
    out.set_metadata(keys::format, "squeezellm");
    out.set_metadata(keys::version, cfg.producer);
    out.set_metadata(keys::bits, std::to_string(cfg.wbits));
    out.set_metadata(keys::method, cfg.method);
    out.set_metadata(keys::sparsity, cfg.sparsity);
    out.set_metadata(keys::sensitivity, "none");
    for (const auto& kv : in.integers())
        out.set_metadata(kv.first, std::to_string(kv.second));

    std::size_t copied = 0, index = 0;
    for (const auto& t : in.tensors()) {
        if (sqllm_tool::interrupted) throw sqllm::error(sqllm::errc::io_error, "interrupted; no output written");
        if (sio::is_torch_quantized_array(layers, t.name)) {
            const std::string q = ".qweight";  // a layer is written once, at its qweight
            if (t.name.size() < q.size() || t.name.compare(t.name.size() - q.size(), q.size(), q) != 0) continue;
            while (layers[index].name + ".qweight" != t.name)
                ++index;
            const std::size_t nnz = dispatch(in, layers[index], out);
            cfg.layers[index].nnz = nnz;
            total_nnz += nnz;
            continue;
        }
        const auto bytes = in.read_bytes(t);
        out.add(t.name, t.type, t.shape, bytes.data(), bytes.size());
        ++copied;
    }
    out.prepare();
    const std::string text = cfg.dump();
    config_out->write(text.data(), text.size());
    config_out->seal();
    for (std::size_t i = 0; i < copies.size(); ++i) {
        const std::string data = read_file(copy_sources[i], std::size_t(1) << 30);
        copies[i]->write(data.data(), data.size());
        copies[i]->seal();
    }
    if (sqllm_tool::interrupted) throw sqllm::error(sqllm::errc::io_error, "interrupted; no output written");
    for (auto& c : copies)
        c->commit();
    config_out->commit();
    out.commit();
    if (!s.quiet)
        std::printf("converted %zu quantized layers (%zu sparse values) and %zu other tensors of %s into %s "
                    "(+ quant_config.json, %zu config files)\n",
                    layers.size(), total_nnz, copied, s.input.c_str(), s.output_dir.c_str(), copies.size());
    return 0;
}

// --- .safetensors → .safetensors: one layout to the other ------------------------------

template <int Bits, class Lut>
void relayout_layer(const sio::safetensors_file& in, const sio::quantized_layer_info& L, sio::safetensors_writer& out,
                    sio::checkpoint_layout to, const sqllm::thread_pool& pool) {
    // Loaded into the kernels' layout (a reference layer repacked on the pool), then written in `to`.
    const auto m = sio::load_quantized<Bits, Lut, sparse_type, sqllm::striped_layout<Bits>>(in, L, pool);
    const sio::dtype lut_type = to == sio::checkpoint_layout::reference && L.lut_type == sio::dtype::bf16
                                    ? sio::dtype::f32  // the reference layout has no BF16 LUT; F32 is exact
                                    : L.lut_type;
    sio::write_quantized(out, L.name, m.view(), lut_type, to);
}

template <int Bits>
void relayout_bits(const sio::safetensors_file& in, const sio::quantized_layer_info& L, sio::safetensors_writer& out,
                   sio::checkpoint_layout to, const sqllm::thread_pool& pool) {
    switch (L.lut_type) {
        case sio::dtype::f16: return relayout_layer<Bits, sqllm::half>(in, L, out, to, pool);
        case sio::dtype::bf16: return relayout_layer<Bits, sqllm::bfloat16>(in, L, out, to, pool);
        default: return relayout_layer<Bits, float>(in, L, out, to, pool);
    }
}

void relayout(const sio::safetensors_file& in, const sio::quantized_layer_info& L, sio::safetensors_writer& out,
              sio::checkpoint_layout to, const sqllm::thread_pool& pool) {
    switch (L.bits) {
        case 1: return relayout_bits<1>(in, L, out, to, pool);
        case 2: return relayout_bits<2>(in, L, out, to, pool);
        case 3: return relayout_bits<3>(in, L, out, to, pool);
        case 4: return relayout_bits<4>(in, L, out, to, pool);
        case 5: return relayout_bits<5>(in, L, out, to, pool);
        case 6: return relayout_bits<6>(in, L, out, to, pool);
        case 7: return relayout_bits<7>(in, L, out, to, pool);
        case 8: return relayout_bits<8>(in, L, out, to, pool);
        default: throw sqllm::error(sqllm::errc::corrupt_data, in.path() + ": layer \"" + L.name + "\" has no valid width");
    }
}

int run_safetensors(const settings& s) {
    sio::checkpoint_layout to;
    if (s.layout == "striped") to = sio::checkpoint_layout::striped;
    else if (s.layout == "reference") to = sio::checkpoint_layout::reference;
    else
        throw sqllm::error(sqllm::errc::invalid_argument,
                           "converting " + s.input + " needs --layout striped or --layout reference");
    sqllm_tool::require_distinct("the output", s.output_dir, "input", s.input);
    const sio::safetensors_file in(s.input);
    const auto layers = sio::find_quantized_layers(in);
    if (layers.empty())
        throw sqllm::error(sqllm::errc::invalid_argument,
                           s.input + ": no quantized layer (<name>.qweight or <name>.striped_codes beside <name>.lookup_table)");
    for (const std::string& f : sio::temporary_output::remove_stale(s.output_dir))
        if (!s.quiet) std::fprintf(stderr, "sqllm-convert: removed %s, left by a run that no longer exists\n", f.c_str());
    const sqllm::thread_pool pool(s.threads ? s.threads : std::max(1u, std::thread::hardware_concurrency()));
    sqllm_tool::cleanup_list cleanup;
    std::optional<sio::safetensors_writer> out_file;
    {
        const sqllm_tool::signals_blocked hold;
        out_file.emplace(s.output_dir);
        cleanup.add(out_file->spool_file());
        cleanup.add(out_file->output_file());
    }
    sio::safetensors_writer& out = *out_file;
    for (const auto& kv : in.metadata())  // shapes and the layout are written anew with the layers
        if (kv.first != sio::checkpoint_keys::layout && kv.first.rfind(sio::checkpoint_keys::shape_prefix, 0) != 0)
            out.set_metadata(kv.first, kv.second);
    // The layers first (each array 64-byte aligned in the striped layout), then the rest.
    for (const auto& L : layers) {
        if (sqllm_tool::interrupted) throw sqllm::error(sqllm::errc::io_error, "interrupted; no output written");
        relayout(in, L, out, to, pool);
    }
    if (to == sio::checkpoint_layout::striped) out.set_alignment(sio::checkpoint_alignment);
    std::size_t copied = 0;
    for (const auto& t : in.tensors()) {
        if (sio::is_padding_tensor(t.name) || sio::is_quantized_array(layers, t.name)) continue;
        const auto bytes = in.bytes(t);
        out.add(t.name, t.type, t.shape, bytes.data(), bytes.size());
        in.release(t);
        ++copied;
    }
    if (sqllm_tool::interrupted) throw sqllm::error(sqllm::errc::io_error, "interrupted; no output written");
    out.finish();
    if (!s.quiet)
        std::printf("converted %zu quantized layers to the %s layout and copied %zu other tensors of %s into %s\n",
                    layers.size(), sio::to_string(to), copied, s.input.c_str(), s.output_dir.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    settings s;
    CLI::App app{"sqllm-convert: a SqueezeLLM reference .pt checkpoint to a sqllm safetensors model directory "
                 "(no PyTorch; the pickle is read with an allow-list, nothing in it runs)."};
    app.add_option("model", s.input,
                   "the reference checkpoint (torch.save zip, .pt), or a sqllm .safetensors checkpoint to re-layout")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("-o,--output", s.output_dir,
                   "output directory (created if missing); for a .safetensors input, the output file")
        ->required();
    app.add_option("--layout", s.layout,
                   ".safetensors input: the output's code layout, striped (the CPU kernels', loads in place) or "
                   "reference")
        ->check(CLI::IsMember({"striped", "reference"}));
    app.add_option("--threads", s.threads, ".safetensors input: threads that repack layers (default: all cores)")
        ->check(CLI::Range(1, 4096));
    app.add_option("--quant-config", s.quant_config, "the reference's quant_config.json (default: beside the model)");
    app.add_option("--config-dir", s.config_dir,
                   "where config.json, generation_config.json and tokenizer files are (default: beside the model)")
        ->check(CLI::ExistingDirectory);
    app.add_flag("-q,--quiet", s.quiet, "no summary");
    app.set_version_flag("--version", std::string("sqllm-convert ") + SQLLM_VERSION_STRING);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    sqllm_tool::install_signal_handlers();
    try {
        const bool safetensors = s.input.size() >= 12 && s.input.compare(s.input.size() - 12, 12, ".safetensors") == 0;
        if (!safetensors && !s.layout.empty())
            throw sqllm::error(sqllm::errc::invalid_argument, "--layout applies to a .safetensors input only");
        return safetensors ? run_safetensors(s) : run(s);
    } catch (const sqllm::error& e) {
        std::fprintf(stderr, "sqllm-convert: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "sqllm-convert: error: %s\n", e.what());
        return 1;
    }
}
