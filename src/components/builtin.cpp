#include "components/builtin.h"

namespace litepipe {

const ComponentRegistry& builtin_components() {
  static const ComponentRegistry registry = [] {
    ComponentRegistry r;
    r.add(example_gen_registration());
    r.add(statistics_gen_registration());
    r.add(schema_gen_registration());
    r.add(example_validator_registration());
    r.add(transform_registration());
    r.add(trainer_registration());
    r.add(evaluator_registration());
    r.add(pusher_registration());
    r.add(model_comparator_registration());
    r.add(resolver_registration());
    return r;
  }();
  return registry;
}

}  // namespace litepipe
