// One-line summaries of change results (format.hpp, format_change): the
// data plane's apply/sync/reload results and the control process's
// answers around them (control/daemon/service.cpp).
#include "control/cli/format.hpp"

namespace sluice::cli {

namespace {

// An apply/sync result of the data plane (docs/control-protocol.md):
// "generation 43: routes 1 changed (1 FIB write), visible after 0.118 ms".
bool apply_summary(const Json& r, std::string* out) {
    const Json* g = field(r, {"generation"});
    const Json* c = field(r, {"changes"});
    if (!g && !c) return false;
    std::string s = g ? "generation " + cell(*g) : "";
    if (c && c->is_object()) {
        std::string parts;
        for (const char* k : {"routes", "neighbors", "vips"}) {
            const Json* n = field(*c, {k});
            if (n && !(n->is_number() && n->get<double>() == 0))
                parts += (parts.empty() ? "" : ", ") + (std::string(k) + " " + cell(*n));
        }
        for (auto it = c->begin(); it != c->end(); ++it) {
            const std::string& k = it.key();
            if (k == "routes" || k == "neighbors" || k == "vips") continue;
            if (!(it.value().is_number() && it.value().get<double>() == 0))
                parts += (parts.empty() ? "" : ", ") + k + " " + cell(it.value());
        }
        s += (s.empty() ? "" : ": ") + (parts.empty() ? std::string("no changes") : parts + " changed");
    }
    std::vector<std::string> extra;
    if (const Json* f = field(r, {"fib_ops"}); f && !(f->is_number() && f->get<double>() == 0))
        extra.push_back(cell(*f) + " FIB writes");
    if (const Json* m = field(r, {"maglev_rebuilt"}); m && !(m->is_number() && m->get<double>() == 0))
        extra.push_back(cell(*m) + " Maglev tables built");
    if (const Json* v = field(r, {"visible_ns"}); v && v->is_number())
        extra.push_back("visible after " + float_text(v->get<double>() / 1e6) + " ms");
    for (size_t i = 0; i < extra.size(); ++i) s += (i ? ", " : " (") + extra[i];
    if (!extra.empty()) s += ")";
    *out = s;
    return true;
}

// A part the control process could not push: {"pushed": false, "error": ...}
// or {"error": {"code", "message"}}.
std::string push_problem(const Json& r) {
    const Json* e = field(r, {"error"});
    if (!e) return "";
    if (e->is_object()) {
        const Json* m = field(*e, {"message"});
        const Json* c = field(*e, {"code"});
        return (c ? cell(*c) + ": " : "") + (m ? cell(*m) : e->dump());
    }
    return cell(*e);
}

std::string generic(const Json& result) {
    std::string s;
    for (auto it = result.begin(); it != result.end(); ++it)
        if (it.key() != "applied")
            s += (s.empty() ? "" : ", ") + it.key() + " " +
                 (is_scalar(it.value()) ? cell(it.value()) : it.value().dump());
    return s;
}

}  // namespace

std::string format_change(const std::string& type, const Json& result) {
    (void)type;
    if (!result.is_object()) return result.is_null() ? "ok\n" : "ok: " + cell(result) + "\n";
    std::string sum;
    // The data plane's reload: {"applied", "version", "summary"}.
    if (const Json* s = field(result, {"summary"}); s && s->is_string()) {
        std::string out = "ok: ";
        if (const Json* v = field(result, {"version"}); v && v->is_number()) out += "config version " + cell(*v) + ": ";
        return out + s->get<std::string>() + "\n";
    }
    // The control process's reload: its own sync, then the data plane's
    // reload of the settings.
    if (result.contains("sync") || result.contains("dataplane_reload")) {
        std::string out;
        if (const Json* rl = field(result, {"dataplane_reload"}); rl && rl->is_object()) {
            const std::string problem = push_problem(*rl);
            if (!problem.empty()) out += "data plane reload pending: " + problem + "\n";
            else out += format_change("reload", *rl);
        }
        if (const Json* sy = field(result, {"sync"}); sy && sy->is_object()) {
            const std::string problem = push_problem(*sy);
            if (!problem.empty()) out += "sync pending: " + problem + "\n";
            else if (apply_summary(*sy, &sum)) out += "ok: synced " + sum + "\n";
        }
        return out.empty() ? "ok\n" : out;
    }
    // The control process's change: {"changed", "pushed", "dataplane"}.
    if (const Json* ch = field(result, {"changed"}); ch && ch->is_boolean()) {
        if (!ch->get<bool>()) return "ok: no change (it was already so)\n";
        const Json* pushed = field(result, {"pushed"});
        if (pushed && pushed->is_boolean() && !pushed->get<bool>()) {
            const Json* e = field(result, {"dataplane_error", "error"});
            return "ok: changed in sluice-control; the data plane gets it with the next sync" +
                   (e ? " (" + cell(*e) + ")" : std::string()) + "\n";
        }
        if (const Json* dp = field(result, {"dataplane"}); dp && dp->is_object() && apply_summary(*dp, &sum))
            return "ok: " + sum + "\n";
        return "ok: changed\n";
    }
    if (apply_summary(result, &sum)) return "ok: " + sum + "\n";
    const std::string g = generic(result);
    return g.empty() ? "ok\n" : "ok: " + g + "\n";
}

}  // namespace sluice::cli
