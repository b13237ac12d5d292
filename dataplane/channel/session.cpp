#include "dataplane/channel/session.hpp"

#include <atomic>
#include <cstdio>

#include "control/api/frame.hpp"
#include "dataplane/channel/state.hpp"

namespace sluice::dp {

using channel::ErrorCode;
using channel::FieldError;
using channel::Json;

channel::Error make_error(ErrorCode code, std::string message, std::string field) {
    channel::Error e;
    e.code = code;
    e.message = std::move(message);
    e.field = std::move(field);
    return e;
}

channel::Error field_error(const FieldError& fe) { return make_error(ErrorCode::bad_field, fe.message, fe.field); }

channel::Error stale(uint64_t requested, uint64_t last) {
    return make_error(ErrorCode::stale_generation,
                      "generation " + std::to_string(requested) + " is older than the last applied generation " +
                          std::to_string(last),
                      "args.generation");
}

namespace {

// The framed reply for a request's outcome; a reply above the message
// limit becomes an error that says so.
std::string encode_outcome(uint64_t id, Outcome o, uint32_t max, bool* close) {
    std::string body;
    *close = false;
    if (auto* e = std::get_if<channel::Error>(&o)) {
        e->id = id;
        *close = channel::closes_connection(e->code);
        body = channel::encode_error(*e);
    } else {
        body = channel::encode_ok(id, std::get<Json>(o));
    }
    if (body.size() > max) {
        channel::Error e = make_error(ErrorCode::internal, "the reply (" + std::to_string(body.size()) +
                                                                " bytes) is above control.max_message (" +
                                                                std::to_string(max) + "); ask for less (a smaller limit)");
        e.id = id;
        body = channel::encode_error(e);
        *close = false;
    }
    return channel::frame(body);
}

}  // namespace

std::string Session::error_frame(const channel::Error& e) { return channel::frame(channel::encode_error(e)); }

void Session::reply(const Deliver& d, uint64_t id, Outcome o) {
    bool close = false;
    std::string bytes = encode_outcome(id, std::move(o), max_message_, &close);
    d(std::move(bytes), close);
}

void Session::drop_staging() {
    staged_.reset();
    staging_ = false;
    if (lock_.owner == conn_) lock_.owner = 0;
}

void Session::end() { drop_staging(); }

Outcome Session::sync_begin(const Json& args) {
    FieldError fe;
    uint64_t gen = 0;
    if (!channel::get_u64(args, "args", "generation", &gen, &fe)) return field_error(fe);
    for (const auto& [k, v] : args.items())
        if (k != "generation")
            return make_error(ErrorCode::bad_field, "unknown field \"" + k.substr(0, 60) + "\"; expected generation",
                              "args." + k.substr(0, 60));
    if (lock_.owner != 0 && lock_.owner != conn_)
        return make_error(ErrorCode::busy, "another connection is in the middle of a sync; try again after it commits");
    uint64_t last = state_.generation();
    if (ControlState::is_stale(gen, last)) return stale(gen, last);
    // A second sync_begin on the same connection starts over.
    staged_ = std::make_shared<DesiredState>();
    staging_ = true;
    staging_generation_ = gen;
    lock_.owner = conn_;
    state_.mark_control(conn_);
    return Json{{"generation", gen}, {"staging", true}};
}

Outcome Session::sync_part(const Json& args) {
    if (!staging_)
        return make_error(ErrorCode::bad_field, "no sync in progress on this connection: send sync_begin first", "type");
    FieldError fe;
    if (!stage_part(args, staged_.get(), &fe)) {
        drop_staging();
        return field_error(fe);
    }
    return Json{{"staged",
                 {{"routes", staged_->routes.size()},
                  {"neighbors", staged_->neighbors.size()},
                  {"vips", staged_->vips.size()}}}};
}

void Session::dispatch(std::string_view body, const Deliver& deliver) {
    auto parsed = channel::parse_request(body);
    if (auto* e = std::get_if<channel::Error>(&parsed)) {
        uint64_t id = e->id;
        reply(deliver, id, std::move(*e));
        return;
    }
    channel::Request& req = std::get<channel::Request>(parsed);
    const uint64_t id = req.id;
    state_.request(conn_);
    if (!hello_ && req.type != "hello") {
        reply(deliver, id, make_error(ErrorCode::not_permitted, "the first request on a connection must be hello"));
        return;
    }
    const Json& args = req.args;
    FieldError fe;

    if (req.type == "hello") {
        std::string client;
        if (!channel::get_string(args, "args", "client", &client, &fe, true)) {
            reply(deliver, id, field_error(fe));
            return;
        }
        hello_ = true;
        if (client == "sluice-control") state_.mark_control(conn_);
        reply(deliver, id, backend_.hello());
        return;
    }
    if (req.type == "sync_begin") {
        reply(deliver, id, sync_begin(args));
        return;
    }
    if (req.type == "sync_part") {
        reply(deliver, id, sync_part(args));
        return;
    }
    // Replies that come later go through `later`: it holds no reference to
    // this Session (the connection may be gone by then).
    Done later = [max = max_message_, deliver, id](Outcome o) {
        bool close = false;
        std::string bytes = encode_outcome(id, std::move(o), max, &close);
        deliver(std::move(bytes), close);
    };

    if (req.type == "sync_commit") {
        uint64_t gen = 0;
        if (!channel::get_u64(args, "args", "generation", &gen, &fe)) {
            reply(deliver, id, field_error(fe));
            return;
        }
        if (!staging_) {
            reply(deliver, id,
                  make_error(ErrorCode::bad_field, "no sync in progress on this connection: send sync_begin first",
                             "type"));
            return;
        }
        if (gen != staging_generation_) {
            reply(deliver, id,
                  make_error(ErrorCode::bad_field,
                             "expected the generation of this sync's sync_begin, " +
                                 std::to_string(staging_generation_) + ", got " + std::to_string(gen),
                             "args.generation"));
            return;
        }
        uint64_t last = state_.generation();
        std::shared_ptr<DesiredState> st = std::move(staged_);
        drop_staging();
        if (ControlState::is_stale(gen, last)) {
            reply(deliver, id, stale(gen, last));
            return;
        }
        state_.mark_control(conn_);
        backend_.commit(gen, std::move(st), std::move(later));
        return;
    }
    if (req.type == "apply") {
        auto ops = std::make_shared<ApplyOps>();
        if (!decode_apply(args, ops.get(), &fe)) {
            reply(deliver, id, field_error(fe));
            return;
        }
        uint64_t last = state_.generation();
        if (ControlState::is_stale(ops->generation, last)) {
            reply(deliver, id, stale(ops->generation, last));
            return;
        }
        state_.mark_control(conn_);
        backend_.apply(std::move(ops), std::move(later));
        return;
    }
    if (req.type == "reload") {
        if (!args.empty()) {
            reply(deliver, id,
                  make_error(ErrorCode::bad_field, "reload takes no arguments", "args." + args.begin().key().substr(0, 60)));
            return;
        }
        backend_.reload(std::move(later));
        return;
    }
    if (req.type == "show") {
        std::string what;
        if (!channel::get_string(args, "args", "what", &what, &fe)) {
            reply(deliver, id, field_error(fe));
            return;
        }
        bool known = false;
        std::string all;
        for (const char* w : kShowWhat) {
            known |= what == w;
            all += (all.empty() ? "" : ", ") + std::string(w);
        }
        if (!known) {
            reply(deliver, id,
                  make_error(ErrorCode::bad_field,
                             "unknown show \"" + what.substr(0, 60) + "\"; expected one of: " + all, "args.what"));
            return;
        }
        backend_.show(what, args, std::move(later));
        return;
    }
    reply(deliver, id,
          make_error(ErrorCode::unknown_type,
                     "unknown request type \"" + req.type.substr(0, 60) +
                         "\"; the data plane serves hello, sync_begin, sync_part, sync_commit, apply, reload, show"));
}

void Session::handle(std::string_view body, const Deliver& deliver) {
    // Exactly one reply, whatever happens: a bug that throws (a JSON type
    // error, bad_alloc) is answered with `internal` instead of ending the
    // channel's thread, unless the reply is already on its way.
    auto sent = std::make_shared<std::atomic<bool>>(false);
    Deliver once = [sent, deliver](std::string bytes, bool close) {
        if (!sent->exchange(true)) deliver(std::move(bytes), close);
    };
    try {
        dispatch(body, once);
    } catch (const std::exception& e) {
        if (sent->load()) return;
        uint64_t id = 0;
        if (auto p = channel::parse_request(body); std::holds_alternative<channel::Request>(p))
            id = std::get<channel::Request>(p).id;
        std::fprintf(stderr, "channel: internal error: %s\n", e.what());
        reply(once, id, make_error(ErrorCode::internal, std::string("internal error: ") + e.what()));
    }
}

}  // namespace sluice::dp
