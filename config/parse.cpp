// YAML text -> typed Config: the document and its sections other than the
// load balancer's (parse_lb.cpp), and the entry points parse_config() and
// load_config_file(). The reader's machinery (unknown and duplicate fields,
// types, recorded positions) is in parser.hpp; validation in validate.cpp
// and validate_lb.cpp.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "config/parser.hpp"
#include "config/rdma.hpp"

namespace sluice::config {

namespace detail {

// ---- the document -----------------------------------------------------

void Parser::root(const YAML::Node& n) {
    fields(n, "",
           {
               {"mbufs", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kMbufs, cfg_.mbufs); }},
               {"mbuf_cache",
                [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kMbufCache, cfg_.mbuf_cache); }},
               {"workers", [&](const YAML::Node& v, const std::string& p) { workers(v, p); }},
               {"neighbor", [&](const YAML::Node& v, const std::string& p) { neighbor(v, p); }},
               {"icmp", [&](const YAML::Node& v, const std::string& p) { icmp(v, p); }},
               {"ports",
                [&](const YAML::Node& v, const std::string& p) {
                    list(v, p, "a list of ports (each item starting with \"- name:\")",
                         [&](const YAML::Node& item, const std::string& ip, size_t) { port(item, ip); });
                }},
               {"routes",
                [&](const YAML::Node& v, const std::string& p) {
                    list(v, p, "a list of routes (each item starting with \"- prefix:\")",
                         [&](const YAML::Node& item, const std::string& ip, size_t) { route(item, ip); });
                }},
               {"route_files",
                [&](const YAML::Node& v, const std::string& p) {
                    list(v, p, "a list of route file paths (relative to this file's directory)",
                         [&](const YAML::Node& item, const std::string& ip, size_t) {
                             std::string path;
                             if (text(item, ip, "a route file path", &path)) {
                                 if (path.empty())
                                     error(item, ip, "expected a route file path, got an empty string");
                                 else
                                     cfg_.route_files.push_back(path);
                             }
                         });
                }},
               {"neighbors",
                [&](const YAML::Node& v, const std::string& p) {
                    list(v, p, "a list of static neighbors (each a map with address, mac and port)",
                         [&](const YAML::Node& item, const std::string& ip, size_t) { static_neighbor(item, ip); });
                }},
               {"lb", [&](const YAML::Node& v, const std::string& p) { lb(v, p); }},
               {"vips",
                [&](const YAML::Node& v, const std::string& p) {
                    list(v, p, "a list of VIPs (each item starting with \"- name:\")",
                         [&](const YAML::Node& item, const std::string& ip, size_t) { vip(item, ip); });
                }},
               {"control", [&](const YAML::Node& v, const std::string& p) { control(v, p); }},
               {"rdma", [&](const YAML::Node& v, const std::string& p) { rdma(v, p); }},
           },
           "a map of settings (mbufs, workers, ports, routes, route_files, ...)");
}

void Parser::workers(const YAML::Node& n, const std::string& path) {
    WorkerConfig& w = cfg_.workers;
    fields(n, path,
           {
               {"burst", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kBurst, w.burst); }},
               {"idle_backoff",
                [&](const YAML::Node& v, const std::string& p) {
                    IdleBackoff& b = w.idle;
                    fields(v, p,
                           {
                               {"enabled", [&](const YAML::Node& x, const std::string& q) { boolean(x, q, b.enabled); }},
                               {"pause_after",
                                [&](const YAML::Node& x, const std::string& q) {
                                    number(x, q, rules::kAnyU32, b.pause_after);
                                }},
                               {"sleep_after",
                                [&](const YAML::Node& x, const std::string& q) {
                                    number(x, q, rules::kAnyU32, b.sleep_after);
                                }},
                               {"sleep_us",
                                [&](const YAML::Node& x, const std::string& q) {
                                    number(x, q, rules::kAnyU32, b.sleep_us);
                                }},
                           },
                           "a map with enabled, pause_after, sleep_after, sleep_us");
                }},
           },
           "a map with burst and idle_backoff");
}

void Parser::neighbor(const YAML::Node& n, const std::string& path) {
    NeighborConfig& c = cfg_.neighbor;
    auto u32 = [this](const rules::Range& r, uint32_t& out) {
        return [this, r, dst = &out](const YAML::Node& v, const std::string& p) { number(v, p, r, *dst); };
    };
    fields(n, path,
           {
               {"capacity", u32(rules::kNeighborCapacity, c.capacity)},
               {"reachable_ms", u32(rules::kPositiveU32, c.reachable_ms)},
               {"retrans_ms", u32(rules::kPositiveU32, c.retrans_ms)},
               {"max_probes", u32(rules::kPositiveU32, c.max_probes)},
               {"max_pending", u32(rules::kAnyU32, c.max_pending)},
               {"gc_ms", u32(rules::kAnyU32, c.gc_ms)},
           },
           "a map with capacity, reachable_ms, retrans_ms, max_probes, max_pending, gc_ms");
}

void Parser::icmp(const YAML::Node& n, const std::string& path) {
    IcmpConfig& c = cfg_.icmp;
    fields(n, path,
           {
               {"rate_pps", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kAnyU32, c.rate_pps); }},
               {"burst", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kPositiveU32, c.burst); }},
           },
           "a map with rate_pps and burst");
}

void Parser::port(const YAML::Node& n, const std::string& path) {
    PortConfig pc;
    pc.mark = mark_of(n);
    static const std::string addr_expect =
        "an address with prefix length like 198.18.1.1/24 or 2001:db8:1::1/64";
    auto seen = fields(
        n, path,
        {
            {"name", [&](const YAML::Node& v, const std::string& p) { text(v, p, "a port name like p0", &pc.name); }},
            {"device",
             [&](const YAML::Node& v, const std::string& p) {
                 text(v, p, "a DPDK device name or devargs string like 0000:01:00.0 or net_tap0,iface=sl0",
                      &pc.device);
             }},
            {"rx_queues", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kRxQueues, pc.rx_queues); }},
            {"rx_desc", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kDesc, pc.rx_desc); }},
            {"tx_desc", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kDesc, pc.tx_desc); }},
            {"mtu", [&](const YAML::Node& v, const std::string& p) { number(v, p, rules::kMtu, pc.mtu); }},
            {"mac",
             [&](const YAML::Node& v, const std::string& p) {
                 MacAddr m{};
                 size_t before = errs_.size();
                 mac(v, p, &m);
                 if (errs_.size() == before) pc.mac = m;
             }},
            {"promiscuous", [&](const YAML::Node& v, const std::string& p) { boolean(v, p, pc.promiscuous); }},
            {"addresses",
             [&](const YAML::Node& v, const std::string& p) {
                 list(v, p, "a list of addresses like [\"198.18.1.1/24\", \"2001:db8:1::1/64\"]",
                      [&](const YAML::Node& item, const std::string& ip, size_t) {
                          Prefix a;
                          size_t before = errs_.size();
                          prefix(item, ip, addr_expect, &a);
                          if (errs_.size() == before) pc.addresses.push_back(a);
                      });
             }},
        },
        "a port (a map with name, device, ...)", false);
    if (!n.IsMap()) return;
    if (!seen.count("name")) missing(n, path, "name", "a port name like p0");
    if (!seen.count("device")) missing(n, path, "device", "a DPDK device like 0000:01:00.0 or net_tap0,iface=sl0");
    cfg_.ports.push_back(std::move(pc));
}

void Parser::route(const YAML::Node& n, const std::string& R) {
    Route r;
    r.mark = mark_of(n);
    YAML::Node via, port, nexthops;  // Null unless present
    bool has_via = false, has_port = false, has_nexthops = false;
    SourceMark via_mark, port_mark, nexthops_mark;
    auto seen = fields(
        n, R,
        {
            {"prefix",
             [&](const YAML::Node& v, const std::string& p) {
                 prefix(v, p, "an IPv4 or IPv6 prefix like 198.18.0.0/15", &r.prefix);
             }},
            {"via",
             [&](const YAML::Node& v, const std::string&) {
                 via.reset(v);
                 has_via = true;
                 via_mark = value_mark_;
             }},
            {"port",
             [&](const YAML::Node& v, const std::string&) {
                 port.reset(v);
                 has_port = true;
                 port_mark = value_mark_;
             }},
            {"nexthops",
             [&](const YAML::Node& v, const std::string&) {
                 nexthops.reset(v);
                 has_nexthops = true;
                 nexthops_mark = value_mark_;
             }},
        },
        "a route (a map with prefix and via, port or nexthops)", false);
    if (!n.IsMap()) return;
    if (!seen.count("prefix")) missing(n, R, "prefix", "a prefix like 198.19.0.0/16");

    std::string port_name;
    if (has_port) {
        last_mark_ = port_mark;
        text(port, R + ".port", "a port name", &port_name);
    }
    if (has_nexthops && (has_via || has_port)) {
        error(nexthops_mark, R + ".nexthops",
              "a route has either via/port or a nexthops list, not both");
    } else if (has_nexthops) {
        last_mark_ = nexthops_mark;
        list(nexthops, R + ".nexthops", "a list of next hops like [{ via: \"fe80::1\", port: p0 }]",
             [&](const YAML::Node& item, const std::string& H, size_t) {
                 NextHop h;
                 fields(item, H,
                        {
                            {"via",
                             [&](const YAML::Node& v, const std::string& p) {
                                 IpAddr a;
                                 if (ip(v, p, &a)) h.via = a;
                             }},
                            {"port",
                             [&](const YAML::Node& v, const std::string& p) { text(v, p, "a port name", &h.port); }},
                        },
                        "a next hop (a map with via and/or port)", false);
                 r.nexthops.push_back(h);
             });
    } else if (has_via) {
        last_mark_ = via_mark;
        auto alias = [&](size_t j, const std::string& display, const SourceMark& m) {
            const std::string H = item_path(R + ".nexthops", j);
            record(H, display, m);
            record(H + ".via", display, m);
            if (has_port) record(H + ".port", R + ".port", port_mark);
        };
        record(R + ".nexthops", R + ".via", via_mark);
        if (via.IsSequence()) {
            if (via.size() == 0) error(via_mark, R + ".via", "expected at least one gateway address, got an empty list");
            list(via, R + ".via", "", [&](const YAML::Node& item, const std::string& ip_path, size_t j) {
                IpAddr a;
                if (ip(item, ip_path, &a)) r.nexthops.push_back(NextHop{a, port_name});
                alias(j, ip_path, item_mark_);
            });
        } else if (via.IsMap()) {
            error(via_mark, R + ".via",
                  "expected a gateway address or a list of them, got a map (use nexthops: for { via, port } items)");
        } else {
            IpAddr a;
            if (ip(via, R + ".via", &a)) r.nexthops.push_back(NextHop{a, port_name});
            alias(0, R + ".via", via_mark);
        }
    } else if (has_port) {
        r.nexthops.push_back(NextHop{std::nullopt, port_name});
        record(R + ".nexthops", R + ".port", port_mark);
        record(R + ".nexthops[0]", R + ".port", port_mark);
        record(R + ".nexthops[0].port", R + ".port", port_mark);
    }
    cfg_.routes.push_back(std::move(r));
}

void Parser::static_neighbor(const YAML::Node& n, const std::string& path) {
    StaticNeighbor s;
    s.mark = mark_of(n);
    auto seen = fields(n, path,
                       {
                           {"address", [&](const YAML::Node& v, const std::string& p) { ip(v, p, &s.address); }},
                           {"mac", [&](const YAML::Node& v, const std::string& p) { mac(v, p, &s.mac); }},
                           {"port", [&](const YAML::Node& v, const std::string& p) { text(v, p, "a port name", &s.port); }},
                       },
                       "a static neighbor (a map with address, mac and port)", false);
    if (!n.IsMap()) return;
    if (!seen.count("address")) missing(n, path, "address", "an IPv4 or IPv6 address");
    if (!seen.count("mac")) missing(n, path, "mac", "a MAC address like 02:00:00:00:00:01");
    if (!seen.count("port")) missing(n, path, "port", "a port name");
    cfg_.neighbors.push_back(std::move(s));
}

}  // namespace detail

namespace {

using detail::Parser;
using detail::to_mark;

constexpr size_t kMaxFileBytes = 16u << 20;

LoadResult internal_error(const std::string& file, const std::string& what) {
    ConfigError e;
    e.file = file;
    e.message = "internal error while reading the configuration: " + what;
    return LoadResult(std::vector<ConfigError>{e});
}

}  // namespace

LoadResult parse_config(std::string_view yaml_text, std::string_view source_name) {
    std::string file(source_name.empty() ? "<string>" : source_name);
    try {
        LoadResult r = Parser(file).run(yaml_text);
        // RDMA peers become ports for routes and static neighbors
        // (config/rdma.hpp); only a Config that validated is completed.
        if (r.ok()) rules::normalise_rdma(r.config());
        return r;
    } catch (const YAML::Exception& e) {
        ConfigError err;
        err.file = file;
        SourceMark m = to_mark(e.mark);
        err.line = m.line;
        err.column = m.column;
        err.message = "YAML error: " + e.msg;
        return LoadResult(std::vector<ConfigError>{err});
    } catch (const std::exception& e) {
        return internal_error(file, e.what());
    } catch (...) {
        return internal_error(file, "unknown exception");
    }
}

LoadResult load_config_file(const std::string& path) {
    auto fail = [&](const std::string& what, int err) {
        ConfigError e;
        e.file = path;
        e.message = what + ": " + std::error_code(err, std::generic_category()).message();
        return LoadResult(std::vector<ConfigError>{e});
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot open file", errno);
    std::string text;
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            ::close(fd);
            return fail("cannot read file", err);
        }
        if (n == 0) break;
        if (text.size() + size_t(n) > kMaxFileBytes) {
            ::close(fd);
            return fail("cannot read file", EFBIG);
        }
        try {
            text.append(buf, size_t(n));
        } catch (const std::exception&) {
            ::close(fd);
            return fail("cannot read file", ENOMEM);
        }
    }
    ::close(fd);
    return parse_config(text, path);
}

}  // namespace sluice::config
