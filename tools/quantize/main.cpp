// sqllm-quantize: quantizes every linear weight of a model (safetensors or
// llama2.c .bin) into a SqueezeLLM-layout safetensors checkpoint.
//
//   sqllm-quantize MODEL -o OUT.safetensors [--sensitivity FILE] [--bits 3]
//                  [--method exact|lloyd|rtn] [--sparsity none|0.45%|sensitive=P,outliers=P|...]
//                  [--lut f32|f16] [--threads N] [--include RE] [--exclude RE] [--report JSON] [--quiet]
//                  [--allow-requantize] [--version]
//
// Memory: one tensor at a time (its float copy, its sensitivity, the
// quantizer's scratch); the output is spooled to disk.
//
// Layouts: layers are written in the reference layout (<name>.qweight), except
// into the output of an input file in the striped layout (sqllm-convert
// --layout striped; quantized with --allow-requantize): that output keeps the
// striped layout, its layers copied through and the new ones written striped,
// every tensor 64-byte aligned. Input padding tensors ("__padding__.<n>") are
// skipped; the writer adds its own where the output needs them.
//
// Files (docs/CLI.md): the model and the --report are written to temporaries
// beside them (`<out>.sqllm-tmp.<pid>.<random>`, created O_EXCL, never
// following a link) and renamed into place only when both are complete, the
// report first and the model last. Before any work the outputs are checked:
// not the input, the sensitivities or each other under another name (device
// and inode), not a directory, in a directory that exists and takes a new
// file. An error, Ctrl-C (once: stop between tensors; twice: at once),
// SIGTERM, SIGHUP, SIGPIPE or `ulimit -f` (SIGXFSZ is ignored: the write
// fails with EFBIG) leaves no temporary and no output; SIGKILL leaves its
// temporaries, which the next run for the same output removes.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sqllm/core/thread_pool.hpp>
#include <sqllm/core/stop_token.hpp>
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/quantize/quantize.hpp>
#include <sqllm/quantize/sensitivity.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "file_safety.hpp"
#include "model_output.hpp"
#include "model_source.hpp"
#include "plan.hpp"
#include "progress.hpp"
#include "sensitivity_source.hpp"
#include "sparsity.hpp"

namespace {

namespace sio = sqllm::io;
using sqllm_tool::progress;

using sqllm_tool::interrupted;  // set by the first SIGINT (file_safety.hpp)

/// Thrown between tensors after the first SIGINT; unwinding discards the output.
struct interrupted_run {};

struct settings {
    std::string input, output, sensitivity, report;
    int bits = 3;
    std::string method = "exact", sparsity = "none", lut = "f32";
    std::string include = ".*";
    std::string exclude;  ///< empty: the default (default_exclude)
    std::vector<std::string> tensor_bits, tensor_sparsity;  ///< REGEX=VALUE, first match wins
    std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
    bool quiet = false;
    bool allow_requantize = false;
    bool dry_run = false;
    bool quantize_embeddings = false, quantize_output = false;
    std::string part;   ///< "K/N": this run writes part K of the model's files
    std::string merge;  ///< --merge DIR
};

// What stays unquantized by default: token (and position) embeddings and the
// output head under llama2.c, Hugging Face and GPT-2 names
// ("tok_embeddings", "model.embed_tokens.weight", "lm_head.weight", "wte"),
// and norms (1-D anyway, but some models store 2-D ones).
constexpr const char* embeddings_re = "(^|\\.)(tok_embeddings|embed_tokens|wte|wpe|word_embeddings)(\\.weight)?$";
constexpr const char* output_re = "(^|\\.)(lm_head|output|embed_out)(\\.weight)?$";
constexpr const char* norms_re = "norm|rms_";

/// The --exclude regex in force: the user's, or the default less what
/// --quantize-embeddings / --quantize-output take out of it.
std::string effective_exclude(const settings& s) {
    if (!s.exclude.empty()) return s.exclude;
    std::string re = norms_re;
    if (!s.quantize_embeddings) re += std::string("|") + embeddings_re;
    if (!s.quantize_output) re += std::string("|") + output_re;
    return re;
}

struct layer_stats {
    std::string name, out_name, sparsity;
    int bits = 0;
    std::size_t rows = 0, cols = 0, bytes = 0, nnz = 0;
    std::size_t input_bytes = 0;  // the tensor as stored in the input (its own dtype)
    double weighted_error = 0;  // Σ s·(w − dense)² over dense positions
    double weighted_norm = 0;   // Σ s·w²: the relative error's denominator
    double seconds = 0;           // the whole tensor: read, convert, quantize, write
    double quantize_seconds = 0;  // sqllm::quantize alone (what bench_quantize times)
    double bits_per_weight() const { return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols); }
    double relative_error() const { return weighted_norm > 0 ? weighted_error / weighted_norm : 0; }
};

using sparse_type = sqllm::csr<float, std::int32_t>;  // the reference's CSR: int32 columns, fp32 residuals

template <int Bits, class Lut>
void quantize_layer(sqllm::matrix_view<const float> W, sqllm::matrix_view<const float> S,
                    const sqllm::quantize_options& opt, const sqllm::thread_pool& exec, sio::safetensors_writer& out,
                    sio::dtype lut_dtype, sio::checkpoint_layout layout, layer_stats& st) {
    sqllm::quantize_report rep;
    const auto t0 = progress::clock::now();
    const auto q = sqllm::quantize<Bits, Lut, sparse_type, sqllm::reference_layout<Bits>>(W, S, opt, exec, &rep);
    st.quantize_seconds = progress::seconds_since(t0);
    const std::size_t before = out.data_bytes();
    sio::write_quantized(out, st.out_name, q.view(), lut_dtype, layout);
    st.bytes = out.data_bytes() - before;
    st.nnz = q.view().nonzeros();
    if (layout == sio::checkpoint_layout::striped) {  // the layer's arrays, not the padding between them
        sio::quantized_layer_info L;
        L.name = st.out_name;
        L.rows = st.rows;
        L.cols = st.cols;
        L.bits = Bits;
        L.lut_type = lut_dtype;
        L.nnz = st.nnz;
        L.has_sparse = out.contains(st.out_name + ".rows");
        L.layout = layout;
        st.bytes = L.stored_bytes();
    }
    st.weighted_error = rep.weighted_error;
}

template <class Lut>
void dispatch_bits(int bits, sqllm::matrix_view<const float> W, sqllm::matrix_view<const float> S,
                   const sqllm::quantize_options& opt, const sqllm::thread_pool& exec, sio::safetensors_writer& out,
                   sio::dtype lut_dtype, sio::checkpoint_layout layout, layer_stats& st) {
    switch (bits) {
        case 1: return quantize_layer<1, Lut>(W, S, opt, exec, out, lut_dtype, layout, st);
        case 2: return quantize_layer<2, Lut>(W, S, opt, exec, out, lut_dtype, layout, st);
        case 3: return quantize_layer<3, Lut>(W, S, opt, exec, out, lut_dtype, layout, st);
        case 4: return quantize_layer<4, Lut>(W, S, opt, exec, out, lut_dtype, layout, st);
        case 5: return quantize_layer<5, Lut>(W, S, opt, exec, out, lut_dtype, layout, st);
        case 6: return quantize_layer<6, Lut>(W, S, opt, exec, out, lut_dtype, layout, st);
        case 7: return quantize_layer<7, Lut>(W, S, opt, exec, out, lut_dtype, layout, st);
        case 8: return quantize_layer<8, Lut>(W, S, opt, exec, out, lut_dtype, layout, st);
        default: throw sqllm::error(sqllm::errc::invalid_argument, "--bits must be 1..8");
    }
}

/// Σ s·w² (the relative error's denominator), over the executor: 64 row
/// blocks summed in order, so the value does not depend on the thread count.
double weighted_norm(sqllm::matrix_view<const float> W, sqllm::matrix_view<const float> S,
                     const sqllm::thread_pool& exec) {
    constexpr std::size_t blocks = 64;
    std::vector<double> part(blocks, 0.0);
    exec.bulk(blocks, [&](std::size_t b) {
        double sum = 0;
        for (std::size_t r = W.rows() * b / blocks; r < W.rows() * (b + 1) / blocks; ++r)
            for (std::size_t c = 0; c < W.cols(); ++c) {
                const double w = W(r, c);
                sum += (S.empty() ? 1.0 : S(r, c)) * w * w;
            }
        part[b] = sum;
    });
    double sum = 0;
    for (double p : part)
        sum += p;
    return sum;
}

std::size_t peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<std::size_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

std::string human_bytes(double b) {
    const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
    return buf;
}

void print_summary(const std::vector<layer_stats>& layers, std::size_t other_bytes, double seconds) {
    std::size_t name_w = 6;
    for (const auto& L : layers)
        name_w = std::max(name_w, L.name.size());
    std::printf("\n%-*s %13s %9s %11s %8s %12s %8s\n", static_cast<int>(name_w), "tensor", "shape", "bits/w",
                "bytes", "sparse", "rel.w.err", "time");
    layer_stats total;
    total.name = "total";
    std::size_t weights = 0, input_bytes = 0;
    for (const auto& L : layers) {
        const std::string shape = std::to_string(L.rows) + "x" + std::to_string(L.cols);
        std::printf("%-*s %13s %9.3f %11zu %8zu %12.4e %7.3fs\n", static_cast<int>(name_w), L.name.c_str(),
                    shape.c_str(), L.bits_per_weight(), L.bytes, L.nnz, L.relative_error(), L.seconds);
        total.bytes += L.bytes;
        total.nnz += L.nnz;
        total.weighted_error += L.weighted_error;
        total.weighted_norm += L.weighted_norm;
        total.seconds += L.seconds;
        total.quantize_seconds += L.quantize_seconds;
        weights += L.rows * L.cols;
        input_bytes += L.input_bytes;
    }
    const double bpw = weights ? 8.0 * static_cast<double>(total.bytes) / static_cast<double>(weights) : 0;
    std::printf("%-*s %13zu %9.3f %11zu %8zu %12.4e %7.3fs\n", static_cast<int>(name_w), "total", weights, bpw,
                total.bytes, total.nnz, total.relative_error(), total.seconds);
    std::printf("\nquantized %zu weights in %zu tensors to %.3f bits/weight (%s, was %s as stored); "
                "%s of other tensors copied; %.2f s; peak memory %s\n",
                weights, layers.size(), bpw, human_bytes(static_cast<double>(total.bytes)).c_str(),
                human_bytes(static_cast<double>(input_bytes)).c_str(),
                human_bytes(static_cast<double>(other_bytes)).c_str(), seconds,
                human_bytes(static_cast<double>(peak_rss_bytes())).c_str());
    // How much of the run was the quantizer itself: the rest is reading,
    // converting and writing, which a faster tool would shrink.
    if (seconds > 0)
        std::printf("sqllm::quantize itself: %.2f s of %.2f s (%.0f %%)\n", total.quantize_seconds, seconds,
                    100.0 * total.quantize_seconds / seconds);
}

std::string report_json(const settings& s, const std::vector<layer_stats>& layers, double seconds) {
    nlohmann::ordered_json j;
    j["input"] = s.input;
    j["output"] = s.output;
    j["bits"] = s.bits;
    j["method"] = s.method;
    j["sparsity"] = s.sparsity;
    j["sensitivity"] = s.sensitivity;
    j["lut"] = s.lut;
    j["seconds"] = seconds;
    j["peak_rss_bytes"] = peak_rss_bytes();
    std::size_t weights = 0, bytes = 0, nnz = 0;
    double quantize_seconds = 0;
    j["tensors"] = nlohmann::json::array();
    for (const auto& L : layers) {
        j["tensors"].push_back({{"name", L.name},
                                {"output", L.out_name},
                                {"bits", L.bits},
                                {"sparsity", L.sparsity},
                                {"rows", L.rows},
                                {"cols", L.cols},
                                {"bytes", L.bytes},
                                {"bits_per_weight", L.bits_per_weight()},
                                {"nnz", L.nnz},
                                {"weighted_error", L.weighted_error},
                                {"relative_weighted_error", L.relative_error()},
                                {"seconds", L.seconds},
                                {"quantize_seconds", L.quantize_seconds}});
        weights += L.rows * L.cols;
        bytes += L.bytes;
        nnz += L.nnz;
        quantize_seconds += L.quantize_seconds;
    }
    j["total"] = {{"weights", weights},
                  {"bytes", bytes},
                  {"nnz", nnz},
                  {"quantize_seconds", quantize_seconds},
                  {"bits_per_weight", weights ? 8.0 * static_cast<double>(bytes) / static_cast<double>(weights) : 0.0}};
    return j.dump(2) + "\n";
}

/// Canonical text of every option that changes the output: the parts of a
/// --part run must agree on it before --merge combines them.
std::string settings_text(const settings& s) {
    nlohmann::ordered_json j;
    j["bits"] = s.bits;
    j["method"] = s.method;
    j["sparsity"] = s.sparsity;
    j["lut"] = s.lut;
    j["include"] = s.include;
    j["exclude"] = effective_exclude(s);
    j["tensor_bits"] = s.tensor_bits;
    j["tensor_sparsity"] = s.tensor_sparsity;
    j["sensitivity"] = s.sensitivity;
    j["allow_requantize"] = s.allow_requantize;
    return j.dump();
}

/// Temporaries that killed runs (SIGKILL, a crash) left for these outputs.
void remove_stale_temporaries(const std::vector<std::string>& targets, bool quiet) {
    for (const std::string& target : targets) {
        if (target.empty()) continue;
        for (const std::string& f : sio::temporary_output::remove_stale(target))
            if (!quiet) std::fprintf(stderr, "sqllm-quantize: removed %s, left by a run that no longer exists\n", f.c_str());
    }
}

bool is_directory_output(const std::string& out) { return !sqllm_tool::ends_with(out, ".safetensors"); }

/// The decisions for every tensor (plan.hpp), checked for name collisions.
std::vector<sqllm_tool::tensor_plan> make_plan(const settings& s, const sqllm_tool::model_source& model,
                                               const std::vector<bool>& quantized, std::size_t& count) {
    std::regex include, exclude;
    try {
        include = std::regex(s.include, std::regex::extended);
        exclude = std::regex(effective_exclude(s), std::regex::extended);
    } catch (const std::regex_error& e) {
        throw sqllm::error(sqllm::errc::invalid_argument,
                           std::string("--include/--exclude: bad regular expression: ") + e.what());
    }
    std::vector<sqllm_tool::tensor_rule> bits_rules, sparsity_rules;
    for (const std::string& r : s.tensor_bits) {
        bits_rules.push_back(sqllm_tool::parse_rule(r, "--tensor-bits"));
        const std::string& v = bits_rules.back().value;
        if (v.size() != 1 || v[0] < '1' || v[0] > '8')
            throw sqllm::error(sqllm::errc::invalid_argument, "--tensor-bits \"" + r + "\": the width must be 1..8");
    }
    for (const std::string& r : s.tensor_sparsity) {
        sparsity_rules.push_back(sqllm_tool::parse_rule(r, "--tensor-sparsity"));
        sqllm_tool::parse_sparsity(sparsity_rules.back().value);  // reject a bad rule before any work
    }
    const auto& tensors = model.tensors();
    std::vector<sqllm_tool::tensor_plan> plan(tensors.size());
    count = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        auto& p = plan[i];
        p.out_name = t.name;
        if (quantized[i] || t.shape.size() != 2 || !t.is_float() || t.shape[0] == 0 || t.shape[1] == 0 ||
            !std::regex_search(t.name, include) || std::regex_search(t.name, exclude))
            continue;
        p.quantize = true;
        const auto* b = sqllm_tool::first_match(bits_rules, t.name);
        p.bits = b ? b->value[0] - '0' : s.bits;
        const auto* sp = sqllm_tool::first_match(sparsity_rules, t.name);
        p.sparsity = sp ? sp->value : s.sparsity;
        p.sparse = sqllm_tool::parse_sparsity(p.sparsity);
        p.out_name = sqllm_tool::module_name(t.name);
        if (p.sparse.sensitive_fraction > 0 && s.sensitivity.empty())
            throw sqllm::error(sqllm::errc::invalid_argument,
                               "the sparsity rule \"" + p.sparsity + "\" for \"" + sio::printable(t.name) +
                                   "\" keeps sensitive weights but no --sensitivity file was given (to keep only the "
                                   "largest weights, give outliers=P, e.g. outliers=0.45%)");
        ++count;
    }
    // Output names must be unique: "x.weight" becomes "x.qweight", ...
    std::map<std::string, std::string> written;  // output name -> the input tensor it comes from
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        std::vector<std::string> names;
        if (plan[i].quantize)
            for (const std::string& suffix : sio::quantized_suffixes())
                names.push_back(plan[i].out_name + suffix);
        else
            names.push_back(tensors[i].name);
        for (const std::string& n : names) {
            const auto ins = written.emplace(n, tensors[i].name);
            if (!ins.second)
                throw sqllm::error(sqllm::errc::invalid_argument,
                                   s.input + ": the output tensor \"" + sio::printable(n) + "\" of \"" +
                                       sio::printable(tensors[i].name) + "\" would collide with \"" +
                                       sio::printable(ins.first->second) + "\"");
        }
    }
    return plan;
}

/// The sensitivity file (safetensors or a llama.cpp importance matrix,
/// sensitivity_source.hpp), checked against the weights to quantize.
std::unique_ptr<sqllm_tool::sensitivity_source> open_sensitivity(const settings& s, const sqllm_tool::model_source& model,
                                                                 const std::vector<sqllm_tool::tensor_plan>& plan) {
    if (s.sensitivity.empty()) return nullptr;
    auto sens = sqllm_tool::open_sensitivity(s.sensitivity);
    sqllm_tool::weight_list selected;
    for (std::size_t i = 0; i < model.tensors().size(); ++i)
        if (plan[i].quantize) selected.emplace_back(model.tensors()[i].name, model.tensors()[i].shape);
    sens->check(selected, s.input);
    return sens;
}

/// The files a finished run renames into place, in this order: the model
/// files first, the files that make the directory a model last.
struct pending_outputs {
    std::vector<std::unique_ptr<sio::safetensors_writer>> shards;
    std::vector<std::unique_ptr<sio::temporary_output>> files;
    void commit() {
        for (auto& w : shards)
            w->commit();
        for (auto& f : files)
            f->commit();
    }
};

/// quant_config.json and, for a sharded model, the index: the files a
/// complete output directory gets last (a run over all shards, or --merge).
void prepare_directory_files(const std::string& dir, const sqllm_tool::run_record& r, pending_outputs& out,
                             sqllm_tool::cleanup_list& cleanup) {
    namespace fs = std::filesystem;
    const sqllm_tool::signals_blocked hold;
    out.files.push_back(sqllm_tool::prepare_text((fs::path(dir) / "quant_config.json").string(),
                                                 sqllm_tool::quant_config_json(r.config)));
    cleanup.add(*out.files.back());
    if (r.sharded) {
        out.files.push_back(
            sqllm_tool::prepare_text((fs::path(dir) / sio::model_files::index).string(), sqllm_tool::index_json(r.shards)));
        cleanup.add(*out.files.back());
    }
}

/// --merge DIR: the records of parts 1..N of one run become the index and
/// quant_config.json a single run would have written; the records go.
int merge(const settings& s) {
    namespace fs = std::filesystem;
    const std::string dir = s.merge;
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw sqllm::error(sqllm::errc::invalid_argument, "--merge " + dir + ": not a directory");
    std::vector<std::string> records;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.rfind(".sqllm-part-", 0) == 0 && sqllm_tool::ends_with(n, ".json") && n.find(".sqllm-tmp.") == std::string::npos)
            records.push_back(e.path().string());
    }
    if (records.empty())
        throw sqllm::error(sqllm::errc::invalid_argument, dir + ": no part records (.sqllm-part-K-of-N.json) to merge");
    std::sort(records.begin(), records.end());
    std::vector<sqllm_tool::run_record> parts;
    for (const std::string& f : records)
        parts.push_back(sqllm_tool::read_part_record(f));
    const std::size_t n = parts[0].parts;
    std::vector<bool> seen(n + 1, false);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto& p = parts[i];
        if (p.parts != n || p.part < 1 || p.part > n)
            throw sqllm::error(sqllm::errc::invalid_argument,
                               records[i] + ": part " + std::to_string(p.part) + " of " + std::to_string(p.parts) +
                                   ", but " + records[0] + " is of " + std::to_string(n));
        if (seen[p.part])
            throw sqllm::error(sqllm::errc::invalid_argument, dir + ": part " + std::to_string(p.part) + " twice");
        seen[p.part] = true;
        if (p.settings != parts[0].settings || p.input_shards != parts[0].input_shards || p.sharded != parts[0].sharded)
            throw sqllm::error(sqllm::errc::invalid_argument,
                               records[i] + " was run with other settings or another input than " + records[0]);
    }
    std::string missing;
    for (std::size_t k = 1; k <= n; ++k)
        if (!seen[k]) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
    if (!missing.empty())
        throw sqllm::error(sqllm::errc::invalid_argument,
                           dir + ": part(s) " + missing + " of " + std::to_string(n) + " have not finished (no record)");
    // Parts in order: their shards then follow the input's order.
    std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.part < b.part; });
    sqllm_tool::run_record all = parts[0];
    all.shards.clear();
    all.config.layers.clear();
    for (const auto& p : parts) {
        all.shards.insert(all.shards.end(), p.shards.begin(), p.shards.end());
        all.config.layers.insert(all.config.layers.end(), p.config.layers.begin(), p.config.layers.end());
    }
    std::vector<std::string> files;
    for (const auto& sh : all.shards) {
        files.push_back(sh.file);
        if (!fs::is_regular_file(fs::path(dir) / sh.file, ec))
            throw sqllm::error(sqllm::errc::invalid_argument, dir + ": " + sh.file + ", written by a part, is missing");
    }
    if (files != all.input_shards)
        throw sqllm::error(sqllm::errc::invalid_argument,
                           dir + ": the parts wrote " + std::to_string(files.size()) + " files, the input has " +
                               std::to_string(all.input_shards.size()));
    remove_stale_temporaries({(fs::path(dir) / "quant_config.json").string(), (fs::path(dir) / sio::model_files::index).string()},
                             s.quiet);
    sqllm_tool::cleanup_list cleanup;
    pending_outputs out;
    prepare_directory_files(dir, all, out, cleanup);
    out.commit();
    for (const std::string& f : records)
        fs::remove(f, ec);
    if (!s.quiet)
        std::printf("merged %zu parts: %zu files, %zu quantized layers, %s%s written\n", n, all.shards.size(),
                    all.config.layers.size(), all.sharded ? "model.safetensors.index.json and " : "",
                    "quant_config.json");
    return 0;
}

int run(const settings& s) {
    namespace fs = std::filesystem;
    if (!s.merge.empty()) return merge(s);
    const auto t0 = progress::clock::now();
    sqllm::quantize_options opt;
    if (s.method == "exact") opt.method = sqllm::lut_method::exact;
    else if (s.method == "lloyd") opt.method = sqllm::lut_method::lloyd;
    else opt.method = sqllm::lut_method::uniform;  // rtn: per-row asymmetric min–max
    const sqllm::sparse_options default_sparse = sqllm_tool::parse_sparsity(s.sparsity);
    const sio::dtype lut_dtype = s.lut == "f16" ? sio::dtype::f16 : sio::dtype::f32;
    if (s.input.empty()) throw sqllm::error(sqllm::errc::invalid_argument, "no input model given");
    if (s.output.empty() && !s.dry_run) throw sqllm::error(sqllm::errc::invalid_argument, "no --output given");

    const auto model = sqllm_tool::open_model(s.input);
    const auto& tensors = model->tensors();

    // An input that is already quantized (a <layer>.qweight beside its
    // .lookup_table): its LUTs are 2-D floats, and quantizing them again wrote
    // an unloadable file. Refused, or with --allow-requantize its layers'
    // arrays are copied through and only its other tensors are quantized.
    const std::vector<bool> quantized = model->quantized_arrays();
    const auto layers = static_cast<std::size_t>(std::count(quantized.begin(), quantized.end(), true));
    if (layers && !s.allow_requantize) {
        std::size_t first = 0;
        while (!quantized[first])
            ++first;
        throw sqllm::error(sqllm::errc::invalid_argument,
                           s.input + " is already quantized (\"" + sio::printable(tensors[first].name) + "\" and " +
                               std::to_string(layers - 1) +
                               " more quantized arrays): refusing to quantize it again (--allow-requantize "
                               "copies its quantized layers through and quantizes its other tensors)");
    }
    if (default_sparse.sensitive_fraction > 0 && s.sensitivity.empty())
        throw sqllm::error(sqllm::errc::invalid_argument,
                           "--sparsity keeps sensitive weights but no --sensitivity file was given (to keep "
                           "only the largest weights, give --sparsity outliers=P, e.g. outliers=0.45%)");
    std::size_t count = 0;
    const std::vector<sqllm_tool::tensor_plan> plan = make_plan(s, *model, quantized, count);
    if (count == 0)
        throw sqllm::error(sqllm::errc::invalid_argument,
                           s.input + ": no tensor to quantize (2-D floating point, matching --include \"" + s.include +
                               "\" and not --exclude \"" + effective_exclude(s) + "\")");

    // Which of the model's files this run writes: all, or part K of N.
    std::size_t part = 1, parts = 1;
    if (!s.part.empty()) sqllm_tool::parse_part(s.part, part, parts);
    const std::vector<bool> mine = sqllm_tool::shards_of_part(model->shard_count(), part, parts);
    const auto sens = open_sensitivity(s, *model, plan);
    if (s.dry_run) {
        sqllm_tool::print_plan(*model, plan, lut_dtype == sio::dtype::f16 ? 2 : 4, mine);
        return 0;
    }

    // The outputs, before any work: same-file checks against every input,
    // what killed runs left, then the temporaries themselves (creating them is
    // the real test that the directories exist and take new files),
    // registered for the signal handlers with those signals held off until they are.
    const bool to_dir = is_directory_output(s.output);
    if (!to_dir && (model->sharded() || parts > 1))
        throw sqllm::error(sqllm::errc::invalid_argument,
                           std::string(model->sharded() ? "a sharded model" : "--part") +
                               " is written to a directory: give -o DIR, not a .safetensors file");
    if (to_dir && sqllm_tool::same_file(sqllm_tool::identify(s.output), sqllm_tool::identify(model->directory())))
        throw sqllm::error(sqllm::errc::invalid_argument,
                           "the output directory " + s.output + " is the input's directory: the model would be overwritten");
    auto out_path = [&](std::size_t shard) {
        return to_dir ? (fs::path(s.output) / model->shard_name(shard)).string() : s.output;
    };
    std::vector<std::string> targets;  // every file this run writes
    for (std::size_t sh = 0; sh < model->shard_count(); ++sh)
        if (mine[sh]) targets.push_back(out_path(sh));
    std::vector<std::pair<std::string, std::string>> carried;  // input file -> output file
    if (to_dir && part == 1)
        for (const std::string& f : sqllm_tool::carried_files()) {
            const fs::path from = fs::path(model->directory()) / f;
            std::error_code ec;
            if (fs::is_regular_file(from, ec)) {
                carried.emplace_back(from.string(), (fs::path(s.output) / f).string());
                targets.push_back(carried.back().second);
            }
        }
    if (to_dir) {
        if (parts == 1) {
            targets.push_back((fs::path(s.output) / "quant_config.json").string());
            if (model->sharded()) targets.push_back((fs::path(s.output) / sio::model_files::index).string());
        } else {
            targets.push_back((fs::path(s.output) / sqllm_tool::part_record_name(part, parts)).string());
        }
    }
    if (!s.report.empty()) targets.push_back(s.report);
    {
        using sqllm_tool::require_distinct;
        std::vector<std::pair<std::string, std::string>> reads{{"--sensitivity file", s.sensitivity}};
        for (std::size_t sh = 0; sh < model->shard_count(); ++sh)
            reads.emplace_back("input", model->format() == "llama2c" ? s.input
                                                                      : model->directory() + "/" + model->shard_name(sh));
        for (const auto& c : carried)
            reads.emplace_back("input", c.first);
        for (std::size_t a = 0; a < targets.size(); ++a) {
            for (const auto& r : reads)
                require_distinct("the output", targets[a], r.first, r.second);
            for (std::size_t b = 0; b < a; ++b)
                require_distinct("the output", targets[a], "output", targets[b]);
        }
    }
    // A directory this run creates is removed again if the run fails (the
    // temporaries in it are gone by then; a directory that existed stays).
    struct created_directory {
        std::string path;
        bool keep = false;
        ~created_directory() {
            std::error_code ec;
            if (!keep && !path.empty()) std::filesystem::remove(path, ec);  // only if empty
        }
    } created;
    if (to_dir) {
        std::error_code ec;
        if (!fs::exists(s.output, ec)) created.path = s.output;
        fs::create_directories(s.output, ec);
        if (!fs::is_directory(s.output, ec))
            throw sqllm::error(sqllm::errc::invalid_argument,
                               s.output + ": cannot create the output directory" + (ec ? " (" + ec.message() + ")" : ""));
    }
    remove_stale_temporaries(targets, s.quiet);
    sqllm_tool::cleanup_list cleanup;  // declared first: unregisters after the files are gone
    pending_outputs pending;
    std::optional<sio::temporary_output> report;
    if (!s.report.empty()) {
        const sqllm_tool::signals_blocked hold;
        report.emplace(s.report);
        cleanup.add(*report);
    }
    {
        const sqllm_tool::signals_blocked hold;
        for (const auto& c : carried) {
            pending.files.push_back(sqllm_tool::prepare_copy(c.first, c.second));
            cleanup.add(*pending.files.back());
        }
    }

    sqllm_tool::run_record record;
    record.settings = settings_text(s);
    record.part = part;
    record.parts = parts;
    record.sharded = model->sharded();
    for (std::size_t sh = 0; sh < model->shard_count(); ++sh)
        record.input_shards.push_back(model->shard_name(sh));
    record.config.wbits = s.bits;
    record.config.producer = std::string("sqllm-quantize ") + SQLLM_VERSION_STRING;
    record.config.method = s.method;
    record.config.sparsity = sqllm_tool::describe_sparsity(default_sparse);
    record.config.sensitivity = sens ? sens->describe() : "none";

    if (std::count(mine.begin(), mine.end(), true) == 0 && !s.quiet)
        std::fprintf(stderr, "sqllm-quantize: part %zu of %zu has none of the model's %zu file(s) to write\n", part,
                     parts, model->shard_count());
    std::size_t total_rows = 0, part_count = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i)
        if (plan[i].quantize && mine[tensors[i].shard]) {
            total_rows += tensors[i].shape[0];
            ++part_count;
        }
    const sqllm::thread_pool exec(s.threads);  // workers kept alive across the many calls of a run
    progress bar(total_rows, part_count, s.quiet);
    std::vector<layer_stats> stats;
    std::size_t other_bytes = 0, index = 0;
    std::vector<float> w, s_data;  // one tensor's weights and sensitivities, reused from tensor to tensor
    namespace keys = sio::checkpoint_keys;
    for (std::size_t sh = 0; sh < model->shard_count(); ++sh) {
        if (!mine[sh]) continue;
        {
            const sqllm_tool::signals_blocked hold;
            pending.shards.push_back(std::make_unique<sio::safetensors_writer>(out_path(sh)));
            cleanup.add(pending.shards.back()->spool_file());
            cleanup.add(pending.shards.back()->output_file());
        }
        sio::safetensors_writer& out = *pending.shards.back();
        // A striped input file stays striped: its layers are copied as they are, so every tensor is
        // 64-byte aligned (the copied arrays included), and new layers are written striped too.
        const sio::checkpoint_layout layout = model->layout(sh);
        if (layout == sio::checkpoint_layout::striped) out.set_alignment(sio::checkpoint_alignment);
        for (const auto& kv : model->metadata(sh))
            out.set_metadata(kv.first, kv.second);
        out.set_metadata(keys::format, "squeezellm");
        out.set_metadata(keys::version, std::string("sqllm-quantize ") + SQLLM_VERSION_STRING);
        out.set_metadata(keys::bits, std::to_string(s.bits));
        out.set_metadata(keys::method, s.method);
        out.set_metadata(keys::sparsity, sqllm_tool::describe_sparsity(default_sparse));
        out.set_metadata(keys::sensitivity, sens ? sens->describe() : "none");
        sqllm_tool::shard_record written;
        written.file = model->shard_name(sh);
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const auto& t = tensors[i];
            if (t.shard != sh) continue;
            if (interrupted) throw interrupted_run{};
            const sqllm_tool::tensor_plan& p = plan[i];
            if (!p.quantize) {  // copied through unchanged
                const auto bytes = model->raw(i);
                out.add(t.name, t.type, t.shape, bytes.data(), bytes.size());
                written.tensors.push_back(t.name);
                other_bytes += bytes.size();
                model->release(i);
                continue;
            }
            layer_stats st;
            st.name = t.name;
            st.out_name = p.out_name;
            st.rows = t.shape[0];
            st.cols = t.shape[1];
            st.bits = p.bits;
            st.sparsity = p.sparsity;
            st.input_bytes = st.rows * st.cols * sio::size_of(t.type);
            bar.begin_tensor(++index, t.name, st.rows, st.cols);
            const auto t1 = progress::clock::now();
            model->to_float(i, w, exec);
            model->release(i);
            sqllm::matrix_view<const float> W(w.data(), st.rows, st.cols), S;
            if (sens) {
                bool per_column = false;
                sens->load(t.name, st.rows, st.cols, per_column, exec, s_data);
                S = per_column ? sqllm::broadcast_rows(s_data, st.rows)
                               : sqllm::matrix_view<const float>(s_data.data(), st.rows, st.cols);
            }
            st.weighted_norm = weighted_norm(W, S, exec);
            sqllm::quantize_options topt = opt;
            topt.sparse = p.sparse;
            // A first SIGINT stops the tensor being quantized at its next block of rows.
            sqllm::stop_source stop;
            topt.stop = stop.get_token();
            topt.progress = [&bar, &stop](std::size_t done, std::size_t) {
                if (interrupted) stop.request_stop();
                bar.update(done);
            };
            try {
                if (lut_dtype == sio::dtype::f16)
                    dispatch_bits<sqllm::half>(p.bits, W, S, topt, exec, out, lut_dtype, layout, st);
                else dispatch_bits<float>(p.bits, W, S, topt, exec, out, lut_dtype, layout, st);
            } catch (const sqllm::error& e) {
                bar.clear_line();
                if (e.code() == sqllm::errc::cancelled && interrupted) throw interrupted_run{};
                // Name the file the bad value came from: the sensitivities' or the model's.
                const bool from_sens = sens && std::strncmp(e.message(), "sensitivity", 11) == 0;
                throw sqllm::error(e.code(), (from_sens ? s.sensitivity : s.input) + ": tensor \"" +
                                                 sio::printable(t.name) + "\": " + e.message());
            }
            for (const std::string& suffix : sio::quantized_suffixes())  // the sparse arrays only with a sparse part
                if (out.contains(p.out_name + suffix)) written.tensors.push_back(p.out_name + suffix);
            st.seconds = progress::seconds_since(t1);
            char note[160];
            std::snprintf(note, sizeof note, "%.3f bits/weight, %zu kept exactly, rel. weighted error %.3e, %.0f ms",
                          st.bits_per_weight(), st.nnz, st.relative_error(), 1e3 * st.seconds);
            bar.end_tensor(note);
            record.config.layers.push_back({p.out_name, p.bits, st.rows, st.cols, st.nnz, lut_dtype, p.sparsity});
            stats.push_back(st);
        }
        if (interrupted) throw interrupted_run{};
        written.data_bytes = out.data_bytes();
        out.prepare();  // the complete file, as a temporary; renamed with the others at the end
        record.shards.push_back(std::move(written));
    }
    if (interrupted) throw interrupted_run{};
    if (to_dir) {
        if (parts == 1) {
            prepare_directory_files(s.output, record, pending, cleanup);
        } else {
            const sqllm_tool::signals_blocked hold;
            pending.files.push_back(sqllm_tool::prepare_text(
                (fs::path(s.output) / sqllm_tool::part_record_name(part, parts)).string(), sqllm_tool::to_json(record)));
            cleanup.add(*pending.files.back());
        }
    }
    // Everything complete as temporaries, then renamed: the report first,
    // the model's files next, the files that make a directory a model last,
    // so a model never appears when anything failed.
    const double seconds = progress::seconds_since(t0);
    if (report) {
        const std::string text = report_json(s, stats, seconds);
        report->write(text.data(), text.size());
        report->seal();
    }
    if (interrupted) throw interrupted_run{};
    if (report) report->commit();
    pending.commit();
    created.keep = true;
    if (!s.quiet) {
        print_summary(stats, other_bytes, seconds);
        if (parts > 1)
            std::printf("part %zu of %zu written to %s; when every part has finished: sqllm-quantize --merge %s\n", part,
                        parts, s.output.c_str(), s.output.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    settings s;
    CLI::App app{"sqllm-quantize: SqueezeLLM-style LUT quantization of a model's linear weights into a "
                 "safetensors checkpoint (reference tensor names and layout)."};
    app.add_option("model", s.input,
                   "input model: a .safetensors file, a Hugging Face model directory (sharded or not) or its "
                   "model.safetensors.index.json, or a llama2.c .bin")
        ->check(CLI::ExistingPath);
    app.add_option("-o,--output", s.output,
                   "output: a directory (a model directory like the input: the same file names, the index, "
                   "quant_config.json, config and tokenizer files copied) or one .safetensors file; written only "
                   "when complete");
    app.add_option("--sensitivity", s.sensitivity,
                   "sensitivities: a safetensors named like the weights, [rows, cols] (e.g. Fisher) or [cols] "
                   "(per input channel, e.g. activation E[x^2] from calibration); or a llama.cpp importance "
                   "matrix (imatrix .gguf or legacy .dat), per input channel")
        ->check(CLI::ExistingFile);
    app.add_option("--bits", s.bits, "code width")->check(CLI::Range(1, 8))->capture_default_str();
    app.add_option("--tensor-bits", s.tensor_bits,
                   "REGEX=N: width N for the tensors whose name matches REGEX (repeatable; the first match wins)");
    app.add_option("--method", s.method, "LUT fit: exact (optimal weighted k-means), lloyd (the reference's), rtn (min-max uniform)")
        ->check(CLI::IsMember({"exact", "lloyd", "rtn"}))
        ->capture_default_str();
    app.add_option("--sparsity", s.sparsity,
                   "weights kept exactly: none; P (e.g. 0.45%, split 1:8 sensitive:outliers like the paper); "
                   "or sensitive=P,outliers=P | sensitive=P,iqr=R (the reference's rule)")
        ->capture_default_str();
    app.add_option("--tensor-sparsity", s.tensor_sparsity,
                   "REGEX=RULE: the --sparsity rule for the tensors whose name matches REGEX (repeatable; first match wins)");
    app.add_option("--lut", s.lut, "LUT storage: f32 (the reference's) or f16")
        ->check(CLI::IsMember({"f32", "f16"}))
        ->capture_default_str();
    app.add_option("--threads", s.threads, "worker threads")->check(CLI::Range(1, 4096))->capture_default_str();
    app.add_option("--include", s.include, "quantize 2-D float tensors whose name matches this regex")->capture_default_str();
    app.add_option("--exclude", s.exclude,
                   std::string("... and does not match this one (default: norms, embeddings and the output head: ") +
                       effective_exclude(settings{}) + ")");
    app.add_flag("--quantize-embeddings", s.quantize_embeddings, "quantize the token embeddings too (default: kept as they are)");
    app.add_flag("--quantize-output", s.quantize_output, "quantize the output head too (default: kept as it is)");
    app.add_option("--report", s.report, "also write the per-tensor summary as JSON");
    app.add_flag("--dry-run", s.dry_run, "print the plan (each tensor's action, width, estimated size) and exit");
    app.add_option("--part", s.part,
                   "K/N: write only part K of N of a sharded model's files (one job of an array; then --merge)");
    app.add_option("--merge", s.merge, "DIR: after every --part run into DIR, write its index and quant_config.json");
    app.add_flag("-q,--quiet", s.quiet, "no progress and no summary table");
    app.add_flag("--allow-requantize", s.allow_requantize,
                 "accept an input that already holds quantized layers: they are copied through, its other "
                 "floating-point tensors quantized (a striped-layout file's output stays striped)");
    app.set_version_flag("--version", std::string("sqllm-quantize ") + SQLLM_VERSION_STRING);
    try {
        app.parse(argc, argv);
        if (s.merge.empty() && (s.input.empty() || (s.output.empty() && !s.dry_run)))
            throw CLI::ValidationError("a model and -o OUTPUT are required (or --merge DIR)");
        if (!s.exclude.empty() && (s.quantize_embeddings || s.quantize_output))
            throw CLI::ValidationError("--quantize-embeddings/--quantize-output adjust the default --exclude; with "
                                       "--exclude, say what to keep in its regex");
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    sqllm_tool::install_signal_handlers();
    try {
        return run(s);
    } catch (const interrupted_run&) {
        std::fprintf(stderr, "\nsqllm-quantize: interrupted; no output written\n");
        return 130;
    } catch (const sqllm::error& e) {
        std::fprintf(stderr, "\nsqllm-quantize: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nsqllm-quantize: error: %s\n", e.what());
        return 1;
    }
}
