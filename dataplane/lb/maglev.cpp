#include "dataplane/lb/maglev.hpp"

namespace sluice::lb {}  // namespace sluice::lb
