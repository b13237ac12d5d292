// Argument checks of sluicectl (args.hpp).
#include "control/cli/args.hpp"

#include <algorithm>

#include "api/net.hpp"

namespace sluice::cli {

namespace {

// The limits of docs/config.md ("Limits", "routes[]").
constexpr size_t kMaxNextHops = 64;

std::string family_name(const net::IpAddr& a) { return a.is_v4() ? "IPv4" : "IPv6"; }

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::string join_or(const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += (i + 1 == v.size()) ? " or " : ", ";
        out += v[i];
    }
    return out;
}

}  // namespace

bool parse_number(const std::string& text, uint64_t min, uint64_t max, const std::string& what, uint64_t* out,
                  std::string* err) {
    auto fail = [&] {
        *err = "expected " + what + " " + std::to_string(min) + ".." + std::to_string(max) + ", got \"" + text + "\"";
        return false;
    };
    // The config file's number syntax: digits only, no sign, no leading zero.
    if (text.empty() || text.size() > 20) return fail();
    if (text.size() > 1 && text[0] == '0') return fail();
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return fail();
        uint64_t d = uint64_t(c - '0');
        if (v > (UINT64_MAX - d) / 10) return fail();
        v = v * 10 + d;
    }
    if (v < min || v > max) return fail();
    *out = v;
    return true;
}

bool check_address(const std::string& text, const std::string& what, std::string* canonical, std::string* err) {
    auto a = net::parse_ip(text);
    if (!a) {
        *err = "expected " + what + " (an IPv4 or IPv6 address like 198.18.0.1 or 2001:db8::1), got \"" + text + "\"";
        return false;
    }
    *canonical = net::to_string(*a);
    return true;
}

bool check_prefix(const std::string& text, std::string* canonical, std::string* err) {
    auto p = net::parse_prefix(text);
    if (!p) {
        *err = "expected an IPv4 or IPv6 prefix like 198.18.0.0/24 or 2001:db8::/48, got \"" + text + "\"";
        if (text.find('/') == std::string::npos && net::parse_ip(text))
            *err += " (a prefix needs a length: /32 or /128 for one address)";
        return false;
    }
    if (!net::is_network(*p)) {
        *err = "host bits are set in " + text + "; did you mean " + net::to_string(net::network_of(*p)) + "?";
        return false;
    }
    *canonical = net::to_string(*p);
    return true;
}

bool check_port_name(const std::string& text, std::string* err) {
    bool ok = !text.empty() && text.size() <= 15;
    for (char c : text)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) ok = false;
    if (!ok) *err = "expected a port name of 1..15 characters from a-z, 0-9, '_' and '-', got \"" + text + "\"";
    return ok;
}

bool check_vip_name(const std::string& text, std::string* err) {
    bool ok = !text.empty() && text.size() <= 32;
    for (char c : text)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            ok = false;
    if (!ok)
        *err = "expected a VIP name of 1..32 characters from A-Z, a-z, 0-9, '_', '.' and '-', got \"" + text + "\"";
    return ok;
}

bool build_route(const std::string& prefix_text, const std::vector<std::string>& words, Json* route,
                 std::string* err) {
    std::string prefix;
    if (!check_prefix(prefix_text, &prefix, err)) return false;
    const net::Prefix p = *net::parse_prefix(prefix);
    if (words.empty()) {
        *err = "route " + prefix + " needs a next hop: via ADDRESS [dev PORT] (repeat for ECMP) or dev PORT";
        return false;
    }
    struct Hop {
        std::optional<net::IpAddr> via;
        std::string port;
    };
    std::vector<Hop> hops;
    for (size_t i = 0; i < words.size(); ++i) {
        const std::string& w = words[i];
        const bool is_via = w == "via";
        const bool is_dev = w == "dev" || w == "port";
        if (!is_via && !is_dev) {
            *err = "unexpected \"" + w + "\": expected via ADDRESS or dev PORT";
            return false;
        }
        if (i + 1 == words.size()) {
            *err = "\"" + w + "\" needs " + (is_via ? "an address" : "a port name");
            return false;
        }
        const std::string& v = words[++i];
        if (is_via) {
            auto a = net::parse_ip(v);
            if (!a) {
                *err = "via: expected a gateway address like 198.18.1.2 or 2001:db8:1::2, got \"" + v + "\"";
                return false;
            }
            if (a->family != p.addr.family) {
                *err = "gateway " + net::to_string(*a) + " is " + family_name(*a) + " but the prefix " + prefix +
                       " is " + family_name(p.addr) + "; a next hop must be of the prefix's family";
                return false;
            }
            hops.push_back(Hop{a, ""});
        } else {
            if (!check_port_name(v, err)) {
                *err = w + ": " + *err;
                return false;
            }
            // `dev` belongs to the gateway just written; alone (or after a
            // gateway that has its port) it is an on-link next hop.
            if (!hops.empty() && hops.back().via && hops.back().port.empty()) hops.back().port = v;
            else hops.push_back(Hop{std::nullopt, v});
        }
    }
    if (hops.size() > kMaxNextHops) {
        *err = "expected at most " + std::to_string(kMaxNextHops) + " next hops, got " + std::to_string(hops.size());
        return false;
    }
    Json nh = Json::array();
    for (size_t i = 0; i < hops.size(); ++i) {
        const Hop& h = hops[i];
        if (h.via && net::is_link_local6(*h.via) && h.port.empty()) {
            *err = "link-local gateway " + net::to_string(*h.via) + " needs dev PORT (it is valid on one link only)";
            return false;
        }
        for (size_t j = 0; j < i; ++j)
            if (hops[j].via == h.via && hops[j].port == h.port) {
                *err = "next hop " + std::to_string(i + 1) + " repeats next hop " + std::to_string(j + 1);
                return false;
            }
        Json o = Json::object();
        if (h.via) o["via"] = net::to_string(*h.via);
        if (!h.port.empty()) o["port"] = h.port;
        nh.push_back(std::move(o));
    }
    *route = Json{{"prefix", prefix}, {"nexthops", std::move(nh)}};
    return true;
}

bool parse_backend_words(const std::string& address, const std::vector<std::string>& words,
                         const std::vector<std::string>& allowed, BackendWords* out, std::string* err) {
    if (!check_address(address, "a backend address", &out->address, err)) return false;
    for (size_t i = 0; i < words.size(); ++i) {
        const std::string& w = words[i];
        if (!contains(allowed, w)) {
            std::vector<std::string> forms;
            for (const auto& a : allowed) forms.push_back(a + " N");
            *err = "unexpected \"" + w + "\"" + (forms.empty() ? ": nothing may follow the address"
                                                                 : ": expected " + join_or(forms));
            return false;
        }
        if (i + 1 == words.size()) {
            *err = "\"" + w + "\" needs a number";
            return false;
        }
        const std::string& v = words[++i];
        uint64_t n = 0;
        if (w == "port") {
            if (out->port) {
                *err = "port given twice";
                return false;
            }
            // docs/config.md backends[].port: 1..65535 (leave it out to keep
            // the packet's destination port).
            if (!parse_number(v, 1, 65535, "a backend port", &n, err)) return false;
            out->port = uint16_t(n);
        } else {
            if (out->weight) {
                *err = "weight given twice";
                return false;
            }
            if (!parse_number(v, 0, 10000, "a weight", &n, err)) return false;
            out->weight = uint32_t(n);
        }
    }
    return true;
}

}  // namespace sluice::cli
