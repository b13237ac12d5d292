// The connect layer's one way of failing: *err (when given) says why, and
// the caller returns false.
#pragma once

#include <string>

namespace sluice::drivers::rdma {

inline bool fail(std::string* err, std::string msg) {
    if (err != nullptr) *err = std::move(msg);
    return false;
}

}  // namespace sluice::drivers::rdma
