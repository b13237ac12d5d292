#include "control/daemon/prom.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sluice::control::prom {

void Histogram::observe(double v, uint64_t times) {
    if (counts.size() != bounds.size() + 1) counts.assign(bounds.size() + 1, 0);
    size_t i = 0;
    while (i < bounds.size() && v > bounds[i]) ++i;  // le: v <= bound
    counts[i] += times;
    sum += v * double(times);
    count += times;
}

void Histogram::merge(const Histogram& o) {
    if (counts.size() != bounds.size() + 1) counts.assign(bounds.size() + 1, 0);
    for (size_t i = 0; i < counts.size() && i < o.counts.size(); ++i) counts[i] += o.counts[i];
    sum += o.sum;
    count += o.count;
}

std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
        char b[32];
        std::snprintf(b, sizeof b, "%lld", static_cast<long long>(v));
        return b;
    }
    // The shortest text that reads back as the same double ("0.0005", not
    // "0.00050000000000000001"): bucket bounds are labels, and people read them.
    char b[40];
    for (int prec = 6; prec <= 17; ++prec) {
        std::snprintf(b, sizeof b, "%.*g", prec, v);
        if (std::strtod(b, nullptr) == v) break;
    }
    return b;
}

void Family::add(Labels labels, uint64_t v) { samples.push_back(Sample{"", std::move(labels), std::to_string(v)}); }
void Family::add(Labels labels, double v) { samples.push_back(Sample{"", std::move(labels), format_value(v)}); }

void Family::add_histogram(Labels labels, const Histogram& h) {
    uint64_t cum = 0;
    for (size_t i = 0; i <= h.bounds.size(); ++i) {
        cum += i < h.counts.size() ? h.counts[i] : 0;
        Labels l = labels;
        l.emplace_back("le", i < h.bounds.size() ? format_value(h.bounds[i]) : "+Inf");
        samples.push_back(Sample{"_bucket", std::move(l), std::to_string(cum)});
    }
    samples.push_back(Sample{"_sum", labels, format_value(h.sum)});
    samples.push_back(Sample{"_count", std::move(labels), std::to_string(h.count)});
}

std::string escape_label_value(std::string_view s) {
    std::string r;
    r.reserve(s.size());
    for (char c : s) {
        if (c == '\\')
            r += "\\\\";
        else if (c == '"')
            r += "\\\"";
        else if (c == '\n')
            r += "\\n";
        else
            r += c;
    }
    return r;
}

std::string escape_help(std::string_view s) {
    std::string r;
    r.reserve(s.size());
    for (char c : s) {
        if (c == '\\')
            r += "\\\\";
        else if (c == '\n')
            r += "\\n";
        else
            r += c;
    }
    return r;
}

namespace {
bool name_char(char c, bool first, bool colon) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    return first ? alpha : alpha || (c >= '0' && c <= '9');
}
const char* type_name(Type t) {
    switch (t) {
        case Type::counter: return "counter";
        case Type::gauge: return "gauge";
        case Type::histogram: return "histogram";
    }
    return "untyped";
}
}  // namespace

bool valid_metric_name(std::string_view s) {
    if (s.empty()) return false;
    for (size_t i = 0; i < s.size(); ++i)
        if (!name_char(s[i], i == 0, true)) return false;
    return true;
}

bool valid_label_name(std::string_view s) {
    if (s.empty() || s.substr(0, 2) == "__") return false;
    for (size_t i = 0; i < s.size(); ++i)
        if (!name_char(s[i], i == 0, false)) return false;
    return true;
}

std::string render(const std::vector<Family>& families) {
    std::string out;
    for (const auto& f : families) {
        if (f.samples.empty() || !valid_metric_name(f.name)) continue;
        out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + f.name + " " + type_name(f.type) + "\n";
        for (const auto& s : f.samples) {
            out += f.name;
            out += s.suffix;
            bool first = true;
            for (const auto& [k, v] : s.labels) {
                if (!valid_label_name(k)) continue;
                out += first ? "{" : ",";
                first = false;
                out += k + "=\"" + escape_label_value(v) + "\"";
            }
            if (!first) out += "}";
            out += " " + s.value + "\n";
        }
    }
    return out;
}

}  // namespace sluice::control::prom
