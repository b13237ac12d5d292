// Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): one
// `# HELP` and `# TYPE` line per family, then its samples. Counters end in
// `_total`; histograms have `_bucket{le=...}` (cumulative, ending in +Inf),
// `_sum` and `_count`. Label values are escaped (\\, \", \n); HELP text
// escapes \\ and \n.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::control::prom {

enum class Type { counter, gauge, histogram };
using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
    std::string suffix;  // "", or "_bucket" / "_sum" / "_count" of a histogram
    Labels labels;
    std::string value;  // already formatted
};

struct Histogram {
    std::vector<double> bounds;    // upper bounds, increasing (+Inf is implicit)
    std::vector<uint64_t> counts;  // per bucket (not cumulative); bounds.size() + 1
    double sum = 0;
    uint64_t count = 0;
    explicit Histogram(std::vector<double> b = {}) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
    void observe(double v, uint64_t times = 1);
    void merge(const Histogram& o);  // same bounds
};

struct Family {
    std::string name;
    std::string help;
    Type type = Type::gauge;
    std::vector<Sample> samples;

    void add(Labels labels, uint64_t v);
    void add(Labels labels, double v);
    void add_histogram(Labels labels, const Histogram& h);
};

// Formats a value: integers without exponent, "+Inf", "-Inf", "NaN".
std::string format_value(double v);
std::string escape_label_value(std::string_view s);
std::string escape_help(std::string_view s);
bool valid_metric_name(std::string_view s);  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_label_name(std::string_view s);   // [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"

// The exposition text. Families without samples are left out; a family or
// label with an invalid name is left out too (never a broken scrape).
std::string render(const std::vector<Family>& families);

}  // namespace sluice::control::prom
