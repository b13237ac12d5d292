// JSON forms of the channel's values (docs/control-protocol.md, "Values").
// The decoders are the channel's equivalent of the config file's typing
// pass: exact field names, unknown fields refused, every error naming the
// field's path in the message and what was expected. Semantic checks that
// need the whole state (ports exist, families match the mode, ...) stay with
// the tables, which answer `rejected`.
#include "control/api/codec.hpp"

#include <initializer_list>
#include <utility>

#include "config/quote.hpp"

namespace sluice::channel {

namespace {

std::string join(const std::string& at, const char* key) { return at.empty() ? std::string(key) : at + "." + key; }
std::string item_path(const std::string& at, size_t i) { return at + "[" + std::to_string(i) + "]"; }

// "\"text\"", cut at 60 characters, control characters escaped: values come
// from untrusted peers and end up in logs.
using config::quote;

std::string describe(const Json& j) {
    switch (j.type()) {
        case Json::value_t::null: return "null";
        case Json::value_t::object: return "an object";
        case Json::value_t::array: return "an array";
        case Json::value_t::string: return quote(j.get_ref<const std::string&>());
        case Json::value_t::boolean: return j.get<bool>() ? "true" : "false";
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
        case Json::value_t::number_float: return j.dump();
        case Json::value_t::binary: return "binary data";
        case Json::value_t::discarded: return "nothing";
    }
    return "?";
}

bool fail(FieldError* err, std::string field, std::string message) {
    if (err) {
        err->field = std::move(field);
        err->message = std::move(message);
    }
    return false;
}

bool expected(FieldError* err, const std::string& field, const std::string& what, const Json& got) {
    return fail(err, field, "expected " + what + ", got " + describe(got));
}

// j must be an object whose keys are all in `keys`.
bool object_with(const Json& j, const std::string& at, std::initializer_list<const char*> keys, const char* what,
                 FieldError* err) {
    if (!j.is_object()) return expected(err, at, what, j);
    for (const auto& [k, v] : j.items()) {
        bool known = false;
        for (const char* x : keys) known = known || k == x;
        if (known) continue;
        std::string msg = "unknown field " + quote(k) + "; expected one of: ";
        size_t i = 0;
        for (const char* x : keys) msg += (i++ ? ", " : "") + std::string(x);
        return fail(err, at.empty() ? k : at + "." + k, msg);
    }
    return true;
}

// The value of `key`, or null when absent or null (an optional field
// written as null reads as left out).
const Json* member(const Json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
}

bool missing(FieldError* err, const std::string& at, const char* key, const std::string& what) {
    return fail(err, join(at, key), std::string("required field \"") + key + "\" is missing; expected " + what);
}

// A whole number in [min, max]. Numbers built in code are signed integers,
// numbers parsed off the wire non-negative ones are unsigned: both count.
bool whole(const Json& j, const std::string& at, uint64_t min, uint64_t max, const std::string& what,
           uint64_t* out, FieldError* err) {
    uint64_t v = 0;
    if (j.is_number_unsigned()) v = j.get<uint64_t>();
    else if (j.is_number_integer() && j.get<int64_t>() >= 0) v = uint64_t(j.get<int64_t>());
    else return expected(err, at, what, j);
    if (v < min || v > max) return expected(err, at, what, j);
    *out = v;
    return true;
}

template <class T>
bool opt_whole(const Json& obj, const std::string& at, const char* key, uint64_t min, uint64_t max,
               const std::string& what, T* out, FieldError* err) {
    const Json* v = member(obj, key);
    if (!v) return true;
    uint64_t x = 0;
    if (!whole(*v, join(at, key), min, max, what, &x, err)) return false;
    *out = T(x);
    return true;
}

template <class E>
struct Name {
    const char* name;
    E value;
};

template <class E>
bool choice(const Json& j, const std::string& at, std::initializer_list<Name<E>> names, E* out, FieldError* err) {
    std::string what;
    size_t i = 0;
    for (const auto& n : names) {
        what += i == 0 ? "" : i + 1 == names.size() ? " or " : ", ";
        what += n.name;
        ++i;
    }
    if (j.is_string()) {
        const auto& s = j.get_ref<const std::string&>();
        for (const auto& n : names)
            if (s == n.name) {
                *out = n.value;
                return true;
            }
    }
    return expected(err, at, what, j);
}

bool name_text(const Json& j, const std::string& at, const std::string& what, std::string* out, FieldError* err) {
    if (!j.is_string()) return expected(err, at, what, j);
    const auto& s = j.get_ref<const std::string&>();
    if (s.empty()) return fail(err, at, "expected " + what + ", got an empty string");
    *out = s;
    return true;
}

bool network_prefix(const Json& j, const std::string& at, net::Prefix* out, FieldError* err) {
    if (!from_json(j, at, out, err)) return false;
    if (!net::is_network(*out))
        return fail(err, at,
                    "host bits set: did you mean " + net::to_string(net::network_of(*out)) + "? (got " +
                        net::to_string(*out) + ")");
    return true;
}

bool is_prime(uint32_t n) {
    if (n < 2) return false;
    for (uint32_t d = 2; uint64_t(d) * d <= n; ++d)
        if (n % d == 0) return false;
    return true;
}

// The config file's VIP name rule (config/validate_lb.cpp): names become
// counter labels and log fields.
bool valid_vip_name(const std::string& n) {
    if (n.empty() || n.size() > 32) return false;
    for (char c : n) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

const std::string kAddrWhat = "an IPv4 or IPv6 address like 198.18.1.2 or 2001:db8:1::2";
const std::string kPrefixWhat = "an IPv4 or IPv6 prefix like 198.18.0.0/24 or 2001:db8::/32";
const std::string kMacWhat = "a MAC address like 02:00:00:00:00:01";
const std::string kPortNameWhat = "a port name like p0";

// Runs a decoder and turns a stray exception (bad_alloc) into an error:
// decoders are called on untrusted input and must not throw.
template <class F>
bool guarded(const std::string& at, FieldError* err, F&& f) {
    try {
        return f();
    } catch (const std::exception& e) {
        return fail(err, at, std::string("internal error while decoding: ") + e.what());
    }
}

}  // namespace

// ---- encoders ---------------------------------------------------------------

Json to_json(const net::IpAddr& a) { return net::to_string(a); }
Json to_json(const net::Prefix& p) { return net::to_string(p); }
Json mac_to_json(const net::MacAddr& m) { return net::to_string(m); }

Json to_json(const config::Route& r) {
    Json hops = Json::array();
    for (const auto& h : r.nexthops) {
        Json o = Json::object();
        if (h.via) o["via"] = to_json(*h.via);
        if (!h.port.empty()) o["port"] = h.port;
        hops.push_back(std::move(o));
    }
    return Json{{"prefix", to_json(r.prefix)}, {"nexthops", std::move(hops)}};
}

Json to_json(const config::StaticNeighbor& n) {
    return Json{{"port", n.port}, {"address", to_json(n.address)}, {"mac", mac_to_json(n.mac)}};
}

Json to_json(const api::Backend& b) {
    return Json{{"address", to_json(b.address)},
                {"port", b.port},
                {"weight", b.weight},
                {"state", api::to_string(b.state)}};
}

Json to_json(const api::Vip& v) {
    Json enc = Json::array();
    for (const auto& p : v.encap_source) enc.push_back(to_json(p));
    Json backends = Json::array();
    for (const auto& b : v.backends) backends.push_back(to_json(b));
    return Json{{"name", v.name},
                {"address", to_json(v.key.address)},
                {"protocol", api::to_string(v.key.proto)},
                {"port", v.key.port},
                {"mode", api::to_string(v.mode)},
                {"table_size", v.table_size},
                {"hash", api::to_string(v.hash)},
                {"on_backend_down", api::to_string(v.on_down)},
                {"encap_source", std::move(enc)},
                {"gue_port", v.gue_port},
                {"backends", std::move(backends)}};
}

// ---- decoders ---------------------------------------------------------------

bool from_json(const Json& j, const std::string& at, net::IpAddr* out, FieldError* err) {
    return guarded(at, err, [&] {
        if (!j.is_string()) return expected(err, at, kAddrWhat, j);
        auto a = net::parse_ip(j.get_ref<const std::string&>());
        if (!a) return expected(err, at, kAddrWhat, j);
        *out = *a;
        return true;
    });
}

bool from_json(const Json& j, const std::string& at, net::Prefix* out, FieldError* err) {
    return guarded(at, err, [&] {
        if (!j.is_string()) return expected(err, at, kPrefixWhat, j);
        auto p = net::parse_prefix(j.get_ref<const std::string&>());
        if (!p) return expected(err, at, kPrefixWhat, j);
        *out = *p;
        return true;
    });
}

bool mac_from_json(const Json& j, const std::string& at, net::MacAddr* out, FieldError* err) {
    return guarded(at, err, [&] {
        if (!j.is_string()) return expected(err, at, kMacWhat, j);
        auto m = net::parse_mac(j.get_ref<const std::string&>());
        if (!m) return expected(err, at, kMacWhat, j);
        *out = *m;
        return true;
    });
}

bool from_json(const Json& j, const std::string& at, config::Route* out, FieldError* err) {
    return guarded(at, err, [&] {
        if (!object_with(j, at, {"prefix", "nexthops"}, "a route (an object with prefix and nexthops)", err))
            return false;
        config::Route r;
        const Json* p = member(j, "prefix");
        if (!p) return missing(err, at, "prefix", kPrefixWhat);
        if (!network_prefix(*p, join(at, "prefix"), &r.prefix, err)) return false;
        const Json* hops = member(j, "nexthops");
        const std::string H = join(at, "nexthops");
        static const std::string hops_what = "a list of next hops like [{\"via\": \"198.18.1.1\", \"port\": \"p0\"}]";
        if (!hops) return missing(err, at, "nexthops", hops_what);
        if (!hops->is_array()) return expected(err, H, hops_what, *hops);
        if (hops->empty()) return fail(err, H, "expected at least one next hop, got an empty list");
        for (size_t i = 0; i < hops->size(); ++i) {
            const Json& h = (*hops)[i];
            const std::string hp = item_path(H, i);
            if (!object_with(h, hp, {"via", "port"}, "a next hop (an object with via and/or port)", err))
                return false;
            config::NextHop nh;
            if (const Json* via = member(h, "via")) {
                net::IpAddr a;
                if (!from_json(*via, join(hp, "via"), &a, err)) return false;
                nh.via = a;
            }
            if (const Json* port = member(h, "port"))
                if (!name_text(*port, join(hp, "port"), kPortNameWhat, &nh.port, err)) return false;
            if (!nh.via && nh.port.empty())
                return fail(err, hp, "a next hop needs via (a gateway address), port (on-link), or both");
            r.nexthops.push_back(std::move(nh));
        }
        *out = std::move(r);
        return true;
    });
}

bool from_json(const Json& j, const std::string& at, config::StaticNeighbor* out, FieldError* err) {
    return guarded(at, err, [&] {
        if (!object_with(j, at, {"port", "address", "mac"}, "a neighbor (an object with port, address and mac)",
                         err))
            return false;
        config::StaticNeighbor n;
        const Json* port = member(j, "port");
        if (!port) return missing(err, at, "port", kPortNameWhat);
        if (!name_text(*port, join(at, "port"), kPortNameWhat, &n.port, err)) return false;
        const Json* a = member(j, "address");
        if (!a) return missing(err, at, "address", kAddrWhat);
        if (!from_json(*a, join(at, "address"), &n.address, err)) return false;
        const Json* m = member(j, "mac");
        if (!m) return missing(err, at, "mac", kMacWhat);
        if (!mac_from_json(*m, join(at, "mac"), &n.mac, err)) return false;
        *out = std::move(n);
        return true;
    });
}

bool from_json(const Json& j, const std::string& at, api::Backend* out, FieldError* err) {
    return guarded(at, err, [&] {
        if (!object_with(j, at, {"address", "port", "weight", "state"},
                         "a backend (an object with address, and port, weight, state)", err))
            return false;
        api::Backend b;
        const Json* a = member(j, "address");
        if (!a) return missing(err, at, "address", kAddrWhat);
        if (!from_json(*a, join(at, "address"), &b.address, err)) return false;
        if (!opt_whole(j, at, "port", 0, 65535, "a whole number 0..65535 (0: the packet's port)", &b.port, err))
            return false;
        if (!opt_whole(j, at, "weight", 0, api::kMaxBackendWeight,
                       "a whole number 0.." + std::to_string(api::kMaxBackendWeight), &b.weight, err))
            return false;
        if (const Json* s = member(j, "state"))
            if (!choice<api::BackendState>(*s, join(at, "state"),
                                           {{"up", api::BackendState::up},
                                            {"drain", api::BackendState::drain},
                                            {"down", api::BackendState::down}},
                                           &b.state, err))
                return false;
        *out = b;
        return true;
    });
}

bool from_json(const Json& j, const std::string& at, api::Vip* out, FieldError* err) {
    return guarded(at, err, [&] {
        if (!object_with(j, at,
                         {"name", "address", "protocol", "port", "mode", "table_size", "hash", "on_backend_down",
                          "encap_source", "gue_port", "backends"},
                         "a VIP (an object with name, address, backends, ...)", err))
            return false;
        api::Vip v;
        static const std::string name_what = "a VIP name like web (1..32 of A-Z a-z 0-9 _ . -)";
        const Json* name = member(j, "name");
        if (!name) return missing(err, at, "name", name_what);
        if (!name->is_string() || !valid_vip_name(name->get_ref<const std::string&>()))
            return expected(err, join(at, "name"), name_what, *name);
        v.name = name->get<std::string>();
        const Json* a = member(j, "address");
        if (!a) return missing(err, at, "address", kAddrWhat);
        if (!from_json(*a, join(at, "address"), &v.key.address, err)) return false;
        if (const Json* p = member(j, "protocol"))
            if (!choice<api::LbProto>(
                    *p, join(at, "protocol"),
                    {{"tcp", api::LbProto::tcp}, {"udp", api::LbProto::udp}, {"both", api::LbProto::both}},
                    &v.key.proto, err))
                return false;
        if (!opt_whole(j, at, "port", 0, 65535, "a whole number 0..65535 (0: all ports)", &v.key.port, err))
            return false;
        if (const Json* m = member(j, "mode"))
            if (!choice<api::LbMode>(*m, join(at, "mode"),
                                     {{"l2_dsr", api::LbMode::l2_dsr},
                                      {"ipip", api::LbMode::ipip},
                                      {"gue", api::LbMode::gue},
                                      {"nat", api::LbMode::nat}},
                                     &v.mode, err))
                return false;
        const std::string ts_what = "a prime number 3.." + std::to_string(api::kMaxMaglevSize);
        if (!opt_whole(j, at, "table_size", 3, api::kMaxMaglevSize, ts_what, &v.table_size, err)) return false;
        if (!is_prime(v.table_size))
            return fail(err, join(at, "table_size"),
                        "expected " + ts_what + ", got " + std::to_string(v.table_size) + " (not prime)");
        // "5-tuple" is the config file's and api::to_string's spelling;
        // "five_tuple" is accepted too because the protocol document's
        // example spells it that way.
        if (const Json* h = member(j, "hash"))
            if (!choice<api::LbHash>(*h, join(at, "hash"),
                                     {{"5-tuple", api::LbHash::five_tuple},
                                      {"five_tuple", api::LbHash::five_tuple},
                                      {"addresses", api::LbHash::addresses}},
                                     &v.hash, err))
                return false;
        if (const Json* d = member(j, "on_backend_down"))
            if (!choice<api::DownRule>(
                    *d, join(at, "on_backend_down"),
                    {{"reschedule", api::DownRule::reschedule}, {"drop", api::DownRule::drop}}, &v.on_down, err))
                return false;
        if (const Json* e = member(j, "encap_source")) {
            const std::string E = join(at, "encap_source");
            if (!e->is_array()) return expected(err, E, "a list of prefixes like [\"198.18.250.0/24\"]", *e);
            for (size_t i = 0; i < e->size(); ++i) {
                net::Prefix p;
                if (!network_prefix((*e)[i], item_path(E, i), &p, err)) return false;
                v.encap_source.push_back(p);
            }
        }
        if (!opt_whole(j, at, "gue_port", 1, 65535, "a whole number 1..65535", &v.gue_port, err)) return false;
        const Json* bs = member(j, "backends");
        static const std::string bs_what = "a list of backends like [{\"address\": \"198.18.2.10\"}]";
        if (!bs) return missing(err, at, "backends", bs_what);
        const std::string B = join(at, "backends");
        if (!bs->is_array()) return expected(err, B, bs_what, *bs);
        v.backends.reserve(bs->size());
        for (size_t i = 0; i < bs->size(); ++i) {
            api::Backend b;
            if (!from_json((*bs)[i], item_path(B, i), &b, err)) return false;
            v.backends.push_back(b);
        }
        *out = std::move(v);
        return true;
    });
}

bool get_u64(const Json& obj, const std::string& at, const char* key, uint64_t* out, FieldError* err,
             bool optional) {
    return guarded(at, err, [&] {
        if (!obj.is_object()) return expected(err, at, "an object", obj);
        const Json* v = member(obj, key);
        if (!v) return optional ? true : missing(err, at, key, "an unsigned integer");
        return whole(*v, join(at, key), 0, UINT64_MAX, "an unsigned integer", out, err);
    });
}

bool get_string(const Json& obj, const std::string& at, const char* key, std::string* out, FieldError* err,
                bool optional) {
    return guarded(at, err, [&] {
        if (!obj.is_object()) return expected(err, at, "an object", obj);
        const Json* v = member(obj, key);
        if (!v) return optional ? true : missing(err, at, key, "a string");
        if (!v->is_string()) return expected(err, join(at, key), "a string", *v);
        *out = v->get<std::string>();
        return true;
    });
}

}  // namespace sluice::channel
