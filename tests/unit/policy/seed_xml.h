// The seed's XML examples for the policy tests (one copy: src/policy/seed_examples.h).
#pragma once

#include "policy/seed_examples.h"

namespace cafs::policy::testing {
using seed_examples::kSeedVmSet;
using seed_examples::kSeedVmSetOneLine;
using seed_examples::kSeedVobjList;
}  // namespace cafs::policy::testing
