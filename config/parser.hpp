// Internal to the config library: the YAML reader that parse_config() runs
// (parse.cpp: the document, workers, neighbor, icmp, ports, routes and
// static neighbors; parse_lb.cpp: the load balancer's lb and vips;
// parse_control.cpp: control and each VIP's health; parse_rdma.cpp: rdma).
// The generic machinery is here so every section gets the same
// unknown-field suggestions, duplicate-field errors, type errors and
// recorded positions.
//
// Typing errors (unknown fields, wrong types, numbers that do not fit,
// malformed addresses) are collected over the whole document; semantic
// validation runs only when typing succeeded, so its messages never talk
// about half-read values. While reading, the parser records where every
// field came from (canonical model path -> line/column and the path as
// written), so validate()'s errors, phrased against the model
// ("routes[3].nexthops[1].via"), come back naming what the operator wrote
// ("routes[3].via[1]") and the exact line.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "config/load.hpp"
#include "config/quote.hpp"
#include "config/route_file.hpp"
#include "config/rules.hpp"

namespace sluice::config::detail {

inline constexpr size_t kMaxNodes = 1000000;  // against alias blow-ups

inline SourceMark to_mark(const YAML::Mark& m) {
    if (m.line < 0 || m.column < 0) return {};
    return {m.line + 1, m.column + 1};
}

// "\"text\"" with control characters escaped (newline and tab by name),
// cut at 60 characters.
inline std::string quote(std::string_view s) { return config::quote(s, Escape::newline_tab_by_name); }

inline std::string describe(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Scalar: return quote(n.Scalar());
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Map: return "a map";
        default: return "nothing";
    }
}

inline std::string join(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }
inline std::string item_path(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

inline size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            char x = char(std::tolower(static_cast<unsigned char>(a[i - 1])));
            char y = char(std::tolower(static_cast<unsigned char>(b[j - 1])));
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (x == y ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// Why text is not a prefix, for the error message.
inline std::string prefix_reason(const std::string& s) {
    if (s.find_first_of(" \t") != std::string::npos) return "contains spaces";
    size_t slash = s.find('/');
    if (slash == std::string::npos) return "missing \"/length\"";
    std::string addr = s.substr(0, slash), len = s.substr(slash + 1);
    auto a = parse_ip(addr);
    if (!a) return quote(addr) + " is not an IPv4 or IPv6 address";
    if (len.empty()) return "missing the length after \"/\"";
    if (!std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return "the length must be a plain decimal number";
    if (len.size() > 1 && len[0] == '0') return "the length has a leading zero";
    return a->is_v4() ? "IPv4 prefix length must be 0..32" : "IPv6 prefix length must be 0..128";
}

struct Loc {
    std::string display;  // the path as the operator wrote it
    SourceMark mark;
};

struct Field {
    const char* name;
    std::function<void(const YAML::Node& value, const std::string& path)> fn;
};

class Parser {
public:
    explicit Parser(std::string file) : file_(std::move(file)) { cfg_.source = file_; }

    LoadResult run(std::string_view text) {
        const std::string yaml(text);
        YAML::Node doc;
        try {
            if (!check_documents(yaml)) return finish_errors();
            doc = YAML::Load(yaml);
        } catch (const YAML::DeepRecursion& e) {
            error(to_mark(e.mark), "", "YAML syntax error: lists and maps nested too deeply");
            return finish_errors();
        } catch (const YAML::Exception& e) {
            error(to_mark(e.mark), "", "YAML syntax error: " + e.msg);
            return finish_errors();
        }
        root(doc);
        if (!errs_.empty()) return finish_errors();
        read_route_files(cfg_, file_, errs_);
        if (!errs_.empty()) return finish_errors();

        // Consumers never search for a gateway's port: validation fills it in.
        errs_ = rules::validate_filling_ports(cfg_);
        if (!errs_.empty()) {
            for (auto& e : errs_) refine(e);
            return finish_errors();
        }
        return LoadResult(std::move(cfg_));
    }

private:
    // Exactly one document, checked with yaml-cpp's event parser and not
    // YAML::LoadAll: on a stray "," yaml-cpp 0.7 returns empty documents
    // that consume nothing, and LoadAll loops until memory runs out
    // (jbeder/yaml-cpp#1040; fixed upstream in 2024 by #1319). Such a
    // document starts where the previous one did; that is a syntax error.
    bool check_documents(const std::string& yaml) {
        struct Starts : YAML::EventHandler {
            std::vector<YAML::Mark> marks;
            void OnDocumentStart(const YAML::Mark& m) override { marks.push_back(m); }
            void OnDocumentEnd() override {}
            void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
            void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
            void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
            void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                                 YAML::EmitterStyle::value) override {}
            void OnSequenceEnd() override {}
            void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
            void OnMapEnd() override {}
        } starts;
        std::istringstream in(yaml);
        YAML::Parser parser(in);
        while (parser.HandleNextDocument(starts)) {
            const auto& m = starts.marks;
            if (m.size() >= 2 && m[m.size() - 1].pos == m[m.size() - 2].pos) {
                const YAML::Mark& at = m.back();
                std::string what = at.pos >= 0 && size_t(at.pos) < yaml.size() ? quote(yaml.substr(size_t(at.pos), 1))
                                                                              : std::string("text");
                error(to_mark(at), "", "YAML syntax error: unexpected " + what);
                return false;
            }
            if (m.size() > 2) break;  // enough to tell "more than one"
        }
        if (starts.marks.size() > 1) {
            error(to_mark(starts.marks[1]), "",
                  "expected one YAML document, found more; remove the \"---\" separators");
            return false;
        }
        return true;
    }

    // ---- errors and positions -------------------------------------------

    void error(const SourceMark& m, std::string field, std::string msg) {
        errs_.push_back(rules::error_at(file_, m, std::move(field), std::move(msg)));
    }
    void error(const YAML::Node& at, std::string field, std::string msg) {
        error(mark_of(at), std::move(field), std::move(msg));
    }

    // An empty value's own mark points past it (at the next token), so
    // empty values are reported at their key (last_mark_).
    SourceMark mark_of(const YAML::Node& n) const {
        if (n.IsNull()) return last_mark_.line > 0 ? last_mark_ : to_mark(n.Mark());
        SourceMark m = to_mark(n.Mark());
        return m.line > 0 ? m : last_mark_;
    }

    // Appends to a log; the lookup index is only built when validation
    // fails (a large valid config should not pay for a hash table).
    void record(std::string canonical, std::string display, const SourceMark& m) {
        locs_.emplace_back(std::move(canonical), Loc{std::move(display), m});
    }

    // Rewrites a validate() error with the path as written and the position
    // of the closest recorded field (the field itself, else its parent).
    void refine(ConfigError& e) {
        if (e.file != file_) return;  // a route file's error already says where
        if (index_.empty())
            for (const auto& [k, loc] : locs_) index_[k] = &loc;  // later records win
        std::string key = e.field;
        while (true) {
            auto it = index_.find(key);
            if (it != index_.end()) {
                e.field = it->second->display + e.field.substr(key.size());
                if (it->second->mark.line > 0) {
                    e.line = it->second->mark.line;
                    e.column = it->second->mark.column;
                }
                return;
            }
            size_t cut = key.find_last_of(".[");
            if (cut == std::string::npos || cut == 0) return;
            key.resize(cut);
        }
    }

    LoadResult finish_errors() {
        // The config file's errors first, then each route file's, each by position.
        std::stable_sort(errs_.begin(), errs_.end(), [&](const ConfigError& a, const ConfigError& b) {
            return std::make_tuple(a.file != file_, a.line, a.column) < std::make_tuple(b.file != file_, b.line, b.column);
        });
        return LoadResult(std::move(errs_));
    }

    bool budget() {
        if (too_large_) return false;
        if (++nodes_ <= kMaxNodes) return true;
        too_large_ = true;
        error(last_mark_, "", "configuration too large: more than " + std::to_string(kMaxNodes) + " values");
        return false;
    }

    // ---- generic shapes -------------------------------------------------

    // Reads a map: dispatches known fields, reports unknown and duplicate
    // ones. Returns the names seen. A null node ("workers:" alone) is an
    // empty map.
    std::set<std::string> fields(const YAML::Node& n, const std::string& path, const std::vector<Field>& fs,
                                 const std::string& what, bool null_is_empty = true) {
        std::set<std::string> seen;
        if (n.IsNull() && null_is_empty) return seen;
        if (!n.IsMap()) {
            error(n, path, "expected " + what + ", got " + describe(n));
            return seen;
        }
        std::map<std::string, SourceMark> first;
        for (auto it = n.begin(); it != n.end(); ++it) {
            if (!budget()) return seen;
            const YAML::Node k = it->first;  // copies: it-> is a temporary proxy
            const YAML::Node v = it->second;
            SourceMark km = mark_of(k);
            last_mark_ = km;
            if (!k.IsScalar()) {
                error(km, path, "expected a field name, got " + describe(k));
                continue;
            }
            const std::string key = k.Scalar();
            const std::string fp = join(path, key);
            const Field* f = nullptr;
            for (const auto& x : fs)
                if (key == x.name) f = &x;
            if (!f) {
                error(km, fp, unknown_field(key, fs));
                continue;
            }
            if (auto [at, fresh] = first.emplace(key, km); !fresh) {
                error(km, fp, "duplicate field \"" + key + "\" (first set on line " + std::to_string(at->second.line) + ")");
                continue;
            }
            seen.insert(key);
            SourceMark vm = to_mark(v.Mark());
            value_mark_ = vm.line > 0 && !v.IsNull() ? vm : km;
            record(fp, fp, value_mark_);
            f->fn(v, fp);
        }
        return seen;
    }

    static std::string unknown_field(const std::string& key, const std::vector<Field>& fs) {
        std::string msg = "unknown field " + quote(key);
        const char* best = nullptr;
        size_t best_d = 3;
        for (const auto& f : fs) {
            size_t d = edit_distance(key, f.name);
            size_t limit = std::string_view(f.name).size() <= 4 ? 1 : 2;
            if (d <= limit && d < best_d) {
                best = f.name;
                best_d = d;
            }
        }
        if (best) msg += std::string(" (did you mean \"") + best + "\"?)";
        msg += "; expected one of: ";
        for (size_t i = 0; i < fs.size(); ++i) msg += (i ? ", " : "") + std::string(fs[i].name);
        return msg;
    }

    void missing(const YAML::Node& map, const std::string& path, const std::string& name, const std::string& hint) {
        error(map, join(path, name), "required field \"" + name + "\" is missing; expected " + hint);
    }

    // Reads a list; a null node ("routes:" alone) is an empty list.
    void list(const YAML::Node& v, const std::string& path, const std::string& what,
              const std::function<void(const YAML::Node&, const std::string&, size_t)>& each) {
        if (v.IsNull()) return;
        if (!v.IsSequence()) {
            error(v, path, "expected " + what + ", got " + describe(v));
            return;
        }
        size_t i = 0;
        int prev_line = 0;
        for (auto it = v.begin(); it != v.end(); ++it, ++i) {
            if (!budget()) return;
            const YAML::Node item = *it;
            const std::string ip = item_path(path, i);
            SourceMark m = mark_of(item);
            if (item.IsNull()) {
                // An empty item ("-" alone) has the mark of the next token.
                // The first one is where the list starts; later ones in a
                // block list are on the line before that token.
                if (i == 0) {
                    m = to_mark(v.Mark());
                } else if (v.Style() != YAML::EmitterStyle::Flow) {
                    m = to_mark(item.Mark());
                    m.line = std::max(prev_line + 1, m.line - 1);
                    m.column = 0;
                }
            }
            prev_line = m.line;
            last_mark_ = item_mark_ = m;
            record(ip, ip, m);
            each(item, ip, i);
        }
    }

    // ---- scalars ----------------------------------------------------------

    bool text(const YAML::Node& v, const std::string& path, const std::string& expect, std::string* out) {
        if (!v.IsScalar()) {
            error(v, path, "expected " + expect + ", got " + describe(v));
            return false;
        }
        *out = v.Scalar();
        return true;
    }

    template <class T>
    void number(const YAML::Node& v, const std::string& path, const rules::Range& r, T& out) {
        const std::string expect = r.text;
        std::string s;
        if (!text(v, path, expect, &s)) return;
        std::string why;
        uint64_t val = 0;
        if (!s.empty() && s[0] == '-' && s.size() > 1) {
            why = " (negative)";
        } else if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            why = "";
        } else if (s.size() > 1 && s[0] == '0') {
            why = " (leading zeros are not allowed)";
        } else {
            bool overflow = s.size() > 20;
            for (char c : s) {
                if (overflow) break;
                uint64_t d = uint64_t(c - '0');
                if (val > (UINT64_MAX - d) / 10) overflow = true;
                else val = val * 10 + d;
            }
            if (overflow || val > std::numeric_limits<T>::max()) why = " (too large)";
            else {
                out = T(val);
                return;
            }
        }
        error(v, path, "expected " + expect + ", got " + quote(s) + why);
    }

    void boolean(const YAML::Node& v, const std::string& path, bool& out) {
        std::string s;
        if (!text(v, path, "true or false", &s)) return;
        if (s == "true" || s == "True" || s == "TRUE") out = true;
        else if (s == "false" || s == "False" || s == "FALSE") out = false;
        else error(v, path, "expected true or false, got " + quote(s));
    }

    bool ip(const YAML::Node& v, const std::string& path, IpAddr* out) {
        static const std::string expect = "an IPv4 or IPv6 address like 198.18.1.2 or 2001:db8:1::2";
        std::string s;
        if (!text(v, path, expect, &s)) return false;
        auto a = parse_ip(s);
        if (!a) {
            error(v, path, "expected " + expect + ", got " + quote(s));
            return false;
        }
        *out = *a;
        return true;
    }

    void mac(const YAML::Node& v, const std::string& path, MacAddr* out) {
        static const std::string expect = "a MAC address like 02:00:00:00:00:01";
        std::string s;
        if (!text(v, path, expect, &s)) return;
        auto m = parse_mac(s);
        if (!m) {
            error(v, path, "expected " + expect + ", got " + quote(s));
            return;
        }
        *out = *m;
    }

    void prefix(const YAML::Node& v, const std::string& path, const std::string& expect, Prefix* out) {
        std::string s;
        if (!text(v, path, expect, &s)) return;
        auto p = parse_prefix(s);
        if (!p) {
            error(v, path, "expected " + expect + ", got " + quote(s) + " (" + prefix_reason(s) + ")");
            return;
        }
        *out = *p;
    }

    // ---- the document (parse.cpp) ---------------------------------------

    void root(const YAML::Node& n);
    void workers(const YAML::Node& n, const std::string& path);
    void neighbor(const YAML::Node& n, const std::string& path);
    void icmp(const YAML::Node& n, const std::string& path);
    void port(const YAML::Node& n, const std::string& path);
    void route(const YAML::Node& n, const std::string& R);
    void static_neighbor(const YAML::Node& n, const std::string& path);

    // ---- the load balancer (parse_lb.cpp) --------------------------------

    void lb(const YAML::Node& n, const std::string& path);
    void vip(const YAML::Node& n, const std::string& path);
    void backend(const YAML::Node& n, const std::string& path, api::Backend& out);
    void encap_source(const YAML::Node& v, const std::string& path, std::vector<Prefix>& out);

    // ---- the control side (parse_control.cpp) ------------------------------

    void control(const YAML::Node& n, const std::string& path);
    void cores(const YAML::Node& v, const std::string& path, std::vector<uint32_t>& out);
    void health(const YAML::Node& n, const std::string& path, VipConfig& vip);

    // ---- RDMA peers (parse_rdma.cpp) ---------------------------------------

    void rdma(const YAML::Node& n, const std::string& path);
    void rdma_peer(const YAML::Node& n, const std::string& path);

    // One of a few names ("tcp", "udp", "both") -> its value.
    template <class E>
    bool choice(const YAML::Node& v, const std::string& path, std::initializer_list<std::pair<const char*, E>> names,
                E& out) {
        std::string expect;
        size_t i = 0;
        for (const auto& [name, value] : names) {
            expect += i == 0 ? "" : i + 1 == names.size() ? " or " : ", ";
            expect += name;
            ++i;
        }
        std::string s;
        if (!text(v, path, expect, &s)) return false;
        for (const auto& [name, value] : names)
            if (s == name) {
                out = value;
                return true;
            }
        error(v, path, "expected " + expect + ", got " + quote(s));
        return false;
    }

    std::string file_;
    Config cfg_;
    std::vector<ConfigError> errs_;
    std::vector<std::pair<std::string, Loc>> locs_;               // canonical path -> where
    std::unordered_map<std::string_view, const Loc*> index_;      // built by refine()
    SourceMark value_mark_;  // of the field fields() is dispatching
    SourceMark item_mark_;   // of the item list() is dispatching
    SourceMark last_mark_;  // fallback for nodes without a position (empty values)
    size_t nodes_ = 0;
    bool too_large_ = false;
};

}  // namespace sluice::config::detail
