// Rates of the stats views (stats.hpp).
#include "control/cli/stats.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "control/cli/format.hpp"

namespace sluice::cli {

namespace {

using Aliases = std::vector<std::string>;

// The first of `names` that the row has.
bool counter(const std::map<std::string, uint64_t>& c, const Aliases& names, uint64_t* out) {
    for (const auto& n : names) {
        auto it = c.find(n);
        if (it != c.end()) {
            *out = it->second;
            return true;
        }
    }
    return false;
}

struct StatColumn {
    enum class Kind { rate, total, percent } kind;
    std::string header;
    std::vector<Aliases> sum;  // rate/total: the sum of one counter of each group; percent: numerator
    double scale = 1;          // rate: bytes -> bits
    Aliases denominator = {};  // percent: 100 * delta(sum) / delta(denominator)
};

const Aliases kRxPkts{"rx_packets", "packets_in", "in_packets"};
const Aliases kRxBytes{"rx_bytes", "nic_rx_bytes", "bytes_in", "in_bytes"};
const Aliases kTxPkts{"tx_packets", "packets_out", "out_packets"};
const Aliases kTxBytes{"tx_bytes", "nic_tx_bytes", "bytes_out", "out_bytes"};
// What a port lost: its own drop counters where it has them, else the
// NIC's (missed, errors, no mbuf: what dpdk-dumpcap -S counts as dropped).
const std::vector<Aliases> kPortDrops{
    {"rx_drops", "rx_missed"}, {"rx_errors"}, {"rx_nombuf"}, {"tx_drops", "tx_errors"}};

std::vector<StatColumn> columns_for(const std::string& what) {
    using K = StatColumn::Kind;
    if (what == "ports")
        return {{K::rate, "RX-PPS", {kRxPkts}},     {K::rate, "RX-BPS", {kRxBytes}, 8},
                {K::rate, "TX-PPS", {kTxPkts}},     {K::rate, "TX-BPS", {kTxBytes}, 8},
                {K::rate, "DROPS/S", kPortDrops},   {K::total, "RX-PKTS", {kRxPkts}},
                {K::total, "TX-PKTS", {kTxPkts}},   {K::total, "DROPS", kPortDrops}};
    if (what == "vips" || what == "backends")
        return {{K::rate, "PPS", {{"packets"}}},
                {K::rate, "BPS", {{"bytes"}}, 8},
                {K::rate, "NEW-FLOWS/S", {{"new_flows"}}},
                {K::total, "TRACKED", {{"tracked_flows", "tracked"}}},
                {K::total, "PACKETS", {{"packets"}}}};
    if (what == "drops") return {{K::total, "COUNT", {{"count"}}}, {K::rate, "PER-S", {{"count"}}}};
    // workers: a worker's rx = forwarded + punted + dropped; IDLE% is the
    // share of its polls that found nothing.
    return {{K::rate, "RX/S", {{"rx"}}},
            {K::rate, "FORWARDED/S", {{"forwarded"}}},
            {K::rate, "PUNTED/S", {{"punted"}}},
            {K::rate, "DROPPED/S", {{"dropped"}}},
            {K::percent, "IDLE%", {{"idle_polls"}}, 1, {"polls"}}};
}

// The identifying columns of a row, before the numbers.
std::vector<std::pair<std::string, Aliases>> ident_for(const std::string& what) {
    if (what == "ports") return {{"NAME", {"name"}}, {"LINK", {"link"}}};
    if (what == "vips") return {{"NAME", {"name"}}, {"ADDRESS", {"address"}}};
    if (what == "backends") return {{"ADDRESS", {"address"}}, {"PORT", {"port"}}, {"STATE", {"state"}}};
    if (what == "drops") return {{"REASON", {"reason"}}};
    return {{"NAME", {"name"}}};
}

std::string ident_cell(const std::string& header, const std::string& row_name, const Json& row, const Aliases& keys) {
    if (header == "NAME" || header == "REASON") {
        for (const auto& k : keys)
            if (row.is_object() && row.contains(k) && row[k].is_string()) return row[k].get<std::string>();
        return row_name;
    }
    for (const auto& k : keys) {
        if (!row.is_object() || !row.contains(k)) continue;
        const Json& v = row[k];
        if (header == "LINK") {
            if (v.is_boolean()) return v.get<bool>() ? "up" : "down";
            if (v.is_object() && v.contains("up") && v["up"].is_boolean()) return v["up"].get<bool>() ? "up" : "down";
        }
        if (uint64_t n = 1; header == "PORT" && as_u64(v, &n) && n == 0) return "*";
        return cell(v);
    }
    return "-";
}

}  // namespace

double rate(uint64_t prev, uint64_t cur, double seconds) {
    if (!(seconds > 0)) return 0;
    if (cur < prev) return double(cur) / seconds;
    return double(cur - prev) / seconds;
}

std::string si(double v) {
    char buf[32];
    const char* units[] = {"", "k", "M", "G", "T"};
    int u = 0;
    double x = v;
    while (std::fabs(x) >= 1000 && u < 4) {
        x /= 1000;
        ++u;
    }
    if (u == 0) std::snprintf(buf, sizeof buf, "%.0f", x);
    else if (std::fabs(x) < 10) std::snprintf(buf, sizeof buf, "%.2f%s", x, units[u]);
    else if (std::fabs(x) < 100) std::snprintf(buf, sizeof buf, "%.1f%s", x, units[u]);
    else std::snprintf(buf, sizeof buf, "%.0f%s", x, units[u]);
    return buf;
}

Sample sample_of(const std::string& what, const Json& result, double t) {
    Sample s;
    s.t = t;
    auto add = [&](const std::string& name, const Json& row) {
        if (s.rows.count(name)) return;  // a repeated name keeps its first row
        s.order.push_back(name);
        s.rows[name] = row;
        auto& c = s.counters[name];
        if (row.is_object())
            for (auto it = row.begin(); it != row.end(); ++it)
                if (uint64_t v = 0; as_u64(it.value(), &v)) c[it.key()] = v;
    };
    if (what == "drops") {
        // The same shapes format_show reads: {"drops": {reason: n}}, a list
        // of {"reason", "count"}, or the reasons at the top level.
        const Json* list = result.is_object() && result.contains("drops") ? &result["drops"] : &result;
        if (list->is_object()) {
            for (auto it = list->begin(); it != list->end(); ++it) {
                if (uint64_t v = 0; as_u64(it.value(), &v))
                    add(it.key(), Json{{"reason", it.key()}, {"count", it.value()}});
                else if (it.value().is_object()) {
                    Json r = it.value();
                    r["reason"] = it.key();
                    if (!r.contains("count") && r.contains("packets")) r["count"] = r["packets"];
                    add(it.key(), r);
                }
            }
        } else if (list->is_array()) {
            for (const Json& d : *list) {
                const Json* n = field(d, {"reason", "name"});
                if (n && n->is_string()) add(n->get<std::string>(), d);
            }
        }
        return s;
    }
    const std::string key = what == "workers" ? "workers" : what;
    for (const Row& r : rows_of(result, key)) {
        std::string name = r.key;
        if (what == "backends") {
            const Json* a = field(r.value, {"address"});
            const Json* p = field(r.value, {"port"});
            name = (a ? cell(*a) : r.key) + " " + (p ? cell(*p) : "0");
        } else if (const Json* n = field(r.value, {"name"}); n && n->is_string()) {
            name = n->get<std::string>();
        } else if (name.empty()) {
            name = std::to_string(s.order.size());
        }
        add(name, r.value);
    }
    return s;
}

std::string render_stats(const std::string& what, const Sample& prev, const Sample& cur, bool all) {
    const double dt = cur.t - prev.t;
    const auto ident = ident_for(what);
    const auto cols = columns_for(what);
    Table t;
    for (const auto& [h, k] : ident) t.headers.push_back(h);
    for (const auto& c : cols) t.headers.push_back(c.header);
    size_t hidden = 0;
    for (const auto& name : cur.order) {
        const auto& cc = cur.counters.at(name);
        auto pit = prev.counters.find(name);
        const bool have_before = pit != prev.counters.end();
        if (what == "drops" && !all) {
            uint64_t n = 0;
            if (counter(cc, {"count"}, &n) && n == 0) {
                ++hidden;
                continue;
            }
        }
        std::vector<std::string> row;
        for (const auto& [h, k] : ident) row.push_back(ident_cell(h, name, cur.rows.at(name), k));
        // The sum of one counter per group, now and in the previous sample.
        auto sum = [&](const std::vector<Aliases>& groups, uint64_t* now, uint64_t* before) {
            bool found = false;
            *now = *before = 0;
            for (const auto& g : groups) {
                uint64_t v = 0;
                if (counter(cc, g, &v)) {
                    *now += v;
                    found = true;
                }
                if (have_before && counter(pit->second, g, &v)) *before += v;
            }
            return found;
        };
        for (const auto& c : cols) {
            uint64_t now = 0, before = 0;
            if (!sum(c.sum, &now, &before)) {
                row.push_back("-");
            } else if (c.kind == StatColumn::Kind::total) {
                row.push_back(std::to_string(now));
            } else if (!have_before) {
                // A row new in this sample (a VIP just added): no rate yet.
                row.push_back("-");
            } else if (c.kind == StatColumn::Kind::rate) {
                row.push_back(si(rate(before, now, dt) * c.scale));
            } else {
                uint64_t dnow = 0, dbefore = 0;
                if (!sum({c.denominator}, &dnow, &dbefore) || dnow <= dbefore) {
                    row.push_back("-");
                } else {
                    char buf[16];
                    const double part = now >= before ? double(now - before) : double(now);
                    std::snprintf(buf, sizeof buf, "%.0f", 100.0 * part / double(dnow - dbefore));
                    row.push_back(buf);
                }
            }
        }
        t.rows.push_back(std::move(row));
    }
    if (t.rows.empty()) {
        if (what == "drops") return "no drops (" + std::to_string(hidden) + " reasons at 0; --all lists them)\n";
        return "no " + what + "\n";
    }
    return t.render();
}

}  // namespace sluice::cli
