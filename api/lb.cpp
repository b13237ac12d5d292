#include "api/lb.hpp"

namespace sluice::api {

const char* to_string(LbProto p) {
    switch (p) {
    case LbProto::tcp: return "tcp";
    case LbProto::udp: return "udp";
    case LbProto::both: return "both";
    }
    return "?";
}

const char* to_string(LbMode m) {
    switch (m) {
    case LbMode::l2_dsr: return "l2_dsr";
    case LbMode::ipip: return "ipip";
    case LbMode::gue: return "gue";
    case LbMode::nat: return "nat";
    }
    return "?";
}

const char* to_string(BackendState s) {
    switch (s) {
    case BackendState::up: return "up";
    case BackendState::drain: return "drain";
    case BackendState::down: return "down";
    }
    return "?";
}

const char* to_string(DownRule r) {
    switch (r) {
    case DownRule::reschedule: return "reschedule";
    case DownRule::drop: return "drop";
    }
    return "?";
}

const char* to_string(LbHash h) {
    switch (h) {
    case LbHash::five_tuple: return "5-tuple";
    case LbHash::addresses: return "addresses";
    }
    return "?";
}

}  // namespace sluice::api
