// Human output of sluicectl (format.hpp): the generic parts, tables,
// cells, rows, key: value lines, JSON and errors. The tables of each show
// are in show_format.cpp, the change summaries in change_format.cpp.
#include "control/cli/format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sluice::cli {

bool is_scalar(const Json& v) { return v.is_primitive(); }

std::string float_text(double d) {
    char buf[64];
    if (std::fabs(d - std::round(d)) < 1e-9 && std::fabs(d) < 1e15) {
        std::snprintf(buf, sizeof buf, "%.0f", d);
    } else {
        std::snprintf(buf, sizeof buf, "%.3f", d);
        // 0.500 -> 0.5: trailing zeros say nothing.
        std::string s = buf;
        while (!s.empty() && s.back() == '0') s.pop_back();
        if (!s.empty() && s.back() == '.') s.pop_back();
        return s;
    }
    return buf;
}

bool as_u64(const Json& v, uint64_t* out) {
    if (v.is_number_unsigned()) {
        *out = v.get<uint64_t>();
        return true;
    }
    if (v.is_number_integer() && v.get<int64_t>() >= 0) {
        *out = uint64_t(v.get<int64_t>());
        return true;
    }
    return false;
}

bool is_numeric_cell(const std::string& s) {
    if (s.empty() || s == "-" || s == "*") return true;
    bool digit = false;
    int dots = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c >= '0' && c <= '9') digit = true;
        else if (c == '.' && ++dots == 1) continue;  // 198.18.0.1 is an address, not a number
        else if (c == '-' && i == 0) continue;
        else if (i + 1 == s.size() && (c == 'k' || c == 'M' || c == 'G' || c == 'T')) continue;
        else return false;
    }
    return digit;
}

std::string Table::render() const {
    const size_t n = headers.size();
    std::vector<size_t> width(n, 0);
    std::vector<bool> right(n, true);
    for (size_t c = 0; c < n; ++c) {
        width[c] = headers[c].size();
        bool any = false;
        for (const auto& r : rows) {
            if (c >= r.size()) continue;
            width[c] = std::max(width[c], r[c].size());
            if (!r[c].empty() && r[c] != "-") any = true;
            if (!is_numeric_cell(r[c])) right[c] = false;
        }
        if (!any) right[c] = false;  // a column of dashes reads better on the left
    }
    std::string out;
    auto line = [&](const std::vector<std::string>& cells) {
        std::string l;
        for (size_t c = 0; c < n; ++c) {
            const std::string& v = c < cells.size() ? cells[c] : std::string();
            if (c) l += "  ";
            const size_t pad = width[c] - std::min(width[c], v.size());
            if (right[c]) l += std::string(pad, ' ') + v;
            else l += v + std::string(pad, ' ');
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        out += l + "\n";
    };
    line(headers);
    for (const auto& r : rows) line(r);
    return out;
}

std::string cell(const Json& v) {
    switch (v.type()) {
        case Json::value_t::null: return "-";
        case Json::value_t::boolean: return v.get<bool>() ? "yes" : "no";
        case Json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
        case Json::value_t::number_integer: return std::to_string(v.get<int64_t>());
        case Json::value_t::number_float: return float_text(v.get<double>());
        case Json::value_t::string: {
            std::string s = v.get<std::string>();
            return s.empty() ? "-" : s;
        }
        case Json::value_t::array: {
            if (v.empty()) return "-";
            std::string s;
            for (const Json& e : v) s += (s.empty() ? "" : ",") + (is_scalar(e) ? cell(e) : e.dump());
            return s;
        }
        default: return v.dump();
    }
}

std::vector<Row> rows_of(const Json& result, const std::string& key) {
    const Json* list = nullptr;
    if (result.is_object() && result.contains(key)) list = &result[key];
    else if (result.is_array()) list = &result;
    std::vector<Row> rows;
    if (!list) return rows;
    if (list->is_array()) {
        for (const Json& r : *list) rows.push_back(Row{"", r});
    } else if (list->is_object()) {
        for (auto it = list->begin(); it != list->end(); ++it)
            if (it.value().is_object()) rows.push_back(Row{it.key(), it.value()});
    }
    return rows;
}

const Json* field(const Json& row, std::initializer_list<const char*> names) {
    if (!row.is_object()) return nullptr;
    for (const char* n : names) {
        auto it = row.find(n);
        if (it != row.end()) return &*it;
    }
    return nullptr;
}

std::string format_kv(const Json& v, int indent) {
    const std::string pad(size_t(indent) * 2, ' ');
    std::string out;
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) {
            const Json& x = it.value();
            if (x.is_object() && !x.empty()) {
                out += pad + it.key() + ":\n" + format_kv(x, indent + 1);
            } else if (x.is_array() && !x.empty() && !is_scalar(x.front())) {
                out += pad + it.key() + ":\n";
                for (const Json& e : x) {
                    if (e.is_object()) {
                        std::string s;
                        for (auto jt = e.begin(); jt != e.end(); ++jt)
                            s += (s.empty() ? "" : ", ") + jt.key() + " " +
                                 (is_scalar(jt.value()) ? cell(jt.value()) : jt.value().dump());
                        out += pad + "  - " + s + "\n";
                    } else {
                        out += pad + "  - " + cell(e) + "\n";
                    }
                }
            } else {
                out += pad + it.key() + ": " + cell(x) + "\n";
            }
        }
        return out;
    }
    return pad + cell(v) + "\n";
}

std::string format_json(const Json& result) { return result.dump(2) + "\n"; }

std::string format_error(const channel::Error& e) {
    std::string out = std::string("sluicectl: ") + channel::to_string(e.code) + ": ";
    if (!e.field.empty()) out += e.field + ": ";
    out += e.message + "\n";
    for (const auto& item : e.errors) {
        out += "  ";
        // A reload error's message names its field after file:line itself
        // ("sluice.yaml:24:13: routes[0].prefix: ..."): no second copy.
        if (!item.what.empty() && item.message.find(item.what) == std::string::npos) out += item.what + ": ";
        out += item.message + "\n";
    }
    return out;
}

}  // namespace sluice::cli
