#include "compile/compile.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <map>

#include "core/error.h"

namespace litepipe {
namespace {

void emit(YAML::Emitter& out, const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        out << YAML::Key << k << YAML::Value;
        emit(out, v);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::ordered_json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& v : j) emit(out, v);
      out << YAML::EndSeq;
      break;
    case nlohmann::ordered_json::value_t::string:
      out << YAML::DoubleQuoted << j.get<std::string>();
      break;
    case nlohmann::ordered_json::value_t::null:
      out << YAML::Null;
      break;
    default:  // numbers and booleans: JSON's spelling is YAML's
      out << j.dump();
  }
}

}  // namespace

std::string engine_name(const std::string& id) {
  std::string name;
  for (size_t i = 0; i < id.size(); ++i) {
    auto ch = static_cast<unsigned char>(id[i]);
    // "ExampleGen" -> "example-gen": a dash where a capital follows a lowercase letter or digit.
    if (std::isupper(ch) && i > 0 && std::isalnum(static_cast<unsigned char>(id[i - 1])) &&
        !std::isupper(static_cast<unsigned char>(id[i - 1]))) {
      name += '-';
    }
    if (std::isalnum(ch)) {
      name += static_cast<char>(std::tolower(ch));
    } else if (!name.empty() && name.back() != '-') {
      name += '-';
    }
  }
  while (!name.empty() && name.back() == '-') name.pop_back();
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) name = "c-" + name;
  return name;
}

std::vector<std::string> task_names(const std::vector<const Component*>& order) {
  std::vector<std::string> names;
  std::map<std::string, std::string> taken = {{kDagName, "the pipeline's DAG"}};  // name -> what has it
  for (const Component* c : order) {
    std::string name = engine_name(c->id());
    if (auto [it, fresh] = taken.emplace(name, c->id()); !fresh) {
      fail("components '{}' and '{}' both become task '{}'; give one of them another id", it->second, c->id(), name);
    }
    names.push_back(name);
  }
  return names;
}

std::vector<std::string> job_args(const CompileOptions& options, const std::string& component_id,
                                  const std::string& run_placeholder) {
  std::vector<std::string> args = {"run", options.pipeline_file, "--component", component_id, "--run", run_placeholder};
  if (!options.pipeline_root.empty()) args.insert(args.end(), {"--pipeline-root", options.pipeline_root});
  if (!options.metadata_url.empty()) args.insert(args.end(), {"--metadata", options.metadata_url});
  return args;
}

std::string to_yaml(const nlohmann::ordered_json& document) {
  YAML::Emitter out;
  emit(out, document);
  if (!out.good()) fail("cannot write YAML: {}", out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

}  // namespace litepipe
