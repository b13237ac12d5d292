// Encoding a full sync (sync_parts.hpp). The expensive part is turning a
// million routes into JSON text; it is split into chunks of `chunk` routes
// that TBB encodes in parallel, each chunk into one or more pieces that
// respect both limits; the pieces are then packed into parts in order.
#include "control/daemon/sync_parts.hpp"

#include <tbb/parallel_for.h>

#include "control/api/codec.hpp"
#include "control/daemon/cores.hpp"

namespace sluice::control {

std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

namespace {
// A JSON string as nlohmann writes it; text with bytes above 0x7f goes
// through nlohmann itself (its UTF-8 checks and replacement).
void append_string(std::string& out, const std::string& t) {
    for (unsigned char c : t)
        if (c >= 0x80) {
            out += dump_json(Json(t));
            return;
        }
    out += '"';
    for (unsigned char c : t) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    static const char* hex = "0123456789abcdef";
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 15];
                } else {
                    out += char(c);
                }
        }
    }
    out += '"';
}
}  // namespace

void append_route_json(std::string& out, const config::Route& r) {
    // nlohmann's objects are std::maps: keys come out sorted
    // ("nexthops" < "prefix", "port" < "via").
    out += "{\"nexthops\":[";
    for (size_t i = 0; i < r.nexthops.size(); ++i) {
        const auto& h = r.nexthops[i];
        if (i) out += ',';
        out += '{';
        if (!h.port.empty()) {
            out += "\"port\":";
            append_string(out, h.port);
        }
        if (h.via) {
            if (!h.port.empty()) out += ',';
            out += "\"via\":\"";
            out += net::to_string(*h.via);
            out += '"';
        }
        out += '}';
    }
    out += "],\"prefix\":\"";
    out += net::to_string(r.prefix);
    out += "\"}";
}

namespace {

// Comma-joined items (no brackets) and how many.
struct Piece {
    std::string text;
    size_t count = 0;
};

// Packs items (each already encoded) into pieces of at most `max_items`
// items and `budget` bytes of text; false when one item alone is above
// the budget.
class Packer {
public:
    Packer(size_t budget, size_t max_items) : budget_(budget), max_items_(max_items) {}
    bool add(const std::string& item) {
        if (item.size() > budget_) return false;
        if (cur_.count > 0 && (cur_.count >= max_items_ || cur_.text.size() + 1 + item.size() > budget_)) flush();
        if (cur_.count) cur_.text += ',';
        cur_.text += item;
        ++cur_.count;
        return true;
    }
    std::vector<Piece> finish() {
        flush();
        return std::move(out_);
    }

private:
    void flush() {
        if (cur_.count) out_.push_back(std::move(cur_));
        cur_ = Piece{};
    }
    size_t budget_, max_items_;
    Piece cur_;
    std::vector<Piece> out_;
};

std::string too_big(const char* what, size_t budget) {
    return std::string("one ") + what + " alone is larger than a message may be (" + std::to_string(budget) +
           " bytes of arguments): raise control.max_message";
}

}  // namespace

SyncParts encode_sync(const SyncSnapshot& s, const SyncLimits& lim, ControlArena* arena, RouteCache* cache) {
    SyncParts out;
    try {
        // The array's key and brackets: {"routes":[ ... ]}
        const size_t frame_overhead = kPartEnvelope + 16;
        if (lim.max_body <= frame_overhead + 64) {
            out.ok = false;
            out.error = "control.max_message is too small for a sync part";
            return out;
        }
        const size_t budget = lim.max_body - frame_overhead;
        const size_t max_routes = lim.max_routes ? lim.max_routes : 50000;
        const size_t chunk = lim.chunk ? lim.chunk : 4096;

        auto encode_routes = [&]() -> bool {
            // Routes: the file's (minus those the operator replaced or deleted),
            // then the operator's.
            static const std::vector<config::Route> kNone;
            const std::vector<config::Route>& base = s.base_routes ? *s.base_routes : kNone;
            const size_t nchunks = (base.size() + chunk - 1) / chunk;
            std::vector<std::vector<Piece>> pieces(nchunks);
            std::vector<char> chunk_ok(nchunks, 1);
            std::vector<size_t> chunk_count(nchunks, 0);
            auto encode_chunk = [&](size_t c) {
                // Each chunk is encoded on its own: the route writer and
                // lookups in the (read-only) overlay are safe from several
                // threads; nothing here writes shared state but slot c.
                Packer pk(budget, max_routes);
                std::string item;
                const size_t end = std::min(base.size(), (c + 1) * chunk);
                size_t n = 0;
                for (size_t i = c * chunk; i < end; ++i) {
                    if (!s.route_overlay.empty() && s.route_overlay.count(base[i].prefix)) continue;
                    item.clear();
                    append_route_json(item, base[i]);
                    if (!pk.add(item)) {
                        chunk_ok[c] = 0;
                        return;
                    }
                    ++n;
                }
                pieces[c] = pk.finish();
                chunk_count[c] = n;
            };
            auto encode_all = [&] {
                tbb::parallel_for(tbb::blocked_range<size_t>(0, nchunks, 1), [&](const tbb::blocked_range<size_t>& r) {
                    for (size_t c = r.begin(); c != r.end(); ++c) encode_chunk(c);
                });
            };
            if (arena && nchunks > 1)
                arena->execute(encode_all);
            else
                for (size_t c = 0; c < nchunks; ++c) encode_chunk(c);
            for (size_t c = 0; c < nchunks; ++c) {
                if (!chunk_ok[c]) {
                    out.ok = false;
                    out.error = too_big("route", budget);
                    return false;
                }
                out.routes += chunk_count[c];
            }
            {
                Packer pk(budget, max_routes);
                for (const auto& [p, r] : s.route_overlay) {
                    if (!r) continue;
                    std::string item;
                    append_route_json(item, *r);
                    if (!pk.add(item)) {
                        out.ok = false;
                        out.error = too_big("route", budget);
                        return false;
                    }
                    ++out.routes;
                }
                pieces.push_back(pk.finish());
            }

            // Pack the pieces (in order) into parts: a part takes whole pieces
            // while both limits hold.
            std::string cur;
            size_t cur_count = 0;
            auto flush_routes = [&] {
                if (!cur_count) return;
                out.args.push_back("{\"routes\":[" + cur + "]}");
                cur.clear();
                cur_count = 0;
            };
            for (auto& list : pieces)
                for (auto& p : list) {
                    if (cur_count && (cur_count + p.count > max_routes || cur.size() + 1 + p.text.size() > budget))
                        flush_routes();
                    if (cur_count) cur += ',';
                    cur += p.text;
                    cur_count += p.count;
                }
            flush_routes();
            return true;
        };
        const bool cached = cache && cache->valid && cache->base == s.base_routes &&
                            cache->version == s.routes_version && cache->max_body == lim.max_body &&
                            cache->max_routes == max_routes;
        if (cached) {
            out.args = cache->parts;
            out.routes = cache->routes;
        } else {
            if (cache) cache->valid = false;
            if (!encode_routes()) return out;
            if (cache) {
                cache->base = s.base_routes;
                cache->version = s.routes_version;
                cache->max_body = lim.max_body;
                cache->max_routes = max_routes;
                cache->parts = out.args;
                cache->routes = out.routes;
                cache->valid = true;
            }
        }

        auto add_list = [&](const char* key, const std::vector<std::string>& items, const char* what) {
            Packer pk(budget, SIZE_MAX);
            for (const auto& it : items)
                if (!pk.add(it)) {
                    out.ok = false;
                    out.error = too_big(what, budget);
                    return false;
                }
            for (auto& p : pk.finish()) out.args.push_back(std::string("{\"") + key + "\":[" + p.text + "]}");
            return true;
        };
        std::vector<std::string> items;
        for (const auto& n : s.neighbors) items.push_back(dump_json(channel::to_json(n)));
        out.neighbors = items.size();
        if (!add_list("neighbors", items, "neighbor")) return out;
        items.clear();
        for (const auto& v : s.vips) items.push_back(dump_json(channel::to_json(v)));
        out.vips = items.size();
        if (!add_list("vips", items, "VIP")) return out;
    } catch (const std::exception& e) {
        out.ok = false;
        out.error = std::string("encoding the sync failed: ") + e.what();
        out.args.clear();
    }
    return out;
}

}  // namespace sluice::control
