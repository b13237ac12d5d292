// The command line of sluicectl (command.hpp), parsed with CLI11. One
// function builds the whole command tree, so argv, every interactive line
// and the completion all see the same commands; a fresh App per parse keeps
// no state from one interactive line to the next.
#include <CLI/CLI.hpp>

#include <cctype>
#include <sstream>
#include <string>

#include "control/cli/args.hpp"
#include "control/cli/command.hpp"
#include "control/cli/words.hpp"

namespace sluice::cli {

namespace {

// Every value an option or positional can be bound to. Numbers are read
// as text and checked by args.cpp, so a bad number gets the same message
// style as a bad address (CLI11's own says "Could not convert").
struct Vars {
    std::string timeout;
    // show
    std::string prefix, lookup, limit, offset, address, vip, proto, src, sport, dst, dport;
    bool all = false;
    std::string interval, count;
    // route / backend
    std::vector<std::string> words;
    // capture
    std::string cap_port, cap_file, cap_count, cap_duration, cap_filter, cap_prefix, cap_dumpcap = kDefaultDumpcap;
    bool rx = false, tx = false, both = false, print_command = false;
};

struct Tree {
    CLI::App app{"sluicectl: the operator's client of sluice (docs/cli.md)", "sluicectl"};
    CLI::Option* socket = nullptr;
    CLI::Option* dataplane = nullptr;
    CLI::Option* config = nullptr;
};

const char* kStatsHelp = "refresh in place every --interval with rates per second, until a key is pressed";

CLI::App* add_stats(CLI::App* parent, Vars& v) {
    auto* s = parent->add_subcommand("stats", kStatsHelp);
    s->add_option("--interval", v.interval, "seconds between refreshes (default 1; 0.1..3600)")->type_name("S");
    s->add_option("--count", v.count, "stop after N refreshes (default: until a key is pressed)")->type_name("N");
    return s;
}

void add_paging(CLI::App* s, Vars& v, const char* what) {
    s->add_option("--limit", v.limit, std::string("at most N ") + what + " (the server's default is 1000)")
        ->type_name("N");
    s->add_option("--offset", v.offset, std::string("skip the first N ") + what)->type_name("N");
}

void build(Tree& t, GlobalOptions& g, Vars& v) {
    CLI::App& app = t.app;
    // Options written after a subcommand (`sluicectl show vips --json`) are
    // the parent's: the global options may come anywhere.
    app.fallthrough();
    // One command per invocation. The maximum is inherited by every
    // subcommand and makes CLI11 recognise a subcommand name only at its
    // own level, so a VIP or port called "status" is still a plain word.
    app.require_subcommand(0, 1);
    app.footer("With no command (stdin a terminal, or -i) sluicectl opens an interactive prompt.\n"
               "Exit status: 0 ok, 1 the server answered with an error, 2 bad command line, "
               "3 the socket could not be reached.");

    t.socket = app.add_option("--socket", g.socket,
                              "the control process's socket (default: control.cli_socket of --config, else "
                              "/run/sluice/control.sock)")
                   ->type_name("PATH");
    t.dataplane = app.add_option("--dataplane", g.dataplane,
                                 "send show (and capture) straight to the data plane's socket (default "
                                 "$SLUICE_DP_SOCKET); change commands then need --socket")
                      ->type_name("PATH");
    t.config = app.add_option("--config", g.config, "read the socket paths from this file's control: section")
                   ->type_name("FILE");
    app.add_flag("--json", g.json, "print the result as JSON (exactly the reply's result)");
    app.add_option("--timeout", v.timeout, "milliseconds to wait for each reply (default 5000)")->type_name("MS");
    app.add_flag("-i,--interactive", g.interactive, "open the interactive prompt");

    // show ------------------------------------------------------------------
    auto* show = app.add_subcommand("show", "show the data plane's (or control process's) state");
    show->require_subcommand(1);
    auto* ports = show->add_subcommand("ports", "ports: link, packets, bytes, drops");
    add_stats(ports, v);
    auto* routes = show->add_subcommand("routes", "routes (all, or one PREFIX exactly)");
    routes->add_option("PREFIX", v.prefix, "exactly this prefix");
    routes->add_option("--lookup", v.lookup, "the route an address takes (longest match)")->type_name("ADDR");
    add_paging(routes, v, "routes");
    auto* route = show->add_subcommand("route", "the route ADDR takes (longest match)");
    route->add_option("ADDR", v.lookup, "destination address")->required();
    auto* nbrs = show->add_subcommand("neighbors", "ARP/ND neighbor entries");
    add_paging(nbrs, v, "entries");
    auto* vips = show->add_subcommand("vips", "load balanced services and their counters");
    add_stats(vips, v);
    auto* backends = show->add_subcommand("backends", "one VIP's backends: weight, state, Maglev slots, counters");
    backends->add_option("VIP", v.vip, "VIP name")->required();
    add_stats(backends, v);
    show->add_subcommand("health", "health checks: state, rise/fall progress, last result (control process)");
    auto* drops = show->add_subcommand("drops", "drop reasons with a nonzero count");
    drops->add_flag("--all", v.all, "every drop reason, zero counts too");
    add_stats(drops, v);
    auto* which = show->add_subcommand("which", "which backend a 5-tuple gets, and why");
    which->add_option("PROTO", v.proto, "tcp or udp")->required();
    which->add_option("SRC", v.src, "source address")->required();
    which->add_option("SPORT", v.sport, "source port")->required();
    which->add_option("DST", v.dst, "destination address (the VIP)")->required();
    which->add_option("DPORT", v.dport, "destination port")->required();
    auto* workers = show->add_subcommand("workers", "per core counters");
    add_stats(workers, v);
    show->add_subcommand("status", "instance, uptime, config version, control session");
    show->add_subcommand("rdma", "RDMA peers: state, credits, packets, credit stalls, QP resets, losses");

    // route -----------------------------------------------------------------
    auto* rt = app.add_subcommand("route", "add or delete a route (control process)");
    rt->require_subcommand(1);
    auto* radd = rt->add_subcommand("add", "route add PREFIX via ADDR [dev PORT] [via ADDR [dev PORT] ...] | "
                                           "route add PREFIX dev PORT");
    radd->add_option("PREFIX", v.prefix, "destination prefix")->required();
    radd->add_option("NEXTHOP", v.words, "via ADDR [dev PORT], repeated for ECMP; or dev PORT (on-link)");
    auto* rdel = rt->add_subcommand("del", "route del PREFIX");
    rdel->add_option("PREFIX", v.prefix, "destination prefix")->required();

    // backend ---------------------------------------------------------------
    auto* be = app.add_subcommand("backend", "change a VIP's backends (control process)");
    be->require_subcommand(1);
    struct BeSub {
        const char* name;
        const char* help;
        const char* words;
    };
    const BeSub subs[] = {
        {"add", "backend add VIP ADDR [port N] [weight N]", "[port N] [weight N]"},
        {"del", "backend del VIP ADDR [port N]", "[port N]"},
        {"set", "backend set VIP ADDR [port N] weight N", "[port N] weight N"},
        {"drain", "backend drain VIP ADDR [port N]: no new flows, tracked flows stay", "[port N]"},
        {"undrain", "backend undrain VIP ADDR [port N]: back into the Maglev table", "[port N]"},
    };
    for (const auto& s : subs) {
        auto* c = be->add_subcommand(s.name, s.help);
        c->add_option("VIP", v.vip, "VIP name")->required();
        c->add_option("ADDR", v.address, "backend address")->required();
        c->add_option("WORDS", v.words, s.words);
    }

    // reload, capture -------------------------------------------------------
    app.add_subcommand("reload", "re-read the config file (control process; errors name file:line)");
    auto* cap = app.add_subcommand("capture", "capture a port's packets into a pcapng file with dpdk-dumpcap");
    cap->add_option("PORT", v.cap_port, "sluice port name (or DPDK port number)")->required();
    auto* rx = cap->add_flag("--rx", v.rx, "received packets only");
    auto* tx = cap->add_flag("--tx", v.tx, "transmitted packets only");
    auto* both = cap->add_flag("--both", v.both, "both directions (the default)");
    rx->excludes(tx)->excludes(both);
    tx->excludes(both);
    cap->add_option("-w", v.cap_file, "the pcapng file to write")->type_name("FILE")->required();
    cap->add_option("-c", v.cap_count, "stop after COUNT packets")->type_name("COUNT");
    cap->add_option("--duration", v.cap_duration, "stop after S seconds")->type_name("S");
    cap->add_option("-f,--filter", v.cap_filter, "capture filter in libpcap syntax")->type_name("BPF");
    cap->add_flag("--print-command", v.print_command, "print the dpdk-dumpcap command instead of running it");
    cap->add_option("--file-prefix", v.cap_prefix, "the data plane's EAL --file-prefix (default: from its hello)")
        ->type_name("PREFIX");
    cap->add_option("--dumpcap", v.cap_dumpcap, std::string("dumpcap binary (default ") + kDefaultDumpcap + ")")
        ->type_name("PATH");
}

// "show routes", "backend add": the selected chain below the app.
std::vector<CLI::App*> chain(CLI::App& app) {
    std::vector<CLI::App*> out;
    CLI::App* cur = &app;
    while (true) {
        auto subs = cur->get_subcommands();
        if (subs.empty()) break;
        cur = subs.front();
        out.push_back(cur);
    }
    return out;
}

std::string chain_text(const std::vector<CLI::App*>& c) {
    std::string s;
    for (auto* a : c) s += (s.empty() ? "" : " ") + a->get_name();
    return s;
}

std::string names_of(const CLI::App* a) {
    std::string s;
    auto subs = const_cast<CLI::App*>(a)->get_subcommands([](CLI::App*) { return true; });
    for (size_t i = 0; i < subs.size(); ++i) s += (i ? ", " : "") + subs[i]->get_name();
    return s;
}

struct Fail {
    std::string msg;
};

uint64_t number(const std::string& text, uint64_t min, uint64_t max, const std::string& what) {
    uint64_t n = 0;
    std::string err;
    if (!parse_number(text, min, max, what, &n, &err)) throw Fail{err};
    return n;
}

std::string address(const std::string& text, const std::string& what) {
    std::string canon, err;
    if (!check_address(text, what, &canon, &err)) throw Fail{err};
    return canon;
}

double seconds(const std::string& text) {
    // Decimal seconds, 0.1 .. 3600: the refresh interval of a stats view.
    size_t used = 0;
    double d = 0;
    bool ok = !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) != 0);
    if (ok) {
        try {
            d = std::stod(text, &used);
        } catch (const std::exception&) {
            ok = false;
        }
    }
    if (!ok || used != text.size() || !(d >= 0.1 && d <= 3600))
        throw Fail{"expected an interval of 0.1..3600 seconds, got \"" + text + "\""};
    return d;
}

void set_stats(Command& c, CLI::App* leaf, const Vars& v) {
    auto subs = leaf->get_subcommands();
    if (subs.empty()) return;
    c.action = Action::stats;
    if (!v.interval.empty()) c.stats.interval_s = seconds(v.interval);
    if (!v.count.empty()) c.stats.count = uint32_t(number(v.count, 1, 1000000, "a refresh count"));
}

void show_command(Command& c, CLI::App* leaf, const Vars& v) {
    c.type = "show";
    c.action = Action::request;
    const std::string what = leaf->get_name();
    // `show route ADDR` is `show routes --lookup ADDR`.
    c.what = what == "route" ? "routes" : what;
    c.args = Json{{"what", c.what}};
    if (what == "routes" || what == "route") {
        if (!v.prefix.empty()) {
            std::string p, err;
            if (!check_prefix(v.prefix, &p, &err)) throw Fail{err};
            c.args["prefix"] = p;
        }
        if (!v.lookup.empty()) c.args["lookup"] = address(v.lookup, "an address to look up");
        if (c.args.contains("prefix") && c.args.contains("lookup"))
            throw Fail{"give a PREFIX (exact match) or --lookup ADDR (longest match), not both"};
    }
    if (what == "routes" || what == "neighbors") {
        if (!v.limit.empty()) c.args["limit"] = number(v.limit, 1, 1000000000, "a limit");
        if (!v.offset.empty()) c.args["offset"] = number(v.offset, 0, UINT32_MAX, "an offset");
    }
    if (what == "backends") {
        std::string err;
        if (!check_vip_name(v.vip, &err)) throw Fail{err};
        c.args["vip"] = v.vip;
    }
    if (what == "health") c.control_only = true;
    if (what == "drops") c.all = v.all;
    if (what == "which") {
        if (v.proto != "tcp" && v.proto != "udp") throw Fail{"expected tcp or udp, got \"" + v.proto + "\""};
        const std::string src = address(v.src, "a source address");
        const std::string dst = address(v.dst, "a destination address");
        if ((src.find(':') == std::string::npos) != (dst.find(':') == std::string::npos))
            throw Fail{"source " + src + " and destination " + dst + " are of different families"};
        c.args["protocol"] = v.proto;
        c.args["src"] = src;
        c.args["sport"] = number(v.sport, 0, 65535, "a source port");
        c.args["dst"] = dst;
        c.args["dport"] = number(v.dport, 0, 65535, "a destination port");
    }
    set_stats(c, leaf, v);
}

void route_command(Command& c, CLI::App* leaf, const Vars& v) {
    c.action = Action::request;
    c.change = true;
    if (leaf->get_name() == "add") {
        c.type = "route_add";
        std::string err;
        if (!build_route(v.prefix, v.words, &c.args, &err)) throw Fail{err};
    } else {
        c.type = "route_del";
        std::string p, err;
        if (!check_prefix(v.prefix, &p, &err)) throw Fail{err};
        c.args = Json{{"prefix", p}};
    }
}

void backend_command(Command& c, CLI::App* leaf, const Vars& v) {
    c.action = Action::request;
    c.change = true;
    const std::string sub = leaf->get_name();
    std::string err;
    if (!check_vip_name(v.vip, &err)) throw Fail{err};
    BackendWords b;
    std::vector<std::string> allowed{"port"};
    if (sub == "add" || sub == "set") allowed.push_back("weight");
    if (!parse_backend_words(v.address, v.words, allowed, &b, &err)) throw Fail{err};
    if (sub == "add") {
        c.type = "backend_add";
        Json be{{"address", b.address}};
        if (b.port) be["port"] = *b.port;
        if (b.weight) be["weight"] = *b.weight;
        c.args = Json{{"vip", v.vip}, {"backend", std::move(be)}};
        return;
    }
    // The port identifies the backend; 0 is a backend that keeps the
    // packet's port (docs/control-protocol.md, backend form).
    c.args = Json{{"vip", v.vip}, {"address", b.address}, {"port", b.port.value_or(0)}};
    if (sub == "del") {
        c.type = "backend_del";
    } else if (sub == "set") {
        c.type = "backend_set";
        if (!b.weight) throw Fail{"backend set needs weight N (0..10000)"};
        c.args["weight"] = *b.weight;
    } else {
        c.type = "backend_set";
        c.args["admin"] = sub == "drain" ? "drain" : "up";
    }
}

void capture_command(Command& c, const Vars& v) {
    c.action = Action::capture;
    CaptureOptions& o = c.capture;
    o.port = v.cap_port;
    o.direction = v.rx ? Direction::rx : v.tx ? Direction::tx : Direction::both;
    o.file = v.cap_file;
    if (o.file.empty()) throw Fail{"-w needs a file name"};
    if (!v.cap_count.empty()) o.count = number(v.cap_count, 1, UINT64_MAX / 2, "a packet count");
    if (!v.cap_duration.empty()) o.duration_s = uint32_t(number(v.cap_duration, 1, 86400 * 7, "a duration in seconds"));
    o.filter = v.cap_filter;
    o.print_command = v.print_command;
    o.file_prefix = v.cap_prefix;
    o.dumpcap = v.cap_dumpcap;
}

// The command's own words, for titles and messages: the global options
// (which may stand anywhere) left out.
std::string command_text(const std::vector<std::string>& args) {
    static const char* const with_value[] = {"--socket", "--dataplane", "--config", "--timeout"};
    static const char* const flags[] = {"--json", "-i", "--interactive"};
    std::string out;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        bool skip = false;
        for (const char* o : with_value) {
            if (a == o) {
                ++i;  // and its value
                skip = true;
            } else if (a.rfind(std::string(o) + "=", 0) == 0) {
                skip = true;
            }
        }
        for (const char* f : flags) skip = skip || a == f;
        if (!skip) out += (out.empty() ? "" : " ") + quote_word(a);
    }
    return out;
}

std::string error_text(const CLI::Error& e, CLI::App& app) {
    const auto c = chain(app);
    const std::string where = chain_text(c);
    CLI::App* deepest = c.empty() ? &app : c.back();
    // ExtrasError carries the app's name, not its own: test the type.
    const bool extras = dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr;
    const bool required = dynamic_cast<const CLI::RequiredError*>(&e) != nullptr;
    // A missing subcommand, not a missing positional (CLI11 says
    // "subcommand" in the former's message only).
    const bool wants_sub = deepest->get_subcommands().empty() &&
                           !deepest->get_subcommands([](CLI::App*) { return true; }).empty() &&
                           (!required || std::string(e.what()).find("ubcommand") != std::string::npos);
    // The first word nobody took.
    const auto rest = app.remaining(true);
    const std::string word = rest.empty() ? std::string() : rest.front();
    if ((extras || required) && wants_sub && !word.empty() && word[0] != '-')
        return "unknown " + (where.empty() ? std::string("command") : where + " command") + " \"" + word +
               "\"; expected one of: " + names_of(deepest);
    if (extras && !word.empty()) {
        if (word[0] == '-') return (where.empty() ? "" : where + ": ") + "unknown option \"" + word + "\"";
        return (where.empty() ? "" : where + ": ") + "unexpected \"" + word + "\"";
    }
    if (required && wants_sub)
        return (where.empty() ? std::string("a command") : where) + " needs one of: " + names_of(deepest);
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
        // CLI11: "--limit: 1 required N missing".
        const std::string m = e.what();
        const size_t colon = m.find(": 1 required ");
        const size_t missing = m.rfind(" missing");
        if (colon != std::string::npos && missing != std::string::npos && missing > colon + 13)
            return (where.empty() ? "" : where + ": ") + m.substr(0, colon) + " needs a value (" +
                   m.substr(colon + 13, missing - colon - 13) + ")";
    }
    return (where.empty() ? "" : where + ": ") + e.what();
}

}  // namespace

Parsed parse_command_line(const std::vector<std::string>& in_args, const std::string& env_dataplane) {
    Parsed out;
    std::vector<std::string> args = in_args;
    // `help [COMMAND...]` is `COMMAND... --help` (as in ip(8) and vppctl).
    if (!args.empty() && args.front() == "help") {
        args.erase(args.begin());
        args.push_back("--help");
    }
    try {
        Tree t;
        Vars v;
        build(t, out.global, v);
        try {
            // CLI11 takes the arguments in reverse order (it pops from the back).
            std::vector<std::string> rev(args.rbegin(), args.rend());
            t.app.parse(rev);
        } catch (const CLI::ParseError& e) {
            if (e.get_name() == "CallForHelp" || e.get_name() == "CallForAllHelp") {
                std::ostringstream o, er;
                out.exit_code = t.app.exit(e, o, er) == 0 ? kExitOk : kExitUsage;
                out.out = o.str();
                return out;
            }
            out.exit_code = kExitUsage;
            out.err = "sluicectl: " + error_text(e, t.app) + "\n";
            return out;
        }
        GlobalOptions& g = out.global;
        g.socket_given = t.socket->count() > 0;
        g.dataplane_given = t.dataplane->count() > 0;
        g.config_given = t.config->count() > 0;
        if (!g.dataplane_given) g.dataplane = env_dataplane;

        const auto c = chain(t.app);
        Command& cmd = out.cmd;
        cmd.text = command_text(args);
        try {
            if (!v.timeout.empty()) g.timeout_ms = uint32_t(number(v.timeout, 1, 3600000, "a timeout in ms"));
            if (c.empty()) return out;
            const std::string top = c.front()->get_name();
            if (top == "show") show_command(cmd, c.at(1), v);
            else if (top == "route") route_command(cmd, c.at(1), v);
            else if (top == "backend") backend_command(cmd, c.at(1), v);
            else if (top == "reload") {
                cmd.action = Action::request;
                cmd.type = "reload";
                cmd.change = true;
            } else if (top == "capture") {
                capture_command(cmd, v);
            }
        } catch (const Fail& f) {
            out.exit_code = kExitUsage;
            const std::string where = chain_text(c);
            out.err = "sluicectl: " + (where.empty() ? "" : where + ": ") + f.msg + "\n";
            out.cmd = Command();
        }
    } catch (const std::exception& e) {
        // A CLI11 construction error is a bug here, not the operator's; it
        // must still not escape (the caller prints and exits).
        out.exit_code = kExitUsage;
        out.err = std::string("sluicectl: internal error in the command parser: ") + e.what() + "\n";
    }
    return out;
}

namespace {

CommandNode node_of(CLI::App* a) {
    CommandNode n;
    n.name = a->get_name();
    n.help = a->get_description();
    for (const CLI::Option* o : a->get_options()) {
        if (o->get_positional()) continue;
        for (const auto& l : o->get_lnames()) n.options.push_back("--" + l);
        for (const auto& s : o->get_snames()) n.options.push_back("-" + s);
    }
    for (CLI::App* s : a->get_subcommands([](CLI::App*) { return true; })) n.children.push_back(node_of(s));
    return n;
}

}  // namespace

CommandNode command_tree() {
    try {
        Tree t;
        GlobalOptions g;
        Vars v;
        build(t, g, v);
        return node_of(&t.app);
    } catch (const std::exception&) {
        return CommandNode{};
    }
}

std::string interactive_help() {
    return "Commands (help COMMAND for its options):\n"
           "  show ports [stats]                      ports: link, packets, bytes, drops\n"
           "  show routes [PREFIX] [--lookup ADDR] [--limit N]\n"
           "  show route ADDR                         the route ADDR takes\n"
           "  show neighbors                          ARP/ND entries\n"
           "  show vips [stats]                       VIPs and their counters\n"
           "  show backends VIP [stats]               one VIP's backends\n"
           "  show health                             health checks (control process)\n"
           "  show drops [--all] [stats]              drop reasons\n"
           "  show which tcp|udp SRC SPORT DST DPORT  which backend a 5-tuple gets\n"
           "  show workers [stats]                    per core counters\n"
           "  show status                             instance, config, control session\n"
           "  show rdma                               RDMA peers: state, credits, packets, stalls, resets\n"
           "  route add PREFIX via ADDR [dev PORT] [via ADDR [dev PORT] ...] | route add PREFIX dev PORT\n"
           "  route del PREFIX\n"
           "  backend add VIP ADDR [port N] [weight N]\n"
           "  backend del|drain|undrain VIP ADDR [port N]\n"
           "  backend set VIP ADDR [port N] weight N\n"
           "  reload                                  re-read the config file\n"
           "  capture PORT [--rx|--tx|--both] -w FILE [-c COUNT] [--duration S] [--filter BPF]\n"
           "  --json COMMAND                          the result as JSON\n"
           "  help, quit, exit (or Ctrl-D)\n"
           "A stats view refreshes until a key is pressed.\n";
}

}  // namespace sluice::cli
