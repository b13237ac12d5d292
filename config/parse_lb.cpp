// The load balancer's sections of the YAML: `lb:` (settings) and `vips:`
// (docs/config.md, "lb" and "vips[]"). Typing only; the rules (ranges,
// families, uniqueness, NAT endpoints) are checked by validate_lb.cpp.
#include <string>
#include <vector>

#include "config/parser.hpp"

namespace sluice::config::detail {

void Parser::lb(const YAML::Node& n, const std::string& path) {
    LbConfig& c = cfg_.lb;
    auto u32 = [this](const rules::Range& r, uint32_t& out) {
        return [this, r, dst = &out](const YAML::Node& v, const std::string& p) { number(v, p, r, *dst); };
    };
    fields(n, path,
           {
               {"flow_table_size", u32(rules::kFlowTableSize, c.flow_table_size)},
               {"tcp_timeout", u32(rules::kTimeoutS, c.tcp_timeout_s)},
               {"tcp_closing_timeout", u32(rules::kTimeoutS, c.tcp_closing_timeout_s)},
               {"udp_timeout", u32(rules::kTimeoutS, c.udp_timeout_s)},
               {"new_flow_rate", u32(rules::kAnyU32, c.new_flow_rate)},
               {"new_flow_burst", u32(rules::kNewFlowBurst, c.new_flow_burst)},
           },
           "a map with flow_table_size, tcp_timeout, tcp_closing_timeout, udp_timeout, new_flow_rate, "
           "new_flow_burst");
}

// A prefix or a list of them. The single form is recorded as item 0 too, so
// validate()'s "vips[0].encap_source[0]" comes back as written.
void Parser::encap_source(const YAML::Node& v, const std::string& path, std::vector<Prefix>& out) {
    static const std::string expect = "a prefix like 198.18.250.0/24 or 2001:db8:250::/64";
    auto one = [&](const YAML::Node& item, const std::string& ip) {
        Prefix p;
        size_t before = errs_.size();
        prefix(item, ip, expect, &p);
        if (errs_.size() == before) out.push_back(p);
    };
    if (v.IsSequence()) {
        list(v, path, "", [&](const YAML::Node& item, const std::string& ip, size_t) { one(item, ip); });
    } else if (v.IsMap()) {
        error(v, path, "expected " + expect + " or a list of them (at most one per family), got a map");
    } else {
        one(v, path);
        record(item_path(path, 0), path, value_mark_);
    }
}

void Parser::backend(const YAML::Node& n, const std::string& path, api::Backend& b) {
    auto seen = fields(
        n, path,
        {
            {"address", [&](const YAML::Node& v, const std::string& p) { ip(v, p, &b.address); }},
            {"port",
             [&](const YAML::Node& v, const std::string& p) {
                 size_t before = errs_.size();
                 number(v, p, rules::kPort, b.port);
                 // 0 would read as "keep the packet's port", which is what
                 // leaving the field out says.
                 if (errs_.size() == before && b.port == 0)
                     error(v, p,
                           std::string("expected ") + rules::kPort.text +
                               ", got \"0\" (leave port out to keep the packet's destination port)");
             }},
            {"weight", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kWeight, b.weight); }},
            {"state",
             [&](const YAML::Node& v, const std::string& p) {
                 choice(v, p,
                        {{"up", api::BackendState::up},
                         {"drain", api::BackendState::drain},
                         {"down", api::BackendState::down}},
                        b.state);
             }},
        },
        "a backend (a map with address, and port, weight, state)", false);
    if (!n.IsMap()) return;
    if (!seen.count("address")) missing(n, path, "address", "an IPv4 or IPv6 address like 198.18.2.10");
}

void Parser::vip(const YAML::Node& n, const std::string& path) {
    VipConfig v;
    v.mark = mark_of(n);
    auto seen = fields(
        n, path,
        {
            {"name", [&](const YAML::Node& x, const std::string& p) { text(x, p, "a VIP name like web", &v.name); }},
            {"address", [&](const YAML::Node& x, const std::string& p) { ip(x, p, &v.key.address); }},
            {"protocol",
             [&](const YAML::Node& x, const std::string& p) {
                 choice(x, p, {{"tcp", api::LbProto::tcp}, {"udp", api::LbProto::udp}, {"both", api::LbProto::both}},
                        v.key.proto);
             }},
            {"port", [&](const YAML::Node& x, const std::string& p) { number(x, p, rules::kVipPort, v.key.port); }},
            {"mode",
             [&](const YAML::Node& x, const std::string& p) {
                 choice(x, p,
                        {{"l2_dsr", api::LbMode::l2_dsr},
                         {"ipip", api::LbMode::ipip},
                         {"gue", api::LbMode::gue},
                         {"nat", api::LbMode::nat}},
                        v.mode);
             }},
            {"table_size",
             [&](const YAML::Node& x, const std::string& p) { number(x, p, rules::kTableSize, v.table_size); }},
            {"hash",
             [&](const YAML::Node& x, const std::string& p) {
                 choice(x, p, {{"5-tuple", api::LbHash::five_tuple}, {"addresses", api::LbHash::addresses}}, v.hash);
             }},
            {"on_backend_down",
             [&](const YAML::Node& x, const std::string& p) {
                 choice(x, p, {{"reschedule", api::DownRule::reschedule}, {"drop", api::DownRule::drop}}, v.on_down);
             }},
            {"encap_source",
             [&](const YAML::Node& x, const std::string& p) { encap_source(x, p, v.encap_source); }},
            {"gue_port",
             [&](const YAML::Node& x, const std::string& p) {
                 v.gue_port_set = true;
                 number(x, p, rules::kPort, v.gue_port);
             }},
            {"backends",
             [&](const YAML::Node& x, const std::string& p) {
                 list(x, p, "a list of backends (each item starting with \"- address:\")",
                      [&](const YAML::Node& item, const std::string& ip, size_t) {
                          api::Backend b;
                          backend(item, ip, b);
                          v.backends.push_back(b);
                      });
             }},
            {"health", [&](const YAML::Node& x, const std::string& p) { health(x, p, v); }},
        },
        "a VIP (a map with name, address, backends, ...)", false);
    if (!n.IsMap()) return;
    if (!seen.count("name")) missing(n, path, "name", "a VIP name like web");
    if (!seen.count("address")) missing(n, path, "address", "an IPv4 or IPv6 address like 198.18.100.1");
    if (!seen.count("backends"))
        missing(n, path, "backends", "a list of backends like [{ address: 198.18.2.10 }, { address: 198.18.2.11 }]");
    cfg_.vips.push_back(std::move(v));
}

}  // namespace sluice::config::detail
