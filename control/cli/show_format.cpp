// The tables of each show (format.hpp, format_show). Column choices
// follow the result fields of the data plane (dataplane/channel/show.cpp)
// and the control process (control/daemon/cli_server.cpp), with the
// telemetry's names as fallbacks; docs/cli.md shows each command's output.
#include <set>

#include "control/cli/format.hpp"

namespace sluice::cli {

namespace {

std::string upper(std::string s) {
    for (char& c : s) {
        if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
        if (c == '_') c = '-';
    }
    return s;
}

// A column: header and the field names it shows (the first present wins),
// or a custom renderer of the whole row.
struct Column {
    std::string header;
    std::vector<std::string> keys;
    std::string (*render)(const Row&) = nullptr;
};

const Json* find_field(const Json& row, const std::vector<std::string>& names) {
    if (!row.is_object()) return nullptr;
    for (const auto& n : names) {
        auto it = row.find(n);
        if (it != row.end()) return &*it;
    }
    return nullptr;
}

std::string name_of(const Row& r) {
    if (const Json* n = find_field(r.value, {"name"}); n && n->is_string()) return n->get<std::string>();
    return r.key.empty() ? "-" : r.key;
}

std::string link_cell(const Json& v) {
    if (v.is_boolean()) return v.get<bool>() ? "up" : "down";
    if (v.is_object()) {
        std::string s = "-";
        if (const Json* up = find_field(v, {"up", "status", "state"}))
            s = up->is_boolean() ? (up->get<bool>() ? "up" : "down") : cell(*up);
        if (const Json* sp = find_field(v, {"speed", "speed_mbps"}); sp && sp->is_number()) {
            const double mbps = sp->get<double>();
            s += " " + (mbps >= 1000 ? float_text(mbps / 1000) + "G" : float_text(mbps) + "M");
        }
        return s;
    }
    return cell(v);
}

std::string link_col(const Row& r) {
    const Json* v = find_field(r.value, {"link", "link_up", "up"});
    return v ? link_cell(*v) : "-";
}

std::string name_col(const Row& r) { return name_of(r); }

// Route next hops: "via 198.18.1.2 dev p0, dev p1".
std::string nexthops_col(const Row& r) {
    const Json* nh = find_field(r.value, {"nexthops"});
    if (!nh || !nh->is_array()) {
        // The config file's short form: via (one or a list) and/or port.
        std::string s;
        if (const Json* via = find_field(r.value, {"via"})) s = "via " + cell(*via);
        if (const Json* port = find_field(r.value, {"port", "dev"}))
            s += (s.empty() ? "" : " ") + ("dev " + cell(*port));
        return s.empty() ? "-" : s;
    }
    std::string s;
    for (const Json& h : *nh) {
        std::string one;
        if (const Json* via = find_field(h, {"via"}); via && !via->is_null()) one = "via " + cell(*via);
        if (const Json* port = find_field(h, {"port", "dev"}); port && !port->is_null())
            one += (one.empty() ? "" : " ") + ("dev " + cell(*port));
        if (!h.is_object()) one = cell(h);
        s += (s.empty() ? "" : ", ") + (one.empty() ? "?" : one);
    }
    return s.empty() ? "-" : s;
}

// A VIP's or backend's port: 0 is "all ports" (VIP) or "the packet's port"
// (backend): shown as "*".
std::string port_col(const Row& r) {
    const Json* p = find_field(r.value, {"port"});
    if (!p) return "-";
    if (uint64_t n = 1; as_u64(*p, &n) && n == 0) return "*";
    return cell(*p);
}

// The number of backends (a count, or the length of the list).
std::string backends_col(const Row& r) {
    const Json* b = find_field(r.value, {"backends", "backend_count"});
    if (!b) return "-";
    if (b->is_array()) return std::to_string(b->size());
    return cell(*b);
}

// A backend's health: the control process adds it (a state, or an object
// with one).
std::string health_col(const Row& r) {
    const Json* h = find_field(r.value, {"health"});
    if (!h) return "-";
    if (h->is_object()) {
        if (const Json* s = find_field(*h, {"state"})) return cell(*s);
        return cell(*h);
    }
    return cell(*h);
}

// Progress of a health check towards its next change (HAProxy's rise and
// fall): an up backend counts consecutive failures towards `fall`, a down
// one consecutive successes towards `rise`: "1/3 to down".
std::string progress_col(const Row& r) {
    const Json* p = find_field(r.value, {"progress"});
    const Json* state = find_field(r.value, {"state"});
    const std::string st = state && state->is_string() ? state->get<std::string>() : "";
    const Json* rise = find_field(r.value, {"rise"});
    const Json* fall = find_field(r.value, {"fall"});
    if (!p) return "-";
    if (!p->is_number()) return cell(*p);
    if (st == "up" && fall) return cell(*p) + "/" + cell(*fall) + " to down";
    if (st == "down" && rise) return cell(*p) + "/" + cell(*rise) + " to up";
    return cell(*p);
}

// The last probe: "ok", or "failed: connection refused".
std::string last_col(const Row& r) {
    const Json* l = find_field(r.value, {"last", "last_result"});
    if (!l) return "-";
    if (!l->is_object()) return cell(*l);
    const Json* ok = find_field(*l, {"ok"});
    const Json* err = find_field(*l, {"error"});
    std::string s = ok && ok->is_boolean() ? (ok->get<bool>() ? "ok" : "failed") : "-";
    if (err && err->is_string() && !err->get<std::string>().empty()) s += ": " + err->get<std::string>();
    return s;
}

std::string last_ms_col(const Row& r) {
    const Json* l = find_field(r.value, {"last"});
    const Json* ms = l && l->is_object() ? find_field(*l, {"latency_ms"}) : find_field(r.value, {"latency_ms"});
    return ms ? cell(*ms) : "-";
}

struct Spec {
    std::string rows_key;
    std::vector<Column> columns;
    bool rest_columns = false;  // every other scalar field as a column too
    bool details = false;       // fields not in the table listed under it, per row
    std::vector<std::string> hidden;  // never shown in the table (details may list them)
};

Spec spec_for(const std::string& what) {
    Spec s;
    if (what == "ports") {
        // The data plane's counters: rx/tx_packets are what the workers
        // received and sent; the NIC's own counters follow (bytes, missed,
        // errors, no mbuf), the rest is listed under the table.
        s.rows_key = "ports";
        s.columns = {
            {"NAME", {}, name_col},
            {"ID", {"id", "port_id"}},
            {"DRIVER", {"driver"}},
            {"LINK", {}, link_col},
            {"RX-PKTS", {"rx_packets", "packets_in", "in_packets"}},
            {"TX-PKTS", {"tx_packets", "packets_out", "out_packets"}},
            {"RX-BYTES", {"rx_bytes", "nic_rx_bytes", "bytes_in", "in_bytes"}},
            {"TX-BYTES", {"tx_bytes", "nic_tx_bytes", "bytes_out", "out_bytes"}},
            {"RX-DROPS", {"rx_drops", "drops_in", "rx_dropped"}},
            {"TX-DROPS", {"tx_drops", "drops_out", "tx_dropped"}},
            {"RX-MISSED", {"rx_missed"}},
            {"RX-ERRORS", {"rx_errors"}},
            {"TX-ERRORS", {"tx_errors"}},
            {"RX-NOMBUF", {"rx_nombuf"}},
        };
        s.details = true;
        s.hidden = {"link", "link_up", "up", "name"};
    } else if (what == "routes") {
        s.rows_key = "routes";
        s.columns = {{"PREFIX", {"prefix"}}, {"NEXTHOPS", {}, nexthops_col}};
        s.rest_columns = true;
        s.hidden = {"nexthops", "via", "port", "dev", "mark"};
    } else if (what == "neighbors") {
        s.rows_key = "neighbors";
        s.columns = {{"PORT", {"port"}},   {"ADDRESS", {"address"}}, {"MAC", {"mac"}},
                     {"STATE", {"state"}}, {"STATIC", {"static"}}};
        s.rest_columns = true;
    } else if (what == "vips") {
        s.rows_key = "vips";
        s.columns = {
            {"NAME", {}, name_col},
            {"ADDRESS", {"address"}},
            {"PROTO", {"protocol"}},
            {"PORT", {}, port_col},
            {"MODE", {"mode"}},
            {"BACKENDS", {}, backends_col},
            {"PACKETS", {"packets"}},
            {"BYTES", {"bytes"}},
            {"NEW-FLOWS", {"new_flows"}},
            {"TRACKED", {"tracked_flows", "tracked"}},
        };
    } else if (what == "backends") {
        s.rows_key = "backends";
        s.columns = {
            {"ADDRESS", {"address"}},
            {"PORT", {}, port_col},
            {"WEIGHT", {"weight"}},
            {"STATE", {"state"}},
            {"ADMIN", {"admin"}},  // the control process's: drained by the operator or not
            {"HEALTH", {}, health_col},
            {"SLOTS", {"slots"}},
            {"PACKETS", {"packets"}},
            {"BYTES", {"bytes"}},
            {"NEW-FLOWS", {"new_flows"}},
            {"TRACKED", {"tracked_flows", "tracked"}},
        };
    } else if (what == "health") {
        s.rows_key = "health";
        s.columns = {
            {"VIP", {"vip"}},
            {"ADDRESS", {"address", "backend"}},
            {"PORT", {}, port_col},
            {"STATE", {"state"}},
            {"PROGRESS", {}, progress_col},
            {"LAST", {}, last_col},
            {"LAST-MS", {}, last_ms_col},
            {"CHECKS", {"checks"}},
            {"FAILURES", {"failures"}},
            {"TRANSITIONS", {"transitions"}},
            {"SINCE", {"since"}},
        };
        s.hidden = {"progress", "rise", "fall", "last", "last_result", "latency_ms", "probed", "probe_port"};
    } else if (what == "rdma") {
        // RDMA peers (docs/rdma.md, "Counters"); the rest of each peer's
        // counters are listed under the table.
        s.rows_key = "rdma";
        s.columns = {{"NAME", {"name"}},           {"STATE", {"state"}},        {"PHASE", {"phase"}},
                     {"DEVICE", {"device"}},       {"CREDITS", {"credits"}},    {"IN-FLIGHT", {"in_flight"}},
                     {"TX", {"tx_packets"}},       {"RX", {"rx_packets"}},      {"STALLS", {"credit_stalls"}},
                     {"RESETS", {"qp_resets"}},    {"LOST", {"lost_in_flight"}}};
        s.details = true;
    } else if (what == "workers") {
        // A worker: rx = forwarded + punted + dropped; the agent's own
        // counters and the per-reason drops are listed under the table.
        s.rows_key = "workers";
        s.columns = {{"NAME", {}, name_col},        {"LCORE", {"lcore", "core"}}, {"RX", {"rx"}},
                     {"FORWARDED", {"forwarded"}}, {"PUNTED", {"punted"}},       {"DROPPED", {"dropped"}},
                     {"POLLS", {"polls"}},         {"IDLE-POLLS", {"idle_polls"}}, {"SLEEPS", {"sleeps"}}};
        s.details = true;
        s.hidden = {"name"};
    }
    return s;
}

bool column_present(const Column& c, const std::vector<Row>& rows) {
    if (c.render) {
        // A custom column shows when some row renders something.
        for (const Row& r : rows)
            if (c.render(r) != "-") return true;
        return false;
    }
    for (const Row& r : rows)
        if (find_field(r.value, c.keys)) return true;
    return false;
}

// Every scalar field of the rows not consumed by a column, in first-seen
// order (nlohmann's objects are sorted by key, so the order is stable).
std::vector<std::string> rest_fields(const std::vector<Row>& rows, const std::set<std::string>& used) {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const Row& r : rows) {
        if (!r.value.is_object()) continue;
        for (auto it = r.value.begin(); it != r.value.end(); ++it) {
            if (used.count(it.key()) || seen.count(it.key())) continue;
            if (!is_scalar(it.value())) continue;
            seen.insert(it.key());
            out.push_back(it.key());
        }
    }
    return out;
}

// "nic: ipackets 12, opackets 3" for an object of scalars; one line per
// item for a list of objects.
std::string detail_lines(const std::string& key, const Json& v, const std::string& indent) {
    auto inline_obj = [](const Json& o) {
        std::string s;
        for (auto it = o.begin(); it != o.end(); ++it)
            s += (s.empty() ? "" : ", ") + it.key() + " " +
                 (is_scalar(it.value()) ? cell(it.value()) : it.value().dump());
        return s;
    };
    if (v.is_object()) return indent + key + ": " + inline_obj(v) + "\n";
    if (v.is_array() && !v.empty() && v.front().is_object()) {
        std::string s;
        for (size_t i = 0; i < v.size(); ++i)
            s += indent + key + "[" + std::to_string(i) + "]: " + (v[i].is_object() ? inline_obj(v[i]) : cell(v[i])) +
                 "\n";
        return s;
    }
    return indent + key + ": " + cell(v) + "\n";
}

std::string render_rows(const Spec& spec, const std::vector<Row>& rows) {
    std::vector<const Column*> cols;
    std::set<std::string> used(spec.hidden.begin(), spec.hidden.end());
    for (const Column& c : spec.columns) {
        for (const auto& k : c.keys) used.insert(k);
        if (column_present(c, rows)) cols.push_back(&c);
    }
    std::vector<Column> rest;
    if (spec.rest_columns)
        for (const auto& k : rest_fields(rows, used)) rest.push_back(Column{upper(k), {k}});
    Table t;
    for (const Column* c : cols) t.headers.push_back(c->header);
    for (const Column& c : rest) t.headers.push_back(c.header);
    for (const Row& r : rows) {
        std::vector<std::string> line;
        auto one = [&](const Column& c) {
            if (c.render) return c.render(r);
            const Json* v = find_field(r.value, c.keys);
            return v ? cell(*v) : std::string("-");
        };
        for (const Column* c : cols) line.push_back(one(*c));
        for (const Column& c : rest) line.push_back(one(c));
        t.rows.push_back(std::move(line));
    }
    std::string out = t.render();
    if (spec.details) {
        std::set<std::string> shown = used;
        for (const Column& c : rest) shown.insert(c.keys.front());
        std::string extra;
        for (const Row& r : rows) {
            if (!r.value.is_object()) continue;
            std::string scalars, lines;
            for (auto it = r.value.begin(); it != r.value.end(); ++it) {
                if (shown.count(it.key())) continue;
                if (is_scalar(it.value()))
                    scalars += (scalars.empty() ? "" : ", ") + it.key() + " " + cell(it.value());
                else
                    lines += detail_lines(it.key(), it.value(), "  ");
            }
            if (!scalars.empty()) lines = "  " + scalars + "\n" + lines;
            if (!lines.empty()) extra += "\n" + name_of(r) + ":\n" + lines;
        }
        out += extra;
    }
    return out;
}

// Scalars of the result besides its list ("untracked_new_flows"), as
// "key: value" lines under the table; an object of scalars on one line
// (its zero counters left out: "counts: v4_reachable 2").
std::string footer(const Json& result, const std::string& rows_key, const std::set<std::string>& skip = {}) {
    if (!result.is_object()) return "";
    std::string s;
    for (auto it = result.begin(); it != result.end(); ++it) {
        if (it.key() == rows_key || skip.count(it.key())) continue;
        const Json& v = it.value();
        if (is_scalar(v)) {
            s += it.key() + ": " + cell(v) + "\n";
        } else if (v.is_object() && !v.empty()) {
            std::string inl;
            bool flat = true;
            for (auto jt = v.begin(); jt != v.end(); ++jt) {
                if (!is_scalar(jt.value())) flat = false;
                else if (!(jt.value().is_number() && jt.value().get<double>() == 0))
                    inl += (inl.empty() ? "" : ", ") + jt.key() + " " + cell(jt.value());
            }
            if (flat && !inl.empty()) s += it.key() + ": " + inl + "\n";
        }
    }
    return s;
}

std::string format_drops(const Json& result, bool all) {
    // {"drops": {"reason": count}} or [{"reason", "count", "description"}],
    // or the reasons at the top level (the telemetry's /sluice/drops form).
    struct Drop {
        std::string reason;
        Json count;
        std::string description;
    };
    std::vector<Drop> drops;
    const Json* list = result.is_object() && result.contains("drops") ? &result["drops"] : &result;
    if (list->is_object()) {
        for (auto it = list->begin(); it != list->end(); ++it) {
            if (it.value().is_object()) {
                const Json* c = find_field(it.value(), {"count", "packets"});
                const Json* d = find_field(it.value(), {"description", "text"});
                drops.push_back({it.key(), c ? *c : Json(), d ? cell(*d) : ""});
            } else {
                drops.push_back({it.key(), it.value(), ""});
            }
        }
    } else if (list->is_array()) {
        for (const Json& d : *list) {
            const Json* n = find_field(d, {"reason", "name"});
            const Json* c = find_field(d, {"count", "packets"});
            const Json* t = find_field(d, {"description", "text"});
            drops.push_back({n ? cell(*n) : "?", c ? *c : Json(), t ? cell(*t) : ""});
        }
    }
    Table t;
    bool descr = false;
    for (const Drop& d : drops) descr = descr || !d.description.empty();
    t.headers = {"REASON", "COUNT"};
    if (descr) t.headers.push_back("DESCRIPTION");
    size_t hidden = 0;
    for (const Drop& d : drops) {
        const bool zero = d.count.is_number() && d.count.get<double>() == 0;
        if (zero && !all) {
            ++hidden;
            continue;
        }
        std::vector<std::string> row{d.reason, cell(d.count)};
        if (descr) row.push_back(d.description);
        t.rows.push_back(std::move(row));
    }
    if (t.rows.empty())
        return drops.empty() ? "no drop reasons in the result\n"
                             : "no drops (" + std::to_string(hidden) + " reasons at 0; --all lists them)\n";
    return t.render();
}

}  // namespace

std::string format_show(const std::string& what, const Json& result, bool all) {
    if (what == "drops") return format_drops(result, all);
    Spec spec = spec_for(what);
    if (spec.rows_key.empty()) return format_kv(result);
    // The health list may come under another name ("checks", "backends").
    std::vector<Row> rows = rows_of(result, spec.rows_key);
    std::string rows_key = spec.rows_key;
    if (rows.empty() && what == "health")
        for (const char* k : {"checks", "backends"})
            if (result.is_object() && result.contains(k)) {
                rows = rows_of(result, k);
                rows_key = k;
                break;
            }
    if (rows.empty()) {
        const bool has_list = result.is_array() || (result.is_object() && result.contains(rows_key));
        std::string s = has_list ? "no " + what + "\n" : format_kv(result);
        if (has_list) s += footer(result, rows_key, {"total", "offset", "limit"});
        return s;
    }
    std::string out = render_rows(spec, rows);
    if ((what == "routes" || what == "neighbors") && result.is_object()) {
        // "1000 of 1000000 routes shown": paging is the caller's
        // (--offset/--limit).
        uint64_t t = 0;
        if (const Json* total = field(result, {"total"}); total && as_u64(*total, &t)) {
            if (t > rows.size())
                out += std::to_string(rows.size()) + " of " + std::to_string(t) + " " + what +
                       " shown (--offset/--limit for more)\n";
            else
                out += std::to_string(t) + " " + (t == 1 ? what.substr(0, what.size() - 1) : what) + "\n";
        }
        return out + footer(result, rows_key, {"total", "offset", "limit"});
    }
    return out + footer(result, rows_key);
}

}  // namespace sluice::cli
