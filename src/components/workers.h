#pragma once
// Components that run on several processes: the Trainer (data-parallel training) and the sharded
// data components (ExampleGen, StatisticsGen, Evaluator, split by input file). With num_workers
// K > 1 the executor starts `mpirun -np K litepipe execute --invocation FILE` for its own
// execution and waits; under a launcher (mpirun, srun) it is already one of the ranks.
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/component.h"

namespace litepipe {

inline constexpr int kMaxWorkers = 1024;

// Whether `litepipe execute` may run an invocation of this component type as one of several ranks.
bool runs_on_several_processes(const std::string& component_type);

// An integer parameter within [lowest, highest]; `field` names it in the error and `lowest_means`
// says what the lowest value asks for ("every core"), if anything. A null value is `if_null`.
int checked_int_in_range(const nlohmann::json& value, const std::string& field, int if_null, int lowest, int highest,
                         const std::string& lowest_means = "");
// A num_workers value: an integer from 1 to kMaxWorkers; `field` names it in the error
// ("Trainer: train_args.num_workers"). A null value is 1.
int checked_num_workers(const nlohmann::json& value, const std::string& field);
// The `num_workers` parameter of a sharded data component (optional, no default: a component
// without it keeps its cache key).
ParamSpec num_workers_param(const std::string& component);

// Starts `mpirun -np workers litepipe execute --invocation FILE` for this execution and waits:
// every rank runs the executor again (as one of `workers`); rank 0's result is the execution's.
// Any rank's error fails the component with that rank's message. `field` names the setting.
void launch_workers(const std::string& component_type, const std::string& field, int workers, const ArtifactMap& inputs,
                    ArtifactMap& outputs, const nlohmann::json& props, const ExecutorContext& context);

}  // namespace litepipe
