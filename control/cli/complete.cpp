// Completion candidates (complete.hpp).
#include "control/cli/complete.hpp"

#include <algorithm>
#include <set>

#include "control/cli/command.hpp"

namespace sluice::cli {

namespace {

// Options that take a value: the word after them is that value, not a
// command or positional.
const std::set<std::string> kValueOptions{"--socket", "--dataplane", "--config", "--timeout", "--limit",
                                          "--offset", "--lookup",    "--interval", "--count", "-w",
                                          "-c",       "--duration",  "-f",       "--filter", "--file-prefix",
                                          "--dumpcap"};

const CommandNode& tree() {
    static const CommandNode t = command_tree();
    return t;
}

const CommandNode* child(const CommandNode& n, const std::string& name) {
    for (const auto& c : n.children)
        if (c.name == name) return &c;
    return nullptr;
}

}  // namespace

std::vector<std::string> complete(const std::vector<std::string>& words, const std::string& partial,
                                  const NameSource& names) {
    const CommandNode& root = tree();
    const CommandNode* node = &root;
    std::vector<std::string> path;
    std::vector<std::string> positionals;  // words of the deepest command that are not subcommands
    size_t start = 0;
    if (!words.empty() && words.front() == "help") start = 1;
    bool value_next = false;
    for (size_t i = start; i < words.size(); ++i) {
        const std::string& w = words[i];
        if (value_next) {
            value_next = false;
            continue;
        }
        if (!w.empty() && w[0] == '-') {
            value_next = kValueOptions.count(w) > 0 && w.find('=') == std::string::npos;
            continue;
        }
        // A subcommand name only counts before the command's own words
        // (the parser recognises names at their own level only).
        if (positionals.empty()) {
            if (const CommandNode* c = child(*node, w)) {
                node = c;
                path.push_back(w);
                continue;
            }
        }
        positionals.push_back(w);
    }
    std::vector<std::string> cand;
    auto add_children = [&] {
        for (const auto& c : node->children) cand.push_back(c.name);
    };
    auto add_names = [&](NameKind k) {
        if (!names) return;
        for (auto& n : names(k)) cand.push_back(std::move(n));
    };
    const std::string cmd = [&] {
        std::string s;
        for (const auto& p : path) s += (s.empty() ? "" : " ") + p;
        return s;
    }();
    const size_t pos = positionals.size();
    const std::string prev = positionals.empty() ? std::string() : positionals.back();

    if (value_next) {
        // The value of an option: nothing we can list.
    } else if (!partial.empty() && partial[0] == '-') {
        cand = node->options;
        if (node != &root) cand.insert(cand.end(), root.options.begin(), root.options.end());
    } else if (path.empty()) {
        if (pos == 0) {
            add_children();
            if (start == 0) cand.insert(cand.end(), {"help", "quit", "exit"});
        }
    } else if (cmd == "show backends") {
        if (pos == 0) add_names(NameKind::vip);
        else if (pos == 1) add_children();
    } else if (cmd == "show which") {
        if (pos == 0) cand = {"tcp", "udp"};
    } else if (path.front() == "backend" && path.size() == 2) {
        if (pos == 0) {
            add_names(NameKind::vip);
        } else if (pos >= 2 && prev != "port" && prev != "weight") {
            cand.push_back("port");
            if (path[1] == "add" || path[1] == "set") cand.push_back("weight");
        }
    } else if (cmd == "route add") {
        if (pos >= 1) {
            if (prev == "dev" || prev == "port") add_names(NameKind::port);
            else if (prev != "via") cand = {"via", "dev"};
        }
    } else if (cmd == "capture") {
        if (pos == 0) add_names(NameKind::port);
        else cand = node->options;
    } else if (pos == 0) {
        add_children();
    }

    std::set<std::string> uniq;
    for (auto& c : cand)
        if (c.compare(0, partial.size(), partial) == 0) uniq.insert(c);
    return {uniq.begin(), uniq.end()};
}

}  // namespace sluice::cli
