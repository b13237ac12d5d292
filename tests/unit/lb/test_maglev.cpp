#include <gtest/gtest.h>

#include "dataplane/lb/maglev.hpp"
