#include "components/example_gen.h"

#include <fnmatch.h>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/files.h"
#include "core/hashing.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "data/example_sources.h"
#include "data/tfrecord.h"

namespace litepipe {
namespace {

using nlohmann::json;

struct HashSplit {
  std::string name;
  uint64_t buckets;
};

std::string detect_format(const fs::path& base) {
  if (fs::exists(base / "src" / "digits" / "0.json") || fs::exists(base / "digits" / "0.json") ||
      fs::exists(base / "0.json")) return "mnist_json";
  for (const auto& f : list_files(base)) {
    std::string name = f.filename().string();
    if (name.find("-idx3-ubyte") != std::string::npos) return "idx";
    if (name.ends_with(".csv") || name.ends_with(".csv.gz")) return "csv";
    if (name.find("tfrecord") != std::string::npos || name.ends_with(".tfrecord") || name.ends_with(".gz")) return "tfrecord";
  }
  fail("ExampleGen: cannot tell the format of {} (set input_format: tfrecord, csv, idx or mnist_json)", base.string());
}

std::vector<HashSplit> parse_split_config(const json& output_config) {
  std::vector<HashSplit> splits;
  const json* cfg = &output_config;
  if (cfg->contains("split_config")) cfg = &(*cfg)["split_config"];
  if (!cfg->contains("splits") || !(*cfg)["splits"].is_array() || (*cfg)["splits"].empty()) {
    fail("ExampleGen: output_config.split_config.splits must be a non-empty list of {{name, hash_buckets}}");
  }
  for (size_t i = 0; i < (*cfg)["splits"].size(); ++i) {
    const json& s = (*cfg)["splits"][i];
    if (!s.contains("name") || !s["name"].is_string() || s["name"].get<std::string>().empty()) {
      fail("ExampleGen: output_config.split_config.splits[{}].name must be a non-empty string", i);
    }
    if (!s.contains("hash_buckets") || !s["hash_buckets"].is_number_integer() || s["hash_buckets"].get<int64_t>() <= 0) {
      fail("ExampleGen: output_config.split_config.splits[{}].hash_buckets must be a positive integer", i);
    }
    splits.push_back({s["name"].get<std::string>(), s["hash_buckets"].get<uint64_t>()});
  }
  return splits;
}

class ExampleGenExecutor final : public Executor {
 public:
  void Do(const ArtifactMap&, ArtifactMap& outputs, const json& props, const ExecutorContext&) override {
    fs::path base = props.at("input_base").get<std::string>();
    if (!fs::exists(base)) fail("ExampleGen: input_base {} does not exist", base.string());
    std::string format = props.value("input_format", "auto");
    if (format == "auto") format = detect_format(base);

    // 1. Read the source; each example keeps the split the source gives it ("" if none).
    std::map<std::string, std::vector<std::string>> by_source_split;
    uint64_t total = 0;
    Progress progress("ExampleGen read", 0);
    ExampleSink sink = [&](const std::string& split, std::string&& serialized) {
      by_source_split[split].push_back(std::move(serialized));
      ++total;
      progress.advance();
    };
    std::vector<SourceSplit> source_splits;
    if (props.contains("input_config")) {
      for (const auto& s : props["input_config"].value("splits", json::array())) {
        if (!s.contains("name") || !s.contains("pattern")) fail("ExampleGen: input_config.splits entries need 'name' and 'pattern'");
        source_splits.push_back({s["name"].get<std::string>(), s["pattern"].get<std::string>()});
      }
    }
    auto split_of_file = [&](const fs::path& file) -> std::string {
      if (source_splits.empty()) return "";
      std::string rel = fs::is_directory(base) ? fs::relative(file, base).string() : file.filename().string();
      for (const auto& s : source_splits)
        if (::fnmatch(s.pattern.c_str(), rel.c_str(), 0) == 0) return s.name;
      return "-";  // matches no split: skipped
    };
    if (format == "mnist_json") {
      read_mnist_json_dir(base, sink);
    } else if (format == "idx") {
      read_idx_dir(base, sink);
    } else if (format == "csv" || format == "tfrecord") {
      for (const auto& file : list_files(base)) {
        std::string split = split_of_file(file);
        if (split == "-") continue;
        if (format == "csv") read_csv_file(file, split, sink);
        else read_tfrecord_file(file, split, sink);
      }
    } else {
      fail("ExampleGen: parameter 'input_format' is '{}', expected auto, tfrecord, csv, idx or mnist_json", format);
    }
    progress.finish();
    if (total == 0) fail("ExampleGen: no examples found in {}", base.string());
    for (const auto& s : source_splits) {
      if (!by_source_split.count(s.name)) fail("ExampleGen: input_config split '{}' (pattern '{}') matched no examples", s.name, s.pattern);
    }

    // 2. Assign output splits: keep the source's own, or hash buckets (TFX's default 2:1).
    bool source_has_splits = !by_source_split.count("");
    std::map<std::string, std::vector<std::string>> splits;
    std::vector<std::string> split_names;
    if (source_has_splits && !props.contains("output_config")) {
      for (auto& [name, list] : by_source_split) splits[name] = std::move(list);
      for (const char* preferred : {"train", "eval"})
        if (splits.count(preferred)) split_names.push_back(preferred);
      for (const auto& [name, _] : splits)
        if (name != "train" && name != "eval") split_names.push_back(name);
    } else {
      if (source_has_splits && by_source_split.size() > 1) {
        fail("ExampleGen: output_config.split_config needs a source without predefined splits ({} has {})",
             base.string(), by_source_split.size());
      }
      // TFX's default: hash buckets train:eval = 2:1.
      std::vector<HashSplit> hash_splits = {{"train", 2}, {"eval", 1}};
      if (props.contains("output_config")) hash_splits = parse_split_config(props["output_config"]);
      uint64_t buckets = 0;
      for (const auto& s : hash_splits) buckets += s.buckets;
      for (const auto& s : hash_splits) split_names.push_back(s.name);
      for (auto& [_, list] : by_source_split) {
        for (auto& serialized : list) {
          // Deterministic: the bucket depends only on the example's bytes.
          uint64_t bucket = hash64(serialized) % buckets;
          for (const auto& s : hash_splits) {
            if (bucket < s.buckets) {
              splits[s.name].push_back(std::move(serialized));
              break;
            }
            bucket -= s.buckets;
          }
        }
      }
    }

    // 3. Write shards in parallel, each to a temp name renamed into place.
    Artifact& out = outputs.at("examples").at(0);
    struct Shard { std::string split; size_t index, count, begin, end; };
    std::vector<Shard> shards;
    json counts = json::object();
    int64_t configured = props.value("num_shards", int64_t{0});
    for (const auto& name : split_names) {
      size_t n = splits[name].size();
      counts[name] = n;
      size_t count = configured > 0 ? static_cast<size_t>(configured) : std::clamp<size_t>((n + 19999) / 20000, 1, 64);
      count = std::max<size_t>(1, std::min(count, n));
      for (size_t i = 0; i < count; ++i) shards.push_back({name, i, count, n * i / count, n * (i + 1) / count});
    }
    parallel_for(shards.size(), [&](size_t s) {
      const Shard& shard = shards[s];
      fs::path dir = fs::path(out.uri) / ("Split-" + shard.split);
      fs::create_directories(dir);
      fs::path file = dir / fmt::format("data_tfrecord-{:05}-of-{:05}.gz", shard.index, shard.count);
      fs::path tmp = dir / fmt::format(".{}", file.filename().string());  // hidden until complete
      TFRecordWriter writer(tmp);
      const auto& list = splits.at(shard.split);
      for (size_t i = shard.begin; i < shard.end; ++i) writer.write(list[i]);
      writer.close();
      fs::rename(tmp, file);
    });
    out.set_split_names(split_names);
    out.properties["num_examples"] = counts;
    out.properties["input_format"] = format;
    std::string summary;
    for (const auto& name : split_names) summary += fmt::format(" {}={}", name, counts[name].get<uint64_t>());
    spdlog::info("ExampleGen: {} examples from {} ({}):{}", total, base.string(), format, summary);
  }
};

}  // namespace

const ComponentRegistration& example_gen_registration() {
  static const ComponentRegistration registration{
      ComponentSpec{
          "ExampleGen",
          {},
          {{"examples", artifact_types::kExamples}},
          {{"input_base", path_param(true)},
           {"input_format", optional_param(ParamType::String, "auto")},
           {"input_config", optional_param(ParamType::Object)},
           {"output_config", optional_param(ParamType::Object)},
           {"num_shards", optional_param(ParamType::Int, 0)}}},
      [] { return std::make_unique<ExampleGenExecutor>(); },
      // The cache sees new data: input files' names, sizes and modification times.
      [](const json& props) { return tree_fingerprint(props.at("input_base").get<std::string>()); }};
  return registration;
}

std::shared_ptr<Component> ExampleGen(const ExampleGenArgs& args) {
  json params = {{"input_base", fs::absolute(args.input_base).lexically_normal().string()},
                 {"input_format", args.input_format},
                 {"num_shards", args.num_shards}};
  if (!args.input_config.is_null()) params["input_config"] = args.input_config;
  if (!args.output_config.is_null()) params["output_config"] = args.output_config;
  return make_component(example_gen_registration(), {}, params);
}

}  // namespace litepipe
