// The interactive prompt (interactive.hpp), on libedit's readline
// interface. With stdin not a terminal (`-i` in a script) lines are read
// plainly, without a prompt, so the output is only the commands' own.
#include "control/cli/interactive.hpp"

#include <editline/readline.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>

#include "control/cli/complete.hpp"
#include "control/cli/format.hpp"
#include "control/cli/run.hpp"
#include "control/cli/words.hpp"

namespace sluice::cli {

namespace {

constexpr int kHistoryLines = 1000;  // bounded: the file never grows past this

// readline's completion callbacks take no context pointer.
Session* g_session = nullptr;
std::map<NameKind, std::vector<std::string>> g_names;  // fetched once per kind
std::vector<std::string> g_matches;
volatile sig_atomic_t g_prompt_sigint = 0;

void on_prompt_sigint(int) { g_prompt_sigint = 1; }

// VIP or port names, asked once from the server (show vips / show ports).
std::vector<std::string> fetch_names(NameKind k) {
    auto it = g_names.find(k);
    if (it != g_names.end()) return it->second;
    std::vector<std::string> out;
    if (g_session) {
        Command c;
        c.type = "show";
        c.what = k == NameKind::vip ? "vips" : "ports";
        Target t{};
        std::string refusal;
        if (route_command(g_session->endpoints(), c, &t, &refusal)) {
            CallOutcome o = g_session->call(t, "show", Json{{"what", c.what}});
            if (o.status == kExitOk)
                for (const Row& r : rows_of(o.result, c.what)) {
                    const Json* n = field(r.value, {"name"});
                    out.push_back(n && n->is_string() ? n->get<std::string>() : r.key);
                }
        }
    }
    // A failed fetch is kept too: completion must not retry (and wait for
    // a timeout) on every Tab.
    g_names[k] = out;
    return out;
}

char* generator(const char* /*text*/, int state) {
    static size_t next = 0;
    if (state == 0) next = 0;
    if (next >= g_matches.size()) return nullptr;
    return ::strdup(g_matches[next++].c_str());
}

char** attempt(const char* text, int start, int /*end*/) {
    rl_attempted_completion_over = 1;  // never fall back to file names
    const std::string before(rl_line_buffer ? std::string(rl_line_buffer, size_t(start)) : std::string());
    PartialLine p = split_partial(before);
    g_matches = complete(p.words, text ? text : "", fetch_names);
    if (g_matches.empty()) return nullptr;
    return rl_completion_matches(text, generator);
}

std::string history_path() {
    const char* home = std::getenv("HOME");
    if (!home || !*home) return "";
    return std::string(home) + "/.sluicectl_history";
}

std::string trim(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t\r\n");
    if (a == std::string::npos) return "";
    const size_t b = s.find_last_not_of(" \t\r\n");
    return s.substr(a, b - a + 1);
}

}  // namespace

int run_interactive(Session& s, const GlobalOptions& g0, const std::string& env_dataplane) {
    const bool tty = isatty(0) != 0;
    g_session = &s;
    const std::string hist = history_path();
    if (tty) {
        rl_readline_name = "sluicectl";
        rl_attempted_completion_function = attempt;
        rl_basic_word_break_characters = " \t\n\"'";
        stifle_history(kHistoryLines);
        if (!hist.empty()) read_history(hist.c_str());
        std::cout << "sluicectl: talking to "
                  << (s.endpoints().dataplane.empty() ? s.endpoints().control : s.endpoints().dataplane)
                  << "; help lists the commands, quit (or Ctrl-D) leaves\n";
    }
    Io io{std::cout, std::cerr, 0, isatty(1) != 0, true};
    // Commands read from a script (stdin not a terminal): the status of the
    // last one that failed, so `sluicectl -i < cmds` fails when one did.
    int status = kExitOk;
    while (true) {
        std::string line;
        if (tty) {
            // Ctrl-C at the prompt drops the line and gives a new prompt
            // (quit, exit or Ctrl-D leave); libedit's readline returns NULL
            // for it as for end of input, so a flag tells them apart.
            struct sigaction sa{}, old{};
            sa.sa_handler = on_prompt_sigint;
            sigemptyset(&sa.sa_mask);
            g_prompt_sigint = 0;
            sigaction(SIGINT, &sa, &old);
            char* raw = readline("sluice> ");
            sigaction(SIGINT, &old, nullptr);
            if (!raw && g_prompt_sigint) {
                std::cout << "\n";
                continue;
            }
            if (!raw) {
                std::cout << "\n";
                break;
            }
            line = raw;
            std::free(raw);
        } else if (!std::getline(std::cin, line)) {
            break;
        }
        line = trim(line);
        if (line.empty() || line[0] == '#') continue;
        if (tty) {
            add_history(line.c_str());
            // Written after every line: a prompt killed by a signal keeps
            // its history too.
            if (!hist.empty()) {
                write_history(hist.c_str());
                history_truncate_file(hist.c_str(), kHistoryLines);
            }
        }
        std::vector<std::string> words;
        std::string err;
        if (!split_words(line, &words, &err)) {
            std::cerr << "sluicectl: " << err << "\n";
            status = kExitUsage;
            continue;
        }
        if (words.empty()) continue;
        if (words.front() == "quit" || words.front() == "exit") break;
        if (words.size() == 1 && (words.front() == "help" || words.front() == "?")) {
            std::cout << interactive_help();
            continue;
        }
        Parsed p = parse_command_line(words, env_dataplane);
        if (p.exit_code >= 0) {
            std::cout << p.out;
            std::cerr << p.err;
            if (p.exit_code != kExitOk) status = p.exit_code;
            continue;
        }
        if (p.global.socket_given || p.global.dataplane_given || p.global.config_given) {
            std::cerr << "sluicectl: --socket, --dataplane and --config are given when sluicectl starts\n";
            status = kExitUsage;
            continue;
        }
        if (p.cmd.action == Action::none) continue;
        GlobalOptions g = g0;
        g.json = g0.json || p.global.json;
        if (p.global.timeout_ms != kDefaultTimeoutMs) g.timeout_ms = p.global.timeout_ms;
        try {
            if (int rc = run_command(s, g, p.cmd, io); rc != kExitOk) status = rc;
        } catch (const std::exception& e) {
            // A bug in one command must not end the session.
            std::cerr << "sluicectl: internal error: " << e.what() << "\n";
            status = kExitServerError;
        }
    }
    g_session = nullptr;
    return tty ? kExitOk : status;
}

}  // namespace sluice::cli
