#include "components/transform.h"

#include <set>

#include <spdlog/spdlog.h>

#include "components/artifact_io.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/shared_library.h"
#include "data/example_sources.h"
#include "data/tfrecord.h"

namespace litepipe {
namespace {

using nlohmann::json;

transform::PreprocessingFn resolve_preprocessing_fn(const json& props) {
  const json& spec = props.contains("preprocessing_fn") ? props["preprocessing_fn"] : json();
  if (spec.is_array()) return transform::parse_preprocessing_fn(spec, "Transform");
  std::string module = props.value("module_file", "");
  if (module.empty()) fail("Transform: set parameter 'preprocessing_fn' (a list of ops) or 'module_file'");
  std::string entry = spec.is_string() ? spec.get<std::string>() : "preprocessing_fn";
  transform::PreprocessingFn fn;
  SharedLibrary(module).symbol<PreprocessingFnEntry>(entry)(fn);
  if (fn.empty()) fail("Transform: {} in {} produced no ops", entry, module);
  return fn;
}

class TransformExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
    const Artifact& examples = single_input(inputs, "examples");
    transform::PreprocessingFn fn = resolve_preprocessing_fn(props);
    if (auto it = inputs.find("schema"); it != inputs.end() && !it->second.empty()) {
      json schema = read_json_file(fs::path(it->second[0].uri) / "schema.json");
      std::set<std::string> known;
      for (const auto& f : schema["feature"]) known.insert(f["name"].get<std::string>());
      for (const auto& op : fn) {
        if (!known.count(op.input)) fail("Transform: op '{}' reads feature '{}', which neither the schema nor an earlier op has", op.output, op.input);
        known.insert(op.output);
      }
    }
    auto splits = examples.split_names();
    if (std::find(splits.begin(), splits.end(), "train") == splits.end()) fail("Transform: examples {} have no 'train' split to analyze", examples.uri);
    transform::TransformGraph graph = transform::TransformGraph::analyze(fn, example_files(examples, "train"));
    graph.save(outputs.at("transform_graph").at(0).uri);

    Artifact& out = outputs.at("transformed_examples").at(0);
    struct Job { std::string split; fs::path in, out; };
    std::vector<Job> jobs;
    for (const auto& split : splits) {
      auto files = example_files(examples, split);
      for (size_t i = 0; i < files.size(); ++i) {
        jobs.push_back({split, files[i], split_dir(out, split) / fmt::format("transformed_examples-{:05}-of-{:05}.gz", i, files.size())});
      }
    }
    parallel_for(jobs.size(), [&](size_t j) {
      fs::create_directories(jobs[j].out.parent_path());
      TFRecordReader reader(jobs[j].in);
      TFRecordWriter writer(jobs[j].out);
      std::string record;
      tensorflow::Example raw;
      while (reader.next(record)) {
        if (!raw.ParseFromString(record)) fail("{}: record {} is not a tf.Example", jobs[j].in.string(), reader.records_read() - 1);
        writer.write(serialize_deterministic(graph.apply(raw)));
      }
      writer.close();
    });
    out.set_split_names(splits);
    std::string summary;
    for (const auto& op : graph.to_json()["ops"]) summary += fmt::format(" {}={}({}) {}", op["output"].get<std::string>(), op["op"].get<std::string>(), op["input"].get<std::string>(), op["constants"].dump());
    spdlog::info("Transform: analyzed {} examples:{}", graph.to_json()["analyzed_examples"].get<uint64_t>(), summary);
  }
};

}  // namespace

const ComponentRegistration& transform_registration() {
  static const ComponentRegistration registration{
      ComponentSpec{"Transform",
                    {{"examples", {artifact_types::kExamples}}, {"schema", {artifact_types::kSchema, true}}},
                    {{"transform_graph", artifact_types::kTransformGraph}, {"transformed_examples", artifact_types::kExamples}},
                    {{"preprocessing_fn", optional_param(ParamType::Any)}, {"module_file", path_param(false, true)}},
                    // A list of ops is parsed (and so checked) when the pipeline is built.
                    [](const json& props) {
                      if (props.contains("preprocessing_fn") && props["preprocessing_fn"].is_array()) resolve_preprocessing_fn(props);
                      else if (!props.contains("module_file")) fail("set parameter 'preprocessing_fn' (a list of ops) or 'module_file'");
                    }},
      [] { return std::make_unique<TransformExecutor>(); },
      {}};
  return registration;
}

std::shared_ptr<Component> Transform(const TransformArgs& args) {
  json params = json::object();
  if (!args.preprocessing_fn.is_null()) params["preprocessing_fn"] = args.preprocessing_fn;
  if (!args.module_file.empty()) params["module_file"] = fs::absolute(args.module_file).string();
  std::map<std::string, Channel> inputs = {{"examples", args.examples}};
  if (args.schema.producer) inputs["schema"] = args.schema;
  return make_component(transform_registration(), inputs, params);
}

}  // namespace litepipe
