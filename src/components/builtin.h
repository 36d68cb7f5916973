#pragma once
// Every component litepipe ships, by type name (for pipeline files and executor processes).
#include "components/example_gen.h"
#include "components/evaluator.h"
#include "components/example_validator.h"
#include "components/model_comparator.h"
#include "components/pusher.h"
#include "components/resolver.h"
#include "components/schema_gen.h"
#include "components/statistics_gen.h"
#include "components/trainer.h"
#include "components/transform.h"
#include "pipeline/registry.h"

namespace litepipe {
const ComponentRegistry& builtin_components();
}
