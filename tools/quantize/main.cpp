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
#include <sqllm/io/quantized_checkpoint.hpp>
#include <sqllm/quantize/quantize.hpp>
#include <sqllm/quantize/sensitivity.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <regex>
#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "file_safety.hpp"
#include "model_source.hpp"
#include "progress.hpp"
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
    // Embeddings and output heads under llama2.c, Hugging Face and GPT-2 names
    // ("tok_embeddings", "model.embed_tokens.weight", "lm_head.weight", "wte"), and norms.
    std::string exclude = "(^|\\.)(tok_embeddings|embed_tokens|wte|wpe|lm_head|output)(\\.weight)?$|norm|rms_";
    std::size_t threads = std::max(1u, std::thread::hardware_concurrency());
    bool quiet = false;
    bool allow_requantize = false;
};

struct layer_stats {
    std::string name;
    std::size_t rows = 0, cols = 0, bytes = 0, nnz = 0;
    std::size_t input_bytes = 0;  // the tensor as stored in the input (its own dtype)
    double weighted_error = 0;  // Σ s·(w − dense)² over dense positions
    double weighted_norm = 0;   // Σ s·w²: the relative error's denominator
    double seconds = 0;
    double bits_per_weight() const { return 8.0 * static_cast<double>(bytes) / static_cast<double>(rows * cols); }
    double relative_error() const { return weighted_norm > 0 ? weighted_error / weighted_norm : 0; }
};

using sparse_type = sqllm::csr<float, std::int32_t>;  // the reference's CSR: int32 columns, fp32 residuals

template <int Bits, class Lut>
void quantize_layer(sqllm::matrix_view<const float> W, sqllm::matrix_view<const float> S,
                    const sqllm::quantize_options& opt, const sqllm::thread_executor& exec, sio::safetensors_writer& out,
                    sio::dtype lut_dtype, layer_stats& st) {
    sqllm::quantize_report rep;
    const auto q = sqllm::quantize<Bits, Lut, sparse_type, sqllm::reference_layout<Bits>>(W, S, opt, exec, &rep);
    const std::size_t before = out.data_bytes();
    sio::write_quantized(out, st.name, q.view(), lut_dtype);
    st.bytes = out.data_bytes() - before;
    st.nnz = q.view().nonzeros();
    st.weighted_error = rep.weighted_error;
}

template <class Lut>
void dispatch_bits(int bits, sqllm::matrix_view<const float> W, sqllm::matrix_view<const float> S,
                   const sqllm::quantize_options& opt, const sqllm::thread_executor& exec, sio::safetensors_writer& out,
                   sio::dtype lut_dtype, layer_stats& st) {
    switch (bits) {
        case 1: return quantize_layer<1, Lut>(W, S, opt, exec, out, lut_dtype, st);
        case 2: return quantize_layer<2, Lut>(W, S, opt, exec, out, lut_dtype, st);
        case 3: return quantize_layer<3, Lut>(W, S, opt, exec, out, lut_dtype, st);
        case 4: return quantize_layer<4, Lut>(W, S, opt, exec, out, lut_dtype, st);
        case 5: return quantize_layer<5, Lut>(W, S, opt, exec, out, lut_dtype, st);
        case 6: return quantize_layer<6, Lut>(W, S, opt, exec, out, lut_dtype, st);
        case 7: return quantize_layer<7, Lut>(W, S, opt, exec, out, lut_dtype, st);
        case 8: return quantize_layer<8, Lut>(W, S, opt, exec, out, lut_dtype, st);
        default: throw sqllm::error(sqllm::errc::invalid_argument, "--bits must be 1..8");
    }
}

double weighted_norm(sqllm::matrix_view<const float> W, sqllm::matrix_view<const float> S) {
    double sum = 0;
    for (std::size_t r = 0; r < W.rows(); ++r)
        for (std::size_t c = 0; c < W.cols(); ++c) {
            const double w = W(r, c);
            sum += (S.empty() ? 1.0 : S(r, c)) * w * w;
        }
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
    j["tensors"] = nlohmann::json::array();
    for (const auto& L : layers) {
        j["tensors"].push_back({{"name", L.name},
                                {"rows", L.rows},
                                {"cols", L.cols},
                                {"bytes", L.bytes},
                                {"bits_per_weight", L.bits_per_weight()},
                                {"nnz", L.nnz},
                                {"weighted_error", L.weighted_error},
                                {"relative_weighted_error", L.relative_error()},
                                {"seconds", L.seconds}});
        weights += L.rows * L.cols;
        bytes += L.bytes;
        nnz += L.nnz;
    }
    j["total"] = {{"weights", weights},
                  {"bytes", bytes},
                  {"nnz", nnz},
                  {"bits_per_weight", weights ? 8.0 * static_cast<double>(bytes) / static_cast<double>(weights) : 0.0}};
    return j.dump(2) + "\n";
}

/// Every file written must be distinct from every file read and from each
/// other, by device and inode (a "./" spelling, a hard link or a symlink is
/// the same file), before anything is created.
void check_paths(const settings& s) {
    using sqllm_tool::require_distinct;
    require_distinct("the output", s.output, "input", s.input);
    require_distinct("the output", s.output, "--sensitivity file", s.sensitivity);
    require_distinct("--report", s.report, "input", s.input);
    require_distinct("--report", s.report, "--sensitivity file", s.sensitivity);
    require_distinct("--report", s.report, "output", s.output);
}

/// Temporaries that killed runs (SIGKILL, a crash) left for these outputs.
void remove_stale_temporaries(const settings& s) {
    for (const std::string& target : {s.output, s.report}) {
        if (target.empty()) continue;
        for (const std::string& f : sio::temporary_output::remove_stale(target))
            if (!s.quiet)
                std::fprintf(stderr, "sqllm-quantize: removed %s, left by a run that no longer exists\n", f.c_str());
    }
}

int run(const settings& s) {
    const auto t0 = progress::clock::now();
    sqllm::quantize_options opt;
    if (s.method == "exact") opt.method = sqllm::lut_method::exact;
    else if (s.method == "lloyd") opt.method = sqllm::lut_method::lloyd;
    else opt.method = sqllm::lut_method::uniform;  // rtn: per-row asymmetric min–max
    opt.sparse = sqllm_tool::parse_sparsity(s.sparsity);
    const sio::dtype lut_dtype = s.lut == "f16" ? sio::dtype::f16 : sio::dtype::f32;
    std::regex include, exclude;
    try {
        include = std::regex(s.include, std::regex::extended);
        exclude = std::regex(s.exclude, std::regex::extended);
    } catch (const std::regex_error& e) {
        throw sqllm::error(sqllm::errc::invalid_argument,
                           std::string("--include/--exclude: bad regular expression: ") + e.what());
    }

    // The outputs, before any work: same-file checks, what killed runs left,
    // then the temporaries themselves (creating them is the real test that
    // the directories exist and take new files), registered for the signal
    // handlers with those signals held off until they are.
    check_paths(s);
    remove_stale_temporaries(s);
    sqllm_tool::cleanup_list cleanup;  // declared first: unregisters after the files are gone
    std::optional<sio::safetensors_writer> out_file;
    std::optional<sio::temporary_output> report;
    {
        const sqllm_tool::signals_blocked hold;
        out_file.emplace(s.output);
        cleanup.add(out_file->spool_file());
        cleanup.add(out_file->output_file());
        if (!s.report.empty()) {
            report.emplace(s.report);
            cleanup.add(*report);
        }
    }
    sio::safetensors_writer& out = *out_file;

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
                           s.input + " is already quantized (\"" + sio::printable(tensors[first].name) +
                               "\" and " + std::to_string(layers - 1) +
                               " more quantized arrays): refusing to quantize it again (--allow-requantize "
                               "copies its quantized layers through and quantizes its other tensors)");
    }

    // Which tensors get quantized: 2-D floating-point ones the filters select.
    std::vector<bool> selected(tensors.size(), false);
    std::size_t total_rows = 0, count = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        if (quantized[i] || t.shape.size() != 2 || !t.is_float() || !std::regex_search(t.name, include) ||
            std::regex_search(t.name, exclude))
            continue;
        if (t.shape[0] == 0 || t.shape[1] == 0) continue;
        selected[i] = true;
        total_rows += t.shape[0];
        ++count;
    }
    if (count == 0)
        throw sqllm::error(sqllm::errc::invalid_argument,
                           s.input + ": no tensor to quantize (2-D floating point, matching --include \"" + s.include +
                               "\" and not --exclude \"" + s.exclude + "\")");

    // Sensitivities: one tensor per quantized tensor, [rows, cols] (e.g.
    // Fisher) or [cols] (per input channel, e.g. activation E[x²]).
    std::unique_ptr<sio::safetensors_file> sens;
    if (!s.sensitivity.empty()) {
        sens = std::make_unique<sio::safetensors_file>(s.sensitivity);
        std::set<std::string> wanted;
        for (std::size_t i = 0; i < tensors.size(); ++i)
            if (selected[i]) wanted.insert(tensors[i].name);
        for (const auto& t : sens->tensors())
            if (!wanted.count(t.name))
                throw sqllm::error(sqllm::errc::invalid_argument, s.sensitivity + ": tensor \"" + t.name +
                                                                      "\" is not a quantized tensor of " + s.input);
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            if (!selected[i]) continue;
            const auto& t = tensors[i];
            const sio::tensor_info* st = sens->find(t.name);
            if (!st)
                throw sqllm::error(sqllm::errc::invalid_argument,
                                   s.sensitivity + ": no sensitivity for \"" + t.name + "\"");
            const bool full = st->shape == t.shape, per_col = st->shape.size() == 1 && st->shape[0] == t.shape[1];
            if (!full && !per_col)
                throw sqllm::error(sqllm::errc::shape_mismatch,
                                   s.sensitivity + ": \"" + t.name + "\" is " + st->describe() + " but the weight is " +
                                       t.describe() + " (expected the same shape, or [cols])");
            if (st->type != sio::dtype::f32 && st->type != sio::dtype::f16 && st->type != sio::dtype::bf16)
                throw sqllm::error(sqllm::errc::shape_mismatch, s.sensitivity + ": \"" + t.name + "\" is " +
                                                                    st->describe() + ", not floating point");
        }
    } else if (opt.sparse.sensitive_fraction > 0) {
        throw sqllm::error(sqllm::errc::invalid_argument,
                           "--sparsity keeps sensitive weights but no --sensitivity file was given (to keep "
                           "only the largest weights, give --sparsity outliers=P, e.g. outliers=0.45%)");
    }

    for (const auto& kv : model->metadata())
        out.set_metadata(kv.first, kv.second);
    namespace keys = sio::checkpoint_keys;
    out.set_metadata(keys::format, "squeezellm");
    out.set_metadata(keys::version, std::string("sqllm-quantize ") + SQLLM_VERSION_STRING);
    out.set_metadata(keys::bits, std::to_string(s.bits));
    out.set_metadata(keys::method, s.method);
    out.set_metadata(keys::sparsity, sqllm_tool::describe_sparsity(opt.sparse));
    out.set_metadata(keys::sensitivity, s.sensitivity.empty() ? "none" : s.sensitivity);

    const sqllm::thread_executor exec(s.threads);
    progress bar(total_rows, count, s.quiet);
    opt.progress = [&bar](std::size_t done, std::size_t) { bar.update(done); };
    std::vector<layer_stats> stats;
    std::size_t other_bytes = 0, index = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        if (interrupted) throw interrupted_run{};
        const auto& t = tensors[i];
        if (!selected[i]) {  // copied through unchanged
            const auto bytes = model->raw(i);
            out.add(t.name, t.type, t.shape, bytes.data(), bytes.size());
            other_bytes += bytes.size();
            model->release(i);
            continue;
        }
        layer_stats st;
        st.name = t.name;
        st.rows = t.shape[0];
        st.input_bytes = st.rows * t.shape[1] * sio::size_of(t.type);
        st.cols = t.shape[1];
        bar.begin_tensor(++index, t.name, st.rows, st.cols);
        const auto t1 = progress::clock::now();
        const std::vector<float> w = model->to_float(i);
        model->release(i);
        std::vector<float> s_data;
        sqllm::matrix_view<const float> W(w.data(), st.rows, st.cols), S;
        if (sens) {
            const sio::tensor_info& info = sens->at(t.name);
            s_data = sens->to_float(info);
            sens->release(info);
            S = info.shape.size() == 1 ? sqllm::broadcast_rows(s_data, st.rows)
                                       : sqllm::matrix_view<const float>(s_data.data(), st.rows, st.cols);
        }
        st.weighted_norm = weighted_norm(W, S);
        try {
            if (lut_dtype == sio::dtype::f16) dispatch_bits<sqllm::half>(s.bits, W, S, opt, exec, out, lut_dtype, st);
            else dispatch_bits<float>(s.bits, W, S, opt, exec, out, lut_dtype, st);
        } catch (const sqllm::error& e) {
            bar.clear_line();
            // Name the file the bad value came from: the sensitivities' or the model's.
            const bool from_sens = sens && std::strncmp(e.message(), "sensitivity", 11) == 0;
            throw sqllm::error(e.code(), (from_sens ? s.sensitivity : s.input) + ": tensor \"" +
                                             sio::printable(t.name) + "\": " + e.message());
        }
        st.seconds = progress::seconds_since(t1);
        char note[160];
        std::snprintf(note, sizeof note, "%.3f bits/weight, %zu kept exactly, rel. weighted error %.3e, %.0f ms",
                      st.bits_per_weight(), st.nnz, st.relative_error(), 1e3 * st.seconds);
        bar.end_tensor(note);
        stats.push_back(st);
    }
    if (interrupted) throw interrupted_run{};
    // Both files complete as temporaries, then both renamed: the report
    // first, the model last, so a model never appears when anything failed.
    out.prepare();
    const double seconds = progress::seconds_since(t0);
    if (report) {
        const std::string text = report_json(s, stats, seconds);
        report->write(text.data(), text.size());
        report->seal();
    }
    if (interrupted) throw interrupted_run{};
    if (report) report->commit();
    out.commit();
    if (!s.quiet) print_summary(stats, other_bytes, seconds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    settings s;
    CLI::App app{"sqllm-quantize: SqueezeLLM-style LUT quantization of a model's linear weights into a "
                 "safetensors checkpoint (reference tensor names and layout)."};
    app.add_option("model", s.input, "input model: .safetensors, or a llama2.c .bin")->required()->check(CLI::ExistingFile);
    app.add_option("-o,--output", s.output, "output .safetensors (written only when complete)")->required();
    app.add_option("--sensitivity", s.sensitivity,
                   "safetensors of sensitivities named like the weights: [rows, cols] (e.g. Fisher) or [cols] "
                   "(per input channel, e.g. activation E[x^2] from calibration)")
        ->check(CLI::ExistingFile);
    app.add_option("--bits", s.bits, "code width")->check(CLI::Range(1, 8))->capture_default_str();
    app.add_option("--method", s.method, "LUT fit: exact (optimal weighted k-means), lloyd (the reference's), rtn (min-max uniform)")
        ->check(CLI::IsMember({"exact", "lloyd", "rtn"}))
        ->capture_default_str();
    app.add_option("--sparsity", s.sparsity,
                   "weights kept exactly: none; P (e.g. 0.45%, split 1:8 sensitive:outliers like the paper); "
                   "or sensitive=P,outliers=P | sensitive=P,iqr=R (the reference's rule)")
        ->capture_default_str();
    app.add_option("--lut", s.lut, "LUT storage: f32 (the reference's) or f16")
        ->check(CLI::IsMember({"f32", "f16"}))
        ->capture_default_str();
    app.add_option("--threads", s.threads, "worker threads")->check(CLI::Range(1, 4096))->capture_default_str();
    app.add_option("--include", s.include, "quantize 2-D float tensors whose name matches this regex")->capture_default_str();
    app.add_option("--exclude", s.exclude, "... and does not match this one")->capture_default_str();
    app.add_option("--report", s.report, "also write the per-tensor summary as JSON");
    app.add_flag("-q,--quiet", s.quiet, "no progress and no summary table");
    app.add_flag("--allow-requantize", s.allow_requantize,
                 "accept an input that already holds quantized layers: they are copied through, its other "
                 "floating-point tensors quantized");
    app.set_version_flag("--version", std::string("sqllm-quantize ") + SQLLM_VERSION_STRING);
    try {
        app.parse(argc, argv);
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
