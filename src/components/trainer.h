#pragma once
// Trainer: loads the user's module (a shared library) and calls its run_fn(fn_args), which
// trains a model and saves the serving model into fn_args.serving_model_dir, as TFX's Trainer.
//
//   #include "components/trainer.h"
//   extern "C" void run_fn(const litepipe::FnArgs& fn_args) { ... }
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/registry.h"

namespace litepipe {

struct FnArgs {
  std::vector<std::string> train_files;  // TFRecord shards of the train split
  std::vector<std::string> eval_files;   // ... and of the eval split
  std::string schema_path;               // schema.json, or "" without a schema input
  std::string transform_output;          // TransformGraph folder, or "" without Transform
  std::string base_model;                // the base_model input's Format-Serving folder (TFX's
                                         // warm start: a model to continue from or rewrite), or ""
  std::string serving_model_dir;         // <model uri>/Format-Serving: write the serving model here
  std::string model_run_dir;             // logs, history
  int64_t train_steps = 0;
  int64_t eval_steps = 0;
  nlohmann::json custom_config = nlohmann::json::object();
};

using RunFn = void(const FnArgs&);

struct TrainerArgs {
  std::string module_file = {};
  std::string run_fn = "run_fn";
  Channel examples = {};
  Channel transform_graph = {};
  Channel schema = {};
  Channel base_model = {};  // another Trainer's model
  int64_t train_steps = 0;  // train_args.num_steps
  // train_args.num_workers: processes training data-parallel under mpirun (see Model::fit).
  int num_workers = 1;
  int64_t eval_steps = 0;   // eval_args.num_steps
  nlohmann::json custom_config = nlohmann::json::object();
};

inline constexpr const char* kServingModelDir = "Format-Serving";

const ComponentRegistration& trainer_registration();
std::shared_ptr<Component> Trainer(const TrainerArgs& args);

}  // namespace litepipe
