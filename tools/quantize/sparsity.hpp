// Parsing of sqllm-quantize's --sparsity argument into sparse_options.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include <sqllm/error.hpp>
#include <sqllm/quantize/outliers.hpp>

namespace sqllm_tool {

/// "0.05%" → 0.0005, "0.004" → 0.004; throws on anything else or outside
/// [0, 1). A decimal number only (digits, an optional fraction and exponent,
/// then an optional %). A nonzero number too small for a normal double
/// (1e-400 parses to 0, 1e-310 to a denormal) is an error, not a silent 0:
/// "0" is the way to say none.
inline double parse_fraction(const std::string& text, const std::string& what) {
    std::string t = text;
    double scale = 1;
    if (!t.empty() && t.back() == '%') {
        t.pop_back();
        scale = 0.01;
    }
    const auto bad = [&](const std::string& why) {
        throw sqllm::error(sqllm::errc::invalid_argument, what + " \"" + text + "\" " + why);
    };
    const std::string usage = "is not a fraction in [0, 1) such as 0.004 or 0.40%";
    // The grammar, checked by hand: strtod alone also takes " 1", "0x1p-3", "inf".
    std::size_t i = 0, mantissa_digits = 0;
    bool nonzero = false;
    if (i < t.size() && t[i] == '+') ++i;
    for (; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i, ++mantissa_digits)
        nonzero = nonzero || t[i] != '0';
    if (i < t.size() && t[i] == '.')
        for (++i; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i, ++mantissa_digits)
            nonzero = nonzero || t[i] != '0';
    if (mantissa_digits == 0) bad(usage);
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        ++i;
        if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
        std::size_t exponent_digits = 0;
        for (; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i)
            ++exponent_digits;
        if (exponent_digits == 0) bad(usage);
    }
    if (i != t.size()) bad(usage);
    const double v = std::strtod(t.c_str(), nullptr) * scale;
    if (!(v >= 0 && v < 1)) bad(usage);
    if (nonzero && !(v >= std::numeric_limits<double>::min()))
        bad("is too small: it would round to 0 (write 0 for none)");
    return v;
}

/// The --sparsity grammar:
///   none                         dense only (the default)
///   P                            P in total, split 1:8 between the most sensitive weights and the
///                                largest magnitudes, as the paper's 0.45% = 0.05% + 0.40%
///   key=value[,key=value...]     sensitive=P (top P of the matrix by sensitivity),
///                                outliers=P (then the largest |w|, P of the matrix),
///                                iqr=R (the reference's rule: |w| beyond R·IQR of the quartiles)
/// P is a fraction (0.0045) or a percentage (0.45%).
inline sqllm::sparse_options parse_sparsity(const std::string& text) {
    sqllm::sparse_options o;
    if (text == "none") return o;
    if (text.find('=') == std::string::npos) {
        const double p = parse_fraction(text, "--sparsity");
        if (p > 0 && !(p / 9 >= std::numeric_limits<double>::min()))
            throw sqllm::error(sqllm::errc::invalid_argument,
                               "--sparsity \"" + text + "\" is too small: its sensitive part would round to 0");
        o.sensitive_fraction = p / 9;
        o.outlier_fraction = p - o.sensitive_fraction;
        return o;
    }
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t comma = std::min(text.find(',', pos), text.size());
        const std::string item = text.substr(pos, comma - pos);
        const std::size_t eq = item.find('=');
        const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (key == "sensitive") {
            o.sensitive_fraction = parse_fraction(value, "--sparsity sensitive");
        } else if (key == "outliers") {
            o.outlier_fraction = parse_fraction(value, "--sparsity outliers");
        } else if (key == "iqr") {
            char* end = nullptr;
            o.outlier_iqr_ratio = std::strtod(value.c_str(), &end);
            if (value.empty() || *end != '\0' || !(o.outlier_iqr_ratio > 0 && o.outlier_iqr_ratio < 1e6))
                throw sqllm::error(sqllm::errc::invalid_argument,
                                   "--sparsity iqr=\"" + value + "\" is not a positive ratio");
        } else {
            throw sqllm::error(sqllm::errc::invalid_argument,
                               "--sparsity: unknown item \"" + item + "\" (expected sensitive=P, outliers=P or iqr=R)");
        }
        pos = comma + 1;
    }
    if (o.outlier_fraction > 0 && o.outlier_iqr_ratio > 0)
        throw sqllm::error(sqllm::errc::invalid_argument, "--sparsity: give outliers=P or iqr=R, not both");
    return o;
}

/// Canonical text of a rule, for the checkpoint's metadata.
inline std::string describe_sparsity(const sqllm::sparse_options& o) {
    if (!o.enabled()) return "none";
    auto pct = [](double f) {
        char b[32];
        std::snprintf(b, sizeof b, "%.4g%%", 100 * f);
        return std::string(b);
    };
    std::string s;
    if (o.sensitive_fraction > 0) s += "sensitive=" + pct(o.sensitive_fraction);
    if (o.outlier_fraction > 0) s += (s.empty() ? "" : ",") + std::string("outliers=") + pct(o.outlier_fraction);
    if (o.outlier_iqr_ratio > 0) s += (s.empty() ? "" : ",") + std::string("iqr=") + std::to_string(o.outlier_iqr_ratio);
    return s;
}

}  // namespace sqllm_tool
