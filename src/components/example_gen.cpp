#include "components/example_gen.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>
#include <tuple>

#include <spdlog/spdlog.h>

#include "components/workers.h"
#include "core/error.h"
#include "core/files.h"
#include "core/hashing.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "data/example_sources.h"
#include "data/tfrecord.h"
#include "distributed/world.h"

namespace litepipe {
namespace {

using nlohmann::json;

using HashSplit = ExampleGenConfig::HashSplit;

// Keys of ExampleGen's parameters.
constexpr const char* kInputBase = "input_base";
constexpr const char* kInputFormat = "input_format";
constexpr const char* kInputConfig = "input_config";
constexpr const char* kOutputConfig = "output_config";
constexpr const char* kNumShards = "num_shards";
constexpr const char* kNullValues = "null_values";
constexpr const char* kColumnTypes = "column_types";
const std::set<std::string> kFormats = {"auto", "tfrecord", "csv", "idx", "mnist_json"};

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

// A split name becomes a folder name (Split-<name>): letters, digits, '_' and '-' only.
void check_split_name(const json& v, const std::string& field) {
  if (!v.is_string() || v.get<std::string>().empty()) fail("{} must be a non-empty string", field);
  for (char c : v.get<std::string>()) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      fail("{} is '{}'; a split name may hold letters, digits, '_' and '-' only", field, v.get<std::string>());
    }
  }
}

std::vector<HashSplit> parse_split_config(const json& output_config) {
  std::vector<HashSplit> splits;
  for (const auto& [k, _] : output_config.items()) {
    if (k != "split_config") fail("output_config.{}: unknown field (expected split_config)", k);
  }
  const json* cfg = &output_config;
  if (cfg->contains("split_config")) cfg = &(*cfg)["split_config"];
  if (!cfg->is_object() || !cfg->contains("splits") || !(*cfg)["splits"].is_array() || (*cfg)["splits"].empty()) {
    fail("output_config.split_config.splits must be a non-empty list of {{name, hash_buckets}}");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < (*cfg)["splits"].size(); ++i) {
    const json& s = (*cfg)["splits"][i];
    std::string at = fmt::format("output_config.split_config.splits[{}]", i);
    if (!s.is_object()) fail("{} must be a mapping {{name, hash_buckets}}", at);
    for (const auto& [k, _] : s.items()) {
      if (k != "name" && k != "hash_buckets") fail("{}.{}: unknown field (expected name, hash_buckets)", at, k);
    }
    check_split_name(s.value("name", json()), at + ".name");
    if (!s.contains("hash_buckets") || !s["hash_buckets"].is_number_integer() || s["hash_buckets"].get<int64_t>() <= 0) {
      fail("{}.hash_buckets must be a positive integer", at);
    }
    if (!names.insert(s["name"].get<std::string>()).second) fail("{}.name '{}' is given twice", at, s["name"].get<std::string>());
    splits.push_back({s["name"].get<std::string>(), s["hash_buckets"].get<uint64_t>()});
  }
  return splits;
}

}  // namespace

ExampleGenConfig parse_example_gen_config(const json& props) {
  ExampleGenConfig c;
  c.input_base = props.value(kInputBase, "");
  c.input_format = props.value(kInputFormat, "auto");
  if (!kFormats.count(c.input_format)) fail("{} is '{}', expected auto, tfrecord, csv, idx or mnist_json", kInputFormat, c.input_format);
  if (props.contains(kInputConfig)) {
    const json& ic = props[kInputConfig];
    for (const auto& [k, _] : ic.items()) {
      if (k != "splits") fail("{}.{}: unknown field (expected splits)", kInputConfig, k);
    }
    const json splits = ic.value("splits", json::array());
    if (!splits.is_array()) fail("{}.splits must be a list of {{name, pattern}}", kInputConfig);
    for (size_t i = 0; i < splits.size(); ++i) {
      const json& s = splits[i];
      std::string at = fmt::format("{}.splits[{}]", kInputConfig, i);
      if (!s.is_object()) fail("{} must be a mapping {{name, pattern}}", at);
      for (const auto& [k, _] : s.items()) {
        if (k != "name" && k != "pattern") fail("{}.{}: unknown field (expected name, pattern)", at, k);
      }
      check_split_name(s.value("name", json()), at + ".name");
      if (!s.contains("pattern") || !s["pattern"].is_string() || s["pattern"].get<std::string>().empty()) fail("{}.pattern must be a non-empty glob", at);
      c.input_splits.push_back({s["name"].get<std::string>(), s["pattern"].get<std::string>()});
    }
  }
  if (props.contains(kOutputConfig)) {
    c.has_output_config = true;
    c.output_splits = parse_split_config(props[kOutputConfig]);
  }
  c.num_shards = props.value(kNumShards, int64_t{0});
  if (c.num_shards < 0) fail("{} must be >= 0 (0: about one shard per 20,000 examples), got {}", kNumShards, c.num_shards);
  if (props.contains(kNullValues)) {
    const json& nv = props[kNullValues];
    c.csv.null_values.clear();
    for (size_t i = 0; i < nv.size(); ++i) {
      if (!nv[i].is_string()) fail("{}[{}] must be a string, got {}", kNullValues, i, nv[i].dump());
      c.csv.null_values.push_back(nv[i].get<std::string>());
    }
  }
  if (props.contains(kColumnTypes)) {
    for (const auto& [column, type] : props[kColumnTypes].items()) {
      std::string t = type.is_string() ? type.get<std::string>() : type.dump();
      if (t == "INT") c.csv.column_types[column] = CsvColumnType::Int;
      else if (t == "FLOAT") c.csv.column_types[column] = CsvColumnType::Float;
      else if (t == "BYTES") c.csv.column_types[column] = CsvColumnType::Bytes;
      else fail("{}.{} is {}, expected INT, FLOAT or BYTES", kColumnTypes, column, type.dump());
    }
  }
  if ((props.contains(kNullValues) || props.contains(kColumnTypes)) && c.input_format != "csv" && c.input_format != "auto") {
    fail("{} and {} apply to input_format csv, not {}", kNullValues, kColumnTypes, c.input_format);
  }
  return c;
}

namespace {

// Logs how each CSV column was typed (type, missing cells) and warns about a column typed BYTES
// whose cells are mostly numbers; returns the same as JSON for the artifact's properties.
json report_csv_columns(const std::map<std::string, CsvColumn>& columns, uint64_t rows) {
  json report = json::object();
  for (const auto& [name, c] : columns) {
    report[name] = {{"type", csv_column_type_name(c.type)}, {"missing", c.missing}, {"forced", c.forced}};
    spdlog::info("ExampleGen: column {:<20} {:<5}{} missing {} of {}", name, csv_column_type_name(c.type), c.forced ? " (forced)" : "", c.missing, rows);
    uint64_t present = rows - c.missing;
    if (c.type == CsvColumnType::Bytes && !c.forced && present > 0 && c.numbers * 2 > present) {
      spdlog::warn("ExampleGen: column '{}' is typed BYTES although {} of its {} values are numbers; the first that is not is '{}' "
                   "(add it to null_values if it means missing, or set column_types)",
                   name, c.numbers, present, c.first_non_number);
    }
  }
  return report;
}

// Byte strings travel between ranks as CBOR byte strings: cells and examples need not be UTF-8.
json bytes_json(const std::string& s) { return json::binary(std::vector<uint8_t>(s.begin(), s.end())); }
std::string bytes_from_json(const json& j) {
  const auto& b = j.get_binary();
  return std::string(b.begin(), b.end());
}
std::string to_cbor(const json& j) {
  std::vector<uint8_t> bytes = json::to_cbor(j);
  return std::string(bytes.begin(), bytes.end());
}

json csv_columns_json(const std::vector<CsvColumn>& columns) {
  json list = json::array();
  for (const CsvColumn& c : columns) {
    list.push_back({{"name", bytes_json(c.name)}, {"type", static_cast<int>(c.type)}, {"missing", c.missing}, {"forced", c.forced},
                    {"first_non_number", bytes_json(c.first_non_number)}, {"numbers", c.numbers}});
  }
  return list;
}

std::vector<CsvColumn> csv_columns_from_json(const json& list) {
  std::vector<CsvColumn> columns;
  for (const json& c : list) {
    columns.push_back({bytes_from_json(c.at("name")), static_cast<CsvColumnType>(c.at("type").get<int>()), c.at("missing").get<uint64_t>(),
                       c.at("forced").get<bool>(), bytes_from_json(c.at("first_non_number")), c.at("numbers").get<uint64_t>()});
  }
  return columns;
}

// One piece of the input, read whole by one rank: a file (CSV, TFRecord) with the split its name
// gives, or the whole source (IDX pairs, the mnist digits).
struct Unit {
  fs::path path;
  std::string split;  // input_config's split of the file, "" without input_config
};

// A run of consecutive records of one output shard that come from one unit.
struct Chunk {
  size_t shard = 0, unit = 0;
  std::vector<std::string> records;
};

// ExampleGen on K ranks (one process: K = 1, the same code). Rank r reads units r, r + K, ...;
// the ranks exchange how many examples each unit gave per split, so each knows the whole layout:
// an output split is its units' examples in unit order, as one process reads them, cut into the
// same shards; shard g is written by rank g mod K, which receives its examples from the ranks
// that read them (MPI_Alltoallv). The files are those one process writes, byte for byte, and
// their names (data_tfrecord-<i>-of-<n>) depend on the example counts, not on K.
class ExampleGenExecutor final : public Executor {
 public:
  void Do(const ArtifactMap& inputs, ArtifactMap& outputs, const json& props, const ExecutorContext& context) override {
    ExampleGenConfig config = parse_example_gen_config(props);
    int workers = checked_num_workers(props.value("num_workers", json()), "ExampleGen: num_workers");
    if (workers > 1 && distributed::launch_info_from_environment().size <= 1) {
      launch_workers("ExampleGen", "num_workers", workers, inputs, outputs, props, context);
      return;
    }
    const distributed::World& world = distributed::world();
    const auto ranks = static_cast<size_t>(world.size()), rank = static_cast<size_t>(world.rank());
    fs::path base = config.input_base;
    if (!fs::exists(base)) fail("ExampleGen: input_base {} does not exist", base.string());
    std::string format = config.input_format;
    if (format == "auto") format = detect_format(base);
    const std::vector<SourceSplit>& source_splits = config.input_splits;
    auto split_of_file = [&](const fs::path& file) -> std::string {
      if (source_splits.empty()) return "";
      std::string rel = fs::is_directory(base) ? fs::relative(file, base).string() : file.filename().string();
      for (const auto& s : source_splits)
        if (::fnmatch(s.pattern.c_str(), rel.c_str(), 0) == 0) return s.name;
      return "-";  // matches no split: skipped
    };
    std::vector<Unit> units;
    if (format == "mnist_json" || format == "idx") {
      units.push_back({base, ""});
    } else if (format == "csv" || format == "tfrecord") {
      for (const auto& file : list_files(base)) {
        std::string split = split_of_file(file);
        if (split != "-") units.push_back({file, split});
      }
    } else {
      fail("ExampleGen: parameter 'input_format' is '{}', expected auto, tfrecord, csv, idx or mnist_json", format);
    }

    // 1. Read this rank's units; each example keeps the split the source gives it ("" if none).
    std::vector<std::map<std::string, std::vector<std::string>>> by_source_split(units.size());
    std::vector<std::vector<CsvColumn>> unit_columns(units.size());
    Progress progress("ExampleGen read", 0);
    for (size_t u = rank; u < units.size(); u += ranks) {
      ExampleSink sink = [&](const std::string& split, std::string&& serialized) {
        by_source_split[u][split].push_back(std::move(serialized));
        progress.advance();
      };
      if (format == "mnist_json") read_mnist_json_dir(base, sink);
      else if (format == "idx") read_idx_dir(base, sink);
      else if (format == "tfrecord") read_tfrecord_file(units[u].path, units[u].split, sink);
      else unit_columns[u] = read_csv_file(units[u].path, units[u].split, sink, config.csv);
    }
    progress.finish();

    // 2. Every rank learns each unit's examples per source split and CSV columns.
    std::vector<std::map<std::string, uint64_t>> source_counts(units.size());
    {
      json mine = json::array();
      for (size_t u = rank; u < units.size(); u += ranks) {
        json counts = json::object();
        for (const auto& [split, list] : by_source_split[u]) counts[split] = list.size();
        mine.push_back({u, counts, csv_columns_json(unit_columns[u])});
      }
      for (const std::string& block : world.allgather_bytes(to_cbor(mine))) {
        for (const json& entry : json::from_cbor(block)) {
          auto u = entry.at(0).get<size_t>();
          source_counts[u] = entry.at(1).get<std::map<std::string, uint64_t>>();
          unit_columns[u] = csv_columns_from_json(entry.at(2));
        }
      }
    }
    uint64_t total = 0;
    std::set<std::string> source_split_names;
    for (const auto& counts : source_counts) {
      for (const auto& [split, n] : counts) {
        total += n;
        source_split_names.insert(split);
      }
    }
    std::map<std::string, CsvColumn> csv_columns;  // merged over the CSV files, in file order
    for (size_t u = 0; u < units.size(); ++u) {
      for (const CsvColumn& column : unit_columns[u]) {
        auto [it, inserted] = csv_columns.emplace(column.name, column);
        if (inserted) continue;
        if (it->second.type != column.type) {
          fail("ExampleGen: column '{}' is {} in {} but {} in an earlier file; set column_types: {{{}: ...}}", column.name,
               csv_column_type_name(column.type), units[u].path.string(), csv_column_type_name(it->second.type), column.name);
        }
        it->second.missing += column.missing;
        it->second.numbers += column.numbers;
        if (it->second.first_non_number.empty()) it->second.first_non_number = column.first_non_number;
      }
    }
    if (total == 0) fail("ExampleGen: no examples found in {}", base.string());
    for (const auto& s : source_splits) {
      if (!source_split_names.count(s.name)) fail("ExampleGen: input_config split '{}' (pattern '{}') matched no examples", s.name, s.pattern);
    }

    // 3. Assign output splits: keep the source's own, or hash buckets (TFX's default 2:1).
    bool source_has_splits = !source_split_names.count("");
    std::vector<std::map<std::string, std::vector<std::string>>> assigned(units.size());  // [unit] output split -> examples
    std::vector<std::string> split_names;
    if (source_has_splits && !config.has_output_config) {
      for (size_t u = rank; u < units.size(); u += ranks) assigned[u] = std::move(by_source_split[u]);
      for (const char* preferred : {"train", "eval"})
        if (source_split_names.count(preferred)) split_names.push_back(preferred);
      for (const auto& name : source_split_names)
        if (name != "train" && name != "eval") split_names.push_back(name);
    } else {
      if (source_has_splits && source_split_names.size() > 1) {
        fail("ExampleGen: output_config.split_config needs a source without predefined splits ({} has {})",
             base.string(), source_split_names.size());
      }
      // TFX's default: hash buckets train:eval = 2:1.
      std::vector<HashSplit> hash_splits = {{"train", 2}, {"eval", 1}};
      if (config.has_output_config) hash_splits = config.output_splits;
      uint64_t buckets = 0;
      for (const auto& s : hash_splits) buckets += s.buckets;
      for (const auto& s : hash_splits) split_names.push_back(s.name);
      for (size_t u = rank; u < units.size(); u += ranks) {
        for (auto& [_, list] : by_source_split[u]) {
          for (auto& serialized : list) {
            // Deterministic: the bucket depends only on the example's bytes.
            uint64_t bucket = hash64(serialized) % buckets;
            for (const auto& s : hash_splits) {
              if (bucket < s.buckets) {
                assigned[u][s.name].push_back(std::move(serialized));
                break;
              }
              bucket -= s.buckets;
            }
          }
        }
        by_source_split[u].clear();
      }
    }

    // 4. The layout: each unit's examples per output split, then the shards over them.
    std::vector<std::map<std::string, uint64_t>> unit_counts(units.size());
    {
      json mine = json::array();
      for (size_t u = rank; u < units.size(); u += ranks) {
        json counts = json::object();
        for (const auto& [split, list] : assigned[u]) counts[split] = list.size();
        mine.push_back({u, counts});
      }
      for (const std::string& block : world.allgather_bytes(to_cbor(mine))) {
        for (const json& entry : json::from_cbor(block)) unit_counts[entry.at(0).get<size_t>()] = entry.at(1).get<std::map<std::string, uint64_t>>();
      }
    }
    Artifact& out = outputs.at("examples").at(0);
    struct Shard { std::string split; size_t index, count, begin, end; };
    std::vector<Shard> shards;
    json counts = json::object();
    int64_t configured = config.num_shards;
    for (const auto& name : split_names) {
      size_t n = 0;
      for (const auto& c : unit_counts)
        if (auto it = c.find(name); it != c.end()) n += it->second;
      counts[name] = n;
      size_t count = configured > 0 ? static_cast<size_t>(configured) : std::clamp<size_t>((n + 19999) / 20000, 1, 64);
      count = std::max<size_t>(1, std::min(count, n));
      for (size_t i = 0; i < count; ++i) shards.push_back({name, i, count, n * i / count, n * (i + 1) / count});
    }

    // 5. Send each run of examples to the rank that writes its shard.
    std::vector<Chunk> local;
    std::vector<json> to_rank(ranks, json::array());
    for (size_t g = 0; g < shards.size(); ++g) {
      const Shard& shard = shards[g];
      size_t offset = 0;  // of unit u's examples in the split
      for (size_t u = 0; u < units.size(); ++u) {
        auto c = unit_counts[u].find(shard.split);
        size_t n = c == unit_counts[u].end() ? 0 : c->second;
        size_t begin = std::max(offset, shard.begin), end = std::min(offset + n, shard.end);
        if (u % ranks == rank && begin < end) {
          auto& list = assigned[u].at(shard.split);
          auto first = list.begin() + static_cast<std::ptrdiff_t>(begin - offset), last = list.begin() + static_cast<std::ptrdiff_t>(end - offset);
          if (g % ranks == rank) {
            local.push_back({g, u, std::vector<std::string>(std::make_move_iterator(first), std::make_move_iterator(last))});
          } else {
            json records = json::array();
            for (auto it = first; it != last; ++it) records.push_back(bytes_json(*it));
            to_rank[g % ranks].push_back({g, u, std::move(records)});
          }
        }
        offset += n;
      }
    }
    assigned.clear();
    if (ranks > 1) {
      std::vector<std::string> send;
      for (const json& j : to_rank) send.push_back(to_cbor(j));
      to_rank.clear();
      std::vector<std::string> received = world.alltoall_bytes(send);
      send.clear();
      for (size_t r = 0; r < ranks; ++r) {
        if (r == rank) continue;
        for (const json& entry : json::from_cbor(received[r])) {
          Chunk chunk{entry.at(0).get<size_t>(), entry.at(1).get<size_t>(), {}};
          for (const json& record : entry.at(2)) chunk.records.push_back(bytes_from_json(record));
          local.push_back(std::move(chunk));
        }
        received[r].clear();
      }
    }
    // A shard's examples in unit order.
    std::sort(local.begin(), local.end(), [](const Chunk& a, const Chunk& b) { return std::tie(a.shard, a.unit) < std::tie(b.shard, b.unit); });
    std::vector<size_t> mine;  // the shards this rank writes
    for (size_t g = rank; g < shards.size(); g += ranks) mine.push_back(g);

    // 6. Write this rank's shards in parallel, each to a temp name renamed into place.
    parallel_for(mine.size(), [&](size_t m) {
      const Shard& shard = shards[mine[m]];
      fs::path dir = fs::path(out.uri) / ("Split-" + shard.split);
      fs::create_directories(dir);
      fs::path file = dir / fmt::format("data_tfrecord-{:05}-of-{:05}.gz", shard.index, shard.count);
      fs::path tmp = dir / fmt::format(".{}", file.filename().string());  // hidden until complete
      TFRecordWriter writer(tmp);
      size_t written = 0;
      auto first = std::lower_bound(local.begin(), local.end(), mine[m], [](const Chunk& c, size_t g) { return c.shard < g; });
      for (auto it = first; it != local.end() && it->shard == mine[m]; ++it) {
        for (const auto& record : it->records) writer.write(record);
        written += it->records.size();
      }
      if (written != shard.end - shard.begin) fail("ExampleGen: shard {} got {} of its {} examples", file.string(), written, shard.end - shard.begin);
      writer.close();
      fs::rename(tmp, file);
    });
    // Rank 0 reports the execution done only when every rank's shards are in place.
    world.barrier();
    if (!world.is_chief()) return;
    out.set_split_names(split_names);
    out.properties["num_examples"] = counts;
    out.properties["input_format"] = format;
    if (!csv_columns.empty()) out.properties["csv_columns"] = report_csv_columns(csv_columns, total);
    std::string summary;
    for (const auto& name : split_names) summary += fmt::format(" {}={}", name, counts[name].get<uint64_t>());
    spdlog::info("ExampleGen: {} examples from {} ({}){}:{}", total, base.string(), format,
                 ranks > 1 ? fmt::format(" on {} processes", ranks) : "", summary);
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
           {"num_shards", optional_param(ParamType::Int, 0)},
           {"null_values", optional_param(ParamType::List)},
           {"column_types", optional_param(ParamType::Object)},
           {"num_workers", num_workers_param("ExampleGen")}},
          [](const json& props) { parse_example_gen_config(props); }},
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
  if (!args.null_values.is_null()) params["null_values"] = args.null_values;
  if (!args.column_types.is_null()) params["column_types"] = args.column_types;
  if (args.num_workers != 1) params["num_workers"] = args.num_workers;  // when set: one process keeps its cache key
  return make_component(example_gen_registration(), {}, params);
}

}  // namespace litepipe
