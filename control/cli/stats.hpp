// The `show ... stats` views: two successive show results give rates per
// second from counter deltas (as `ip -s` watchers and vppctl's monitor do),
// rendered as one frame of a table refreshed in place.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::cli {

using Json = nlohmann::json;

// The counters of one show result: per row (port, VIP, drop reason, worker)
// every unsigned top-level field, and the row's other fields for display.
struct Sample {
    double t = 0;  // seconds (steady clock) when the reply arrived
    std::vector<std::string> order;  // row names in the result's order
    std::map<std::string, std::map<std::string, uint64_t>> counters;
    std::map<std::string, Json> rows;
};
Sample sample_of(const std::string& what, const Json& result, double t);

// (cur - prev) / seconds. A counter that went down was reset (the data plane
// restarted, a VIP was replaced): it counted from 0 during the interval, so
// cur / seconds. 0 when no time passed.
double rate(uint64_t prev, uint64_t cur, double seconds);

// A rate as a short number: 950, 12.3k, 1.05M, 2.50G.
std::string si(double v);

// One frame of the view: the table with rates between `prev` and `cur`.
// `all`: drops at 0 too.
std::string render_stats(const std::string& what, const Sample& prev, const Sample& cur, bool all = false);

}  // namespace sluice::cli
