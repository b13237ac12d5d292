#include "dataplane/lb/rewrite.hpp"

namespace sluice::lb {}  // namespace sluice::lb
