// `litepipe compile`: the Argo Workflow is validated against Argo's published JSON schema (the
// definitions it uses, tests/data/argo/), the Kubeflow Pipelines spec by parsing it into KFP's
// own proto messages (tests/data/kfp/pipeline_spec.proto), which reject unknown fields and
// wrong types.
#include <google/protobuf/util/json_util.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>

#include "compile/compile.h"
#include "components/builtin.h"
#include "core/files.h"
#include "pipeline/yaml_pipeline.h"
#include "pipeline_spec.pb.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;

// Schema errors of `document`, one line each ("<root>.[spec].[templates]...: why").
std::string schema_errors(const json& document) {
  static const json schema_doc = read_json_file(testing::source_dir() / "tests/data/argo/workflow_schema_subset.json");
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter schema_adapter(schema_doc);
  parser.populateSchema(schema_adapter, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(document);
  if (validator.validate(schema, target, &results)) return "";
  std::string errors;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string where;
    for (const auto& c : error.context) where += c;
    errors += where + ": " + error.description + "\n";
  }
  return errors.empty() ? "invalid" : errors;
}

// A YAML document as JSON: quoted scalars are strings, plain ones numbers, booleans or null.
json yaml_to_json(const YAML::Node& node) {
  if (node.IsMap()) {
    json o = json::object();
    for (const auto& kv : node) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  if (node.IsSequence()) {
    json a = json::array();
    for (const auto& item : node) a.push_back(yaml_to_json(item));
    return a;
  }
  if (node.IsNull()) return nullptr;
  if (node.Tag() == "!") return node.Scalar();
  return json::parse(node.Scalar());  // numbers and booleans are written as JSON spells them
}

std::string to_dump(const nlohmann::ordered_json& j) { return j.dump(); }

class CompileTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    file_ = testing::source_dir() / "examples/mnist/pipeline.yaml";
    try {
      pipeline_ = load_pipeline_file(file_, builtin_components());
    } catch (const Error& e) {
      GTEST_SKIP() << "examples/mnist/pipeline.yaml does not load here: " << e.what();
    }
    options_ = {"registry.example/litepipe:0.1", "examples/mnist/pipeline.yaml", "", ""};
  }
  // Upstream component ids of each component, from the pipeline's wiring.
  std::map<std::string, std::set<std::string>> upstream() const {
    std::map<std::string, std::set<std::string>> up;
    for (const auto& c : pipeline_.components) {
      up[engine_name(c->id())];
      for (const auto& [key, ch] : c->inputs()) up[engine_name(c->id())].insert(engine_name(ch.producer->id()));
    }
    return up;
  }
  fs::path file_;
  Pipeline pipeline_;
  CompileOptions options_;
};

TEST_F(CompileTest, NamesAreWhatTheEnginesAccept) {
  EXPECT_EQ(engine_name("ExampleGen"), "example-gen");
  EXPECT_EQ(engine_name("Trainer.mnist_lite_int8"), "trainer-mnist-lite-int8");
  EXPECT_EQ(engine_name("ModelComparator.mnist_lite"), "model-comparator-mnist-lite");
  auto a = StatisticsGen({})->with_id("x_y");
  auto b = StatisticsGen({})->with_id("x-y");
  testing::expect_error([&] { task_names({a.get(), b.get()}); }, {"'StatisticsGen.x_y'", "'StatisticsGen.x-y'", "statistics-gen-x-y"});
}

TEST_F(CompileTest, ArgoWorkflowValidatesAgainstArgosSchemaAndFollowsTheDag) {
  options_.metadata_url = "sqlite:///shared/mnist/metadata.sqlite";
  json workflow = json::parse(to_dump(compile_argo(pipeline_, options_)));
  EXPECT_EQ(schema_errors(workflow), "");
  EXPECT_EQ(workflow["apiVersion"], "argoproj.io/v1alpha1");
  EXPECT_EQ(workflow["kind"], "Workflow");
  const json& templates = workflow["spec"]["templates"];
  ASSERT_EQ(templates.size(), pipeline_.components.size() + 1);
  EXPECT_EQ(templates[0]["name"], workflow["spec"]["entrypoint"]);
  const json& tasks = templates[0]["dag"]["tasks"];
  ASSERT_EQ(tasks.size(), pipeline_.components.size());
  auto up = upstream();
  std::set<std::string> seen;
  for (const auto& task : tasks) {
    std::string name = task["name"];
    std::set<std::string> deps;
    for (const auto& d : task.value("dependencies", json::array())) {
      deps.insert(d.get<std::string>());
      EXPECT_TRUE(seen.count(d.get<std::string>())) << name << " is listed before its dependency " << d;
    }
    EXPECT_EQ(deps, up.at(name)) << name;
    seen.insert(name);
  }
  // Each component's container runs it as a job of the workflow's run.
  json trainer;
  for (const auto& t : templates)
    if (t["name"] == "trainer-mnist-lite") trainer = t;
  EXPECT_EQ(trainer["container"]["image"], "registry.example/litepipe:0.1");
  EXPECT_EQ(trainer["container"]["command"], json::array({"litepipe"}));
  EXPECT_EQ(trainer["container"]["args"],
            json::array({"run", "examples/mnist/pipeline.yaml", "--component", "Trainer.mnist_lite", "--run", "{{workflow.name}}",
                         "--metadata", "sqlite:///shared/mnist/metadata.sqlite"}));

  // The validator does reject what Argo's schema forbids.
  json broken = workflow;
  broken["kind"] = "Job";
  broken["spec"]["templates"][1].erase("name");
  broken["spec"]["templates"][0]["dag"]["tasks"][0]["dependencies"] = "example-gen";
  std::string errors = schema_errors(broken);
  EXPECT_NE(errors.find("[kind]"), std::string::npos) << errors;
  EXPECT_NE(errors.find("[templates][1]"), std::string::npos) << errors;
  EXPECT_NE(errors.find("[dependencies]"), std::string::npos) << errors;
}

TEST_F(CompileTest, KfpSpecParsesIntoKubeflowsPipelineSpecMessages) {
  std::string text = to_dump(compile_kfp(pipeline_, options_));
  ml_pipelines::PipelineSpec spec;
  auto status = google::protobuf::util::JsonStringToMessage(text, &spec);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(spec.schema_version(), "2.1.0");
  EXPECT_EQ(spec.sdk_version().rfind("litepipe-", 0), 0u);
  EXPECT_EQ(spec.pipeline_info().name(), "mnist");
  // deploymentSpec is a Struct in PipelineSpec; KFP reads it as PipelineDeploymentConfig.
  json document = json::parse(text);
  ml_pipelines::PipelineDeploymentConfig deployment;
  status = google::protobuf::util::JsonStringToMessage(document["deploymentSpec"].dump(), &deployment);
  ASSERT_TRUE(status.ok()) << status.ToString();

  const auto& tasks = spec.root().dag().tasks();
  ASSERT_EQ(tasks.size(), pipeline_.components.size());
  auto up = upstream();
  for (const auto& [name, task] : tasks) {
    std::set<std::string> deps(task.dependent_tasks().begin(), task.dependent_tasks().end());
    EXPECT_EQ(deps, up.at(name)) << name;
    for (const auto& d : deps) EXPECT_TRUE(tasks.count(d)) << name << " depends on unknown task " << d;
    EXPECT_FALSE(task.caching_options().enable_cache()) << name;
    // task -> component -> executor -> container running this component as a job.
    ASSERT_TRUE(spec.components().count(task.component_ref().name())) << name;
    const auto& label = spec.components().at(task.component_ref().name()).executor_label();
    ASSERT_TRUE(deployment.executors().count(label)) << name;
    const auto& container = deployment.executors().at(label).container();
    EXPECT_EQ(container.image(), "registry.example/litepipe:0.1");
    ASSERT_GE(container.args_size(), 6);
    EXPECT_EQ(engine_name(container.args(3)), name);
    EXPECT_EQ(container.args(5), "{{$.pipeline_job_name}}");
  }

  // The parse is a real check: a misspelt field or a wrong type is refused.
  document["root"]["dag"]["tasks"]["example-gen"]["dependentTask"] = json::array();
  EXPECT_FALSE(google::protobuf::util::JsonStringToMessage(document.dump(), &spec).ok());
  document = json::parse(text);
  document["schemaVersion"] = 2.1;
  EXPECT_FALSE(google::protobuf::util::JsonStringToMessage(document.dump(), &spec).ok());
}

TEST_F(CompileTest, CliWritesYamlThatReadsBackAsTheSameDocument) {
  fs::path yaml = dir_ / "workflow.yaml", json_file = dir_ / "workflow.json";
  auto cli = [&](const std::string& args) {
    return std::system(fmt::format("cd {} && {} compile examples/mnist/pipeline.yaml {} > {} 2>&1", testing::source_dir().string(),
                                   LITEPIPE_BINARY, args, (dir_ / "cli.log").string()).c_str());
  };
  for (const char* target : {"argo", "kfp"}) {
    ASSERT_EQ(cli(fmt::format("--target {} --image img:1 --output {}", target, yaml.string())), 0) << read_file(dir_ / "cli.log");
    ASSERT_EQ(cli(fmt::format("--target {} --image img:1 --output {}", target, json_file.string())), 0) << read_file(dir_ / "cli.log");
    json from_yaml = yaml_to_json(YAML::LoadFile(yaml.string())), from_json = read_json_file(json_file);
    EXPECT_EQ(from_yaml, from_json) << target;
    if (std::string(target) == "argo") {
      EXPECT_EQ(schema_errors(from_yaml), "");
    }
    if (std::string(target) == "kfp") {
      ml_pipelines::PipelineSpec spec;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(from_yaml.dump(), &spec).ok());
      EXPECT_EQ(from_yaml["schemaVersion"], "2.1.0");  // quoted in YAML: still a string
    }
  }
  EXPECT_NE(cli("--target argo --image img:1 --metadata mysql://db"), 0);
  EXPECT_NE(read_file(dir_ / "cli.log").find("unsupported scheme 'mysql'"), std::string::npos) << read_file(dir_ / "cli.log");
  EXPECT_NE(cli("--target slurm --image img:1"), 0);
}

}  // namespace
}  // namespace litepipe
