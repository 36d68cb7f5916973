#include "eval/evaluate.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/files.h"
#include "core/hashing.h"
#include "core/parallel.h"
#include "core/thread_count.h"
#include "data/tfrecord.h"
#include "distributed/world.h"
#include "eval/eval_model.h"
#include "transform/transform_graph.h"
#include "tensorflow/core/example/example.pb.h"

namespace litepipe::eval {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using SliceColumns = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kPredictionLabelFeature = "label";
constexpr const char* kPredictionIndexFeature = "example_index";
constexpr const char* kPredictionProbabilitiesFeature = "probabilities";
constexpr const char* kPredictionValueFeature = "prediction";  // regression

// The features the models and slices need, decoded for every example.
struct ExampleTable {
  int64_t size = 0;
  std::map<std::string, int64_t> widths;              // model input feature -> values per example
  std::map<std::string, std::vector<float>> inputs;   // feature -> [size, width]
  // The label as a number (a regression target) and, where it is a whole number, as a class id:
  // which the model needs is known once its output width is.
  std::vector<double> label_values;
  std::vector<int64_t> labels;
  std::vector<char> label_is_class_id;
  std::vector<std::string> slice_features;
  std::vector<std::vector<std::vector<std::string>>> slice_values;  // [example][slice feature] -> values
  std::vector<tensorflow::Features> slice_protos;                   // the slicing features as read
  std::vector<std::pair<size_t, int64_t>> origin;                   // (file, record) of each example
  std::vector<fs::path> files;
  // Examples whose label is missing (an empty value list, e.g. an NA cell) cannot be scored: they
  // are left out of the table, counted, and the first is named in the log.
  int64_t without_label = 0;
  std::string first_without_label;
  std::pair<size_t, int64_t> first_without_label_origin = {std::numeric_limits<size_t>::max(), 0};

  std::string where(int64_t i) const {
    const auto& [file, record] = origin[static_cast<size_t>(i)];
    return fmt::format("{}: record {}", files[file].string(), record);
  }
};

std::vector<std::string> feature_strings(const tensorflow::Feature& f) {
  std::vector<std::string> values;
  if (f.has_int64_list()) {
    for (int64_t v : f.int64_list().value()) values.push_back(std::to_string(v));
  } else if (f.has_float_list()) {
    for (float v : f.float_list().value()) values.push_back(fmt::format("{}", v));
  } else if (f.has_bytes_list()) {
    // Slice values end up in metrics.json and plots.json, which must be UTF-8.
    for (const auto& v : f.bytes_list().value()) values.push_back(utf8_or_escaped(v));
  }
  return values;
}

// Drops the rows marked in `unlabeled` from every column of the table, keeping the order.
void remove_unlabeled(ExampleTable& table, const std::vector<char>& unlabeled) {
  size_t kept = 0;
  for (size_t i = 0; i < unlabeled.size(); ++i) {
    if (unlabeled[i]) {
      if (table.without_label++ == 0) {
        table.first_without_label = table.where(static_cast<int64_t>(i));
        table.first_without_label_origin = table.origin[i];
      }
      continue;
    }
    if (kept != i) {
      for (auto& [feature, values] : table.inputs) {
        auto width = static_cast<size_t>(table.widths.at(feature));
        std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(i * width), width, values.begin() + static_cast<std::ptrdiff_t>(kept * width));
      }
      table.label_values[kept] = table.label_values[i];
      table.labels[kept] = table.labels[i];
      table.label_is_class_id[kept] = table.label_is_class_id[i];
      table.slice_values[kept] = std::move(table.slice_values[i]);
      table.slice_protos[kept] = std::move(table.slice_protos[i]);
      table.origin[kept] = table.origin[i];
    }
    ++kept;
  }
  if (kept == unlabeled.size()) return;
  for (auto& [feature, values] : table.inputs) values.resize(kept * static_cast<size_t>(table.widths.at(feature)));
  table.label_values.resize(kept);
  table.labels.resize(kept);
  table.label_is_class_id.resize(kept);
  table.slice_values.resize(kept);
  table.slice_protos.resize(kept);
  table.origin.resize(kept);
  table.size = static_cast<int64_t>(kept);
}

// With `transform` (TFMA's preprocessing_function_names), the label and slicing features are
// looked up in the transformed example first; model inputs always take the raw features. One of
// `ranks` processes reads files rank, rank + ranks, ... (the table may be empty).
ExampleTable read_examples(const std::vector<fs::path>& files, const std::map<std::string, int64_t>& widths,
                           const std::string& label_key, const std::vector<std::string>& slice_features, size_t threads,
                           const transform::TransformGraph* transform, size_t rank, size_t ranks) {
  if (files.empty()) fail("evaluation: no example files");
  // Records are read (and inflated) in order, then decoded side by side.
  std::vector<std::string> records;
  ExampleTable table;
  for (size_t f = rank; f < files.size(); f += ranks) {
    TFRecordReader reader(files[f]);
    std::string record;
    while (reader.next(record)) {
      records.push_back(std::move(record));
      table.origin.emplace_back(f, static_cast<int64_t>(reader.records_read()) - 1);
    }
  }
  table.size = static_cast<int64_t>(records.size());
  table.files = files;
  table.widths = widths;
  // The destination of each model input, looked up here: the decode threads only read the map.
  struct InputColumn {
    std::string feature;
    int64_t width;
    float* data;
  };
  std::vector<InputColumn> columns;
  for (const auto& [feature, width] : widths) {
    auto& values = table.inputs[feature];
    values.resize(records.size() * static_cast<size_t>(width));
    columns.push_back({feature, width, values.data()});
  }
  table.label_values.resize(records.size());
  table.labels.resize(records.size());
  table.label_is_class_id.resize(records.size());
  table.slice_features = slice_features;
  table.slice_values.resize(records.size());
  table.slice_protos.resize(records.size());

  std::vector<char> unlabeled(records.size(), 0);
  constexpr size_t kChunk = 256;
  parallel_for((records.size() + kChunk - 1) / kChunk, [&](size_t chunk) {
    tensorflow::Example example;
    for (size_t i = chunk * kChunk; i < std::min(records.size(), (chunk + 1) * kChunk); ++i) {
      auto where = [&] { return table.where(static_cast<int64_t>(i)); };
      if (!example.ParseFromString(records[i])) fail("{} is not a tf.Example", where());
      const auto& features = example.features().feature();
      tensorflow::Example transformed;
      if (transform) {
        try {
          transformed = transform->apply(example);
        } catch (const Error& e) {
          fail("{}: preprocessing (the model's transform graph): {}", where(), e.what());
        }
      }
      // A feature as the metrics see it: transformed if the graph produces it, else raw.
      auto lookup = [&](const std::string& name) -> const tensorflow::Feature* {
        if (transform) {
          auto t = transformed.features().feature().find(name);
          if (t != transformed.features().feature().end()) return &t->second;
        }
        auto r = features.find(name);
        return r == features.end() ? nullptr : &r->second;
      };
      for (const auto& column : columns) {
        auto it = features.find(column.feature);
        if (it == features.end()) fail("{}: the model input needs feature '{}', which the example lacks", where(), column.feature);
        feature_as_floats(it->second, column.feature, column.width, column.data + i * static_cast<size_t>(column.width), where());
      }
      const tensorflow::Feature* label = lookup(label_key);
      if (!label) fail("{}: no label feature '{}' (model_specs.label_key)", where(), label_key);
      if (label->int64_list().value_size() + label->float_list().value_size() + label->bytes_list().value_size() == 0) {
        unlabeled[i] = 1;
        continue;
      }
      if (label->int64_list().value_size() == 1) {
        table.labels[i] = label->int64_list().value(0);
        table.label_values[i] = static_cast<double>(table.labels[i]);
        table.label_is_class_id[i] = 1;
      } else if (label->float_list().value_size() == 1) {
        float v = label->float_list().value(0);
        table.label_values[i] = v;
        // A float class id must be a whole number that fits int64 before it is cast (inf and NaN do
        // not); make_predictions() says so when the model is a classifier.
        constexpr float kInt64Limit = 9.2233720368547758e18f;  // 2^63
        if (std::isfinite(v) && std::floor(v) == v && v < kInt64Limit && v >= -kInt64Limit) {
          table.labels[i] = static_cast<int64_t>(v);
          table.label_is_class_id[i] = 1;
        }
      } else if (label->has_bytes_list()) {
        fail("{}: label '{}' is a string; map it to class ids in the Transform (compute_and_apply_vocabulary) and set "
             "model_specs.preprocessing_function_names: [transform_features] with label_key the transformed label",
             where(), label_key);
      } else {
        fail("{}: label '{}' must hold one integer class id, or one number for a regression model (got {} values)", where(), label_key,
             label->int64_list().value_size() + label->float_list().value_size());
      }
      for (const auto& name : slice_features) {
        const tensorflow::Feature* f = lookup(name);
        if (!f) {
          table.slice_values[i].emplace_back();
          continue;
        }
        table.slice_values[i].push_back(feature_strings(*f));
        (*table.slice_protos[i].mutable_feature())[name] = *f;
      }
    }
  }, threads);
  remove_unlabeled(table, unlabeled);
  return table;
}

// The metrics need probabilities: a non-finite or negative output is an error (it would break
// the calibration buckets and the AUC's ranking); rows that do not sum to 1 (within 1e-3, plus
// the rounding of a quantized output: half a step per class) are only warned about.
void check_probabilities(const EvalModel& model, const Predictions& p, const ExampleTable& table) {
  const double kSumTolerance = 1e-3 + static_cast<double>(p.num_classes) * model.output_step() / 2;
  int64_t off_sum = 0, first_off = -1;
  double first_sum = 0;
  for (int64_t i = 0; i < p.size(); ++i) {
    const float* row = p.row(i);
    double sum = 0;
    for (int64_t c = 0; c < p.num_classes; ++c) {
      if (!std::isfinite(row[c]) || row[c] < 0) {
        fail("{}: output '{}' gives {} for class {} of example {} ({}); expected probabilities (finite, >= 0)", model.path().string(),
             model.output_name(), row[c], c, i, table.where(i));
      }
      sum += row[c];
    }
    if (std::abs(sum - 1) > kSumTolerance) {
      if (off_sum++ == 0) first_off = i, first_sum = sum;
    }
  }
  if (off_sum > 0) {
    spdlog::warn("Evaluator: {}: output '{}': the probabilities of {} of {} examples do not sum to 1 (within {}), e.g. {:.6g} for example {} "
                 "({}); metrics assume class probabilities",
                 model.path().string(), model.output_name(), off_sum, p.size(), kSumTolerance, first_sum, first_off, table.where(first_off));
  }
}

// A model's outputs for every example: [size, width] values.
struct ModelOutputs {
  int64_t width = 0;
  std::vector<float> values;
};

// The outputs of every example, batch by batch; workers take every `workers`-th batch. An output
// is [batch, width], or [batch] (one value per example). A batch never spans two files, so each
// example is predicted in the same batch however the files are shared among processes.
ModelOutputs predict_all(EvalModel& model, const ExampleTable& table, int64_t batch_size, size_t threads) {
  if (model.max_batch() > 0) batch_size = std::min(batch_size, model.max_batch());
  std::vector<int64_t> starts;  // first row of each batch
  for (int64_t i = 0; i < table.size; ++i) {
    auto at = static_cast<size_t>(i);
    if (starts.empty() || i - starts.back() == batch_size || table.origin[at].first != table.origin[at - 1].first) starts.push_back(i);
  }
  auto batches = static_cast<int64_t>(starts.size());
  if (batches == 0) return {};
  starts.push_back(table.size);
  auto rows_of = [&](int64_t b) { return starts[static_cast<size_t>(b) + 1] - starts[static_cast<size_t>(b)]; };
  size_t workers = std::min<size_t>(threads == 0 ? default_threads() : threads, static_cast<size_t>(batches));
  // One worker (threads: 1, or a single batch) runs its kernels on at most `threads` threads.
  ScopedThreadCount limit(static_cast<int>(threads));
  model.prepare_workers(workers);
  std::vector<nn::Tensor> outputs(static_cast<size_t>(batches));
  parallel_for(workers, [&](size_t worker) {
    // The workers already use the cores; their kernels must not each start a thread team too.
    if (workers > 1) omp_set_num_threads(1);
    for (auto b = static_cast<int64_t>(worker); b < batches; b += static_cast<int64_t>(workers)) {
      int64_t begin = starts[static_cast<size_t>(b)], rows = rows_of(b);
      std::map<std::string, nn::Tensor> batch;
      for (const auto& [feature, width] : table.widths) {
        nn::Tensor x({rows, width});
        const float* src = table.inputs.at(feature).data() + begin * width;
        std::copy(src, src + rows * width, x.data());
        batch[feature] = x;
      }
      outputs[static_cast<size_t>(b)] = model.predict(batch, worker);
    }
  }, workers);
  ModelOutputs out;
  out.width = outputs[0].rank() == 2 ? outputs[0].dim(1) : 1;
  out.values.reserve(static_cast<size_t>(table.size * out.width));
  for (int64_t b = 0; b < batches; ++b) {
    const nn::Tensor& y = outputs[static_cast<size_t>(b)];
    int64_t rows = rows_of(b);
    bool ok = y.rank() == 2 ? y.dim(0) == rows && y.dim(1) == out.width && out.width >= 1 : y.rank() == 1 && y.dim(0) == rows && out.width == 1;
    if (!ok) {
      fail("{}: output shape {} for a batch of {}; expected [batch, classes] probabilities, or [batch, 1] or [batch]: one value per "
           "example (a regression model, or a binary classifier's positive-class probability)",
           model.path().string(), nn::shape_string(y.shape()), rows);
    }
    out.values.insert(out.values.end(), y.data(), y.data() + y.size());
  }
  return out;
}

// Sharded evaluation: every rank's examples (all but the model inputs, which prediction used up)
// and model outputs, gathered on rank 0 in file order, which is the order one process reads
// them in: the metrics computed from them are one process's. The predictions, not partial
// metrics, travel because AUC's exact rank statistic and the bootstrap need every example; they
// are small beside the examples each rank read.
void gather_on_chief(const distributed::World& world, ExampleTable& table, ModelOutputs& outputs, std::optional<ModelOutputs>& baseline_outputs) {
  json rows = json::array();
  for (size_t i = 0; i < static_cast<size_t>(table.size); ++i) {
    std::string proto = table.slice_protos[i].SerializeAsString();
    rows.push_back({table.origin[i].first, table.origin[i].second, table.label_values[i], table.labels[i], table.label_is_class_id[i] != 0,
                    table.slice_values[i], json::binary(std::vector<uint8_t>(proto.begin(), proto.end()))});
  }
  json mine = {{"rows", std::move(rows)},
               {"width", outputs.width},
               {"values", outputs.values},
               {"baseline_width", baseline_outputs ? baseline_outputs->width : 0},
               {"baseline_values", baseline_outputs ? baseline_outputs->values : std::vector<float>()},
               {"without_label", table.without_label},
               {"first_without_label", {table.first_without_label_origin.first, table.first_without_label_origin.second}}};
  std::vector<uint8_t> cbor = json::to_cbor(mine);
  std::vector<std::string> blocks = world.gather_bytes(std::string(cbor.begin(), cbor.end()));
  if (!world.is_chief()) return;

  struct Row {
    std::pair<size_t, int64_t> origin;
    size_t block, index;
  };
  std::vector<json> parts;
  std::vector<Row> order;
  ExampleTable merged;
  merged.files = table.files;
  merged.widths = table.widths;
  merged.slice_features = table.slice_features;
  ModelOutputs merged_outputs, merged_baseline;
  for (size_t b = 0; b < blocks.size(); ++b) {
    parts.push_back(json::from_cbor(blocks[b]));
    blocks[b].clear();
    const json& part = parts.back();
    for (size_t i = 0; i < part.at("rows").size(); ++i) {
      const json& row = part["rows"][i];
      order.push_back({{row.at(0).get<size_t>(), row.at(1).get<int64_t>()}, b, i});
    }
    if (!part.at("rows").empty()) {
      merged_outputs.width = part.at("width").get<int64_t>();
      merged_baseline.width = part.at("baseline_width").get<int64_t>();
    }
    merged.without_label += part.at("without_label").get<int64_t>();
    std::pair<size_t, int64_t> first = {part.at("first_without_label").at(0).get<size_t>(), part.at("first_without_label").at(1).get<int64_t>()};
    if (first < merged.first_without_label_origin) {
      merged.first_without_label_origin = first;
      merged.first_without_label = fmt::format("{}: record {}", table.files[first.first].string(), first.second);
    }
  }
  std::sort(order.begin(), order.end(), [](const Row& a, const Row& c) { return a.origin < c.origin; });
  merged.size = static_cast<int64_t>(order.size());
  for (const Row& r : order) {
    const json& part = parts[r.block];
    const json& row = part["rows"][r.index];
    merged.origin.push_back(r.origin);
    merged.label_values.push_back(row.at(2).get<double>());
    merged.labels.push_back(row.at(3).get<int64_t>());
    merged.label_is_class_id.push_back(row.at(4).get<bool>() ? 1 : 0);
    merged.slice_values.push_back(row.at(5).get<std::vector<std::vector<std::string>>>());
    const auto& proto = row.at(6).get_binary();
    merged.slice_protos.emplace_back();
    if (!merged.slice_protos.back().ParseFromArray(proto.data(), static_cast<int>(proto.size()))) fail("evaluation: a rank sent a bad slice record");
    auto copy_row = [&](const char* key, int64_t width, ModelOutputs& to) {
      const json& values = part.at(key);
      for (int64_t c = 0; c < width; ++c) to.values.push_back(values.at(r.index * static_cast<size_t>(width) + static_cast<size_t>(c)).get<float>());
    };
    copy_row("values", merged_outputs.width, merged_outputs);
    if (baseline_outputs) copy_row("baseline_values", merged_baseline.width, merged_baseline);
  }
  table = std::move(merged);
  outputs = std::move(merged_outputs);
  if (baseline_outputs) baseline_outputs = std::move(merged_baseline);
}

// How the error messages name a model's output.
std::string output_text(const EvalModel& model, int64_t width) {
  return fmt::format("model {}: output '{}' has shape [batch, {}]", model.path().string(), model.output_name(), width);
}

// The model's outputs as the metrics take them: class probabilities (a binary model's [N, 1]
// positive-class probability p as [1 - p, p]), or one value per example for regression; the labels
// checked against the model.
Predictions make_predictions(const EvalModel& model, ModelOutputs outputs, ProblemType type, const ExampleTable& table,
                             const std::string& label_key) {
  Predictions p;
  p.problem_type = type;
  if (type == ProblemType::Regression) {
    p.values = std::move(outputs.values);
    p.targets = table.label_values;
    for (int64_t i = 0; i < table.size; ++i) {
      auto at = static_cast<size_t>(i);
      if (!std::isfinite(p.values[at])) {
        fail("{}: output '{}' gives {} for example {} ({}); expected a finite value", model.path().string(), model.output_name(), p.values[at],
             i, table.where(i));
      }
      if (!std::isfinite(p.targets[at])) fail("{}: label '{}' is {}; expected one finite number (a regression target)", table.where(i), label_key, p.targets[at]);
    }
    return p;
  }
  if (outputs.width == 1) {
    p.num_classes = 2;
    p.probabilities.reserve(outputs.values.size() * 2);
    for (int64_t i = 0; i < table.size; ++i) {
      float v = outputs.values[static_cast<size_t>(i)];
      if (!std::isfinite(v) || v < 0 || v > 1) {
        fail("{}: output '{}' gives {} for example {} ({}); a binary classifier's single output is the positive class's probability, in [0, 1] "
             "(a sigmoid)",
             model.path().string(), model.output_name(), v, i, table.where(i));
      }
      p.probabilities.insert(p.probabilities.end(), {1 - v, v});
    }
  } else {
    p.num_classes = outputs.width;
    p.probabilities = std::move(outputs.values);
  }
  p.labels = table.labels;
  check_probabilities(model, p, table);
  for (int64_t i = 0; i < table.size; ++i) {
    auto at = static_cast<size_t>(i);
    if (!table.label_is_class_id[at]) fail("{}: label '{}' is {}; expected one finite integer class id", table.where(i), label_key, table.label_values[at]);
    int64_t label = p.labels[at];
    if (type == ProblemType::Binary && label != 0 && label != 1) {
      fail("{}: label '{}' is {}; a binary classifier's labels are 0 or 1", table.where(i), label_key, label);
    }
    if (label < 0 || label >= p.num_classes) fail("{}: label '{}' is {}, outside the model's {} classes", table.where(i), label_key, label, p.num_classes);
  }
  return p;
}

transform::TransformGraph load_model_transform(const fs::path& model_uri) {
  fs::path dir = model_uri / kServingModelDirName / kModelTransformDirName;
  if (!fs::exists(dir / transform::kTransformGraphFile)) {
    fail("{}: model_specs.preprocessing_function_names needs the model's transform graph ({}), which a Trainer with a "
         "transform_graph input saves beside the serving model",
         model_uri.string(), (dir / transform::kTransformGraphFile).string());
  }
  return transform::TransformGraph::load(dir);
}

bool is_integer(const std::string& s) {
  int64_t v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

// Slice values in a natural order: numbers by value, then text.
bool value_less(const std::string& a, const std::string& b) {
  bool ia = is_integer(a), ib = is_integer(b);
  if (ia && ib) return std::stoll(a) < std::stoll(b);
  if (ia != ib) return ia;
  return a < b;
}

bool columns_less(const SliceColumns& a, const SliceColumns& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i].first != b[i].first) return a[i].first < b[i].first;
    if (a[i].second != b[i].second) return value_less(a[i].second, b[i].second);
  }
  return a.size() < b.size();
}

struct Slice {
  SliceColumns columns;
  std::string key;
  std::vector<int64_t> rows;
};

// TFMA's SingleSliceSpec.is_slice_applicable: the slice has exactly the spec's columns and the
// spec's fixed values.
bool spec_matches(const SlicingSpec& spec, const SliceColumns& columns) {
  std::set<std::string> spec_columns(spec.feature_keys.begin(), spec.feature_keys.end());
  for (const auto& [k, _] : spec.feature_values) spec_columns.insert(k);
  if (spec_columns.size() != columns.size()) return false;
  for (const auto& [column, value] : columns) {
    if (!spec_columns.count(column)) return false;
    auto fixed = spec.feature_values.find(column);
    if (fixed != spec.feature_values.end() && fixed->second != value) return false;
  }
  return true;
}

std::vector<Slice> make_slices(const std::vector<SlicingSpec>& specs, const ExampleTable& table) {
  std::vector<Slice> slices;
  std::set<std::string> seen;
  auto column_index = [&](const std::string& feature) {
    return static_cast<size_t>(std::find(table.slice_features.begin(), table.slice_features.end(), feature) - table.slice_features.begin());
  };
  for (const auto& spec : specs) {
    std::map<SliceColumns, std::vector<int64_t>, decltype(&columns_less)> found(&columns_less);
    // Columns sorted by name, as TFMA's slice keys.
    std::vector<std::string> columns(spec.feature_keys);
    for (const auto& [k, _] : spec.feature_values) columns.push_back(k);
    std::sort(columns.begin(), columns.end());
    for (int64_t i = 0; i < table.size; ++i) {
      const auto& values = table.slice_values[static_cast<size_t>(i)];
      std::vector<SliceColumns> keys = {{}};
      for (const auto& column : columns) {
        const auto& have = values[column_index(column)];
        auto fixed = spec.feature_values.find(column);
        std::vector<SliceColumns> next;
        for (const auto& key : keys) {
          for (const auto& v : have) {
            if (fixed != spec.feature_values.end() && fixed->second != v) continue;
            SliceColumns k = key;
            k.emplace_back(column, v);
            next.push_back(std::move(k));
          }
        }
        keys = std::move(next);
      }
      for (auto& key : keys) {
        auto& rows = found[key];
        if (rows.empty() || rows.back() != i) rows.push_back(i);
      }
    }
    for (auto& [columns_of_slice, rows] : found) {
      std::string key = slice_key_string(columns_of_slice);
      if (seen.insert(key).second) slices.push_back({columns_of_slice, key, std::move(rows)});
    }
  }
  return slices;
}

json slice_json(const SliceColumns& columns) {
  json j = json::object();
  for (const auto& [k, v] : columns) j[k] = v;
  return j;
}

json model_info_json(const ModelInfo& m) {
  return {{"name", m.name}, {"model_type", m.model_type}, {"path", m.path.string()}, {"file_size_bytes", m.file_size}};
}

struct ThresholdRule {
  std::string metric;
  MetricThreshold threshold;
  std::optional<std::vector<SlicingSpec>> slices;  // none: every slice
};

std::vector<ThresholdRule> threshold_rules(const EvalConfig& config) {
  std::vector<ThresholdRule> rules;
  for (const auto& spec : config.metrics_specs) {
    for (const auto& m : spec.metrics) {
      if (m.threshold) rules.push_back({m.name(), *m.threshold, std::nullopt});
      for (const auto& t : m.per_slice_thresholds) rules.push_back({m.name(), t.threshold, t.slicing_specs});
    }
    for (const auto& [name, t] : spec.thresholds) rules.push_back({name, t, std::nullopt});
  }
  return rules;
}

std::string bound_text(double v) { return fmt::format("{:g}", v); }

// Checks one value threshold and one change threshold; failures are appended as TFMA's
// ValidationFailure (metric_key, metric_threshold, metric_value, message).
void check_threshold(const std::string& metric, const MetricThreshold& t, double value, std::optional<double> baseline,
                     json& failures, int64_t& skipped) {
  if (t.value_threshold) {
    const auto& v = *t.value_threshold;
    std::string problem;
    if (std::isnan(value)) problem = "is undefined on this slice";
    else if (value < v.lower_bound) problem = fmt::format("{:.6g} is below the lower bound {}", value, bound_text(v.lower_bound));
    else if (value > v.upper_bound) problem = fmt::format("{:.6g} is above the upper bound {}", value, bound_text(v.upper_bound));
    if (!problem.empty()) {
      MetricThreshold only{t.value_threshold, std::nullopt};
      failures.push_back({{"metric_key", metric}, {"metric_threshold", to_json(only)},
                          {"metric_value", std::isnan(value) ? json(nullptr) : json(value)},
                          {"message", fmt::format("{} {} (value_threshold)", metric, problem)}});
    }
  }
  if (t.change_threshold) {
    // Without a baseline (a first run) change thresholds are ignored, as TFX does.
    if (!baseline) {
      ++skipped;
      return;
    }
    const auto& c = *t.change_threshold;
    bool higher = c.direction == Direction::HigherIsBetter;
    constexpr double inf = std::numeric_limits<double>::infinity();
    double absolute = c.absolute.value_or(higher ? -inf : inf), relative = c.relative.value_or(higher ? -inf : inf);
    double diff = value - *baseline;
    double ratio = *baseline != 0 ? diff / *baseline : (diff == 0 ? 0.0 : std::copysign(inf, diff));
    bool ok = !std::isnan(diff) && (higher ? diff >= absolute && ratio >= relative : diff <= absolute && ratio <= relative);
    if (!ok) {
      MetricThreshold only{std::nullopt, t.change_threshold};
      failures.push_back({{"metric_key", metric}, {"metric_threshold", to_json(only)},
                          {"metric_value", std::isnan(value) ? json(nullptr) : json(value)},
                          {"baseline_value", std::isnan(*baseline) ? json(nullptr) : json(*baseline)},
                          {"message", fmt::format("{} changed by {:+.6g} ({:+.4g}%) from the baseline's {:.6g}; {} requires a change {} {} "
                                                  "absolute and {} {} relative (change_threshold)",
                                                  metric, diff, ratio * 100, *baseline, higher ? "HIGHER_IS_BETTER" : "LOWER_IS_BETTER",
                                                  higher ? ">=" : "<=", bound_text(absolute), higher ? ">=" : "<=", bound_text(relative))}});
    }
  }
}

// Classifiers: label (int64) and probabilities (binary: [1 - p, p]); regression: label (float) and
// prediction (float), as the comparison reads them.
void write_predictions(const fs::path& path, const Predictions& p, const ExampleTable& table) {
  // Written beside the final name and renamed: a reader never sees half a file.
  fs::path tmp = path.parent_path() / fmt::format(".{}-{}.tfrecord.gz", path.stem().stem().string(), ::getpid());
  {
    TFRecordWriter writer(tmp);
    tensorflow::Example example;
    std::string bytes;
    for (int64_t i = 0; i < p.size(); ++i) {
      example.Clear();
      auto& features = *example.mutable_features()->mutable_feature();
      features = table.slice_protos[static_cast<size_t>(i)].feature();
      features[kPredictionIndexFeature].mutable_int64_list()->add_value(i);
      if (p.regression()) {
        features[kPredictionLabelFeature].mutable_float_list()->add_value(static_cast<float>(p.targets[static_cast<size_t>(i)]));
        features[kPredictionValueFeature].mutable_float_list()->add_value(p.values[static_cast<size_t>(i)]);
      } else {
        features[kPredictionLabelFeature].mutable_int64_list()->add_value(p.labels[static_cast<size_t>(i)]);
        auto* probabilities = features[kPredictionProbabilitiesFeature].mutable_float_list();
        probabilities->mutable_value()->Add(p.row(i), p.row(i) + p.num_classes);
      }
      example.SerializeToString(&bytes);
      writer.write(bytes);
    }
    writer.close();
  }
  fs::rename(tmp, path);
}

}  // namespace

size_t utf8_sequence_length(std::string_view text, size_t at) {
  auto byte = [&](size_t i) { return i < text.size() ? static_cast<unsigned char>(text[i]) : 0u; };
  auto continuation = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) { return byte(i) >= lo && byte(i) <= hi; };
  unsigned b = byte(at);
  if (at >= text.size()) return 0;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return continuation(at + 1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    unsigned lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;  // no overlong forms, no surrogates
    return continuation(at + 1, lo, hi) && continuation(at + 2) ? 3 : 0;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    unsigned lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;  // no overlong forms, nothing above U+10FFFF
    return continuation(at + 1, lo, hi) && continuation(at + 2) && continuation(at + 3) ? 4 : 0;
  }
  return 0;
}

std::string utf8_or_escaped(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    if (size_t n = utf8_sequence_length(bytes, i)) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(bytes[i]));
      ++i;
    }
  }
  return out;
}

void feature_as_floats(const tensorflow::Feature& f, const std::string& name, int64_t width, float* out, const std::string& where) {
  if (f.has_bytes_list()) fail("{}: feature '{}' holds strings; the model input takes {} number(s)", where, name, width);
  int64_t count = f.has_float_list() ? f.float_list().value_size() : f.int64_list().value_size();
  if (count == 0) {
    // A missing value (empty list, e.g. an NA cell) is NaN for the model, whose preprocessing fills it.
    std::fill(out, out + width, std::numeric_limits<float>::quiet_NaN());
    return;
  }
  if (count != width) fail("{}: feature '{}' has {} values; the model input takes {}", where, name, count, width);
  if (f.has_float_list()) std::copy(f.float_list().value().begin(), f.float_list().value().end(), out);
  else std::transform(f.int64_list().value().begin(), f.int64_list().value().end(), out, [](int64_t v) { return static_cast<float>(v); });
}

std::string slice_key_string(const SliceColumns& slice) {
  if (slice.empty()) return kOverallSliceKey;
  // TFMA's stringify_slice_key: the columns joined by "_X_", a colon, then the values likewise.
  std::string columns, values;
  for (const auto& [column, value] : slice) {
    columns += (columns.empty() ? "" : "_X_") + column;
    values += (values.empty() ? "" : "_X_") + value;
  }
  return columns + ":" + values;
}

// Every feature the config names must exist when the examples' schema is known: a typo in a
// slicing key would otherwise give an empty (or "missing") slice and a silently wrong blessing.
void check_features_in_schema(const EvaluationRequest& request, const ModelSpec& spec, const transform::TransformGraph* transform) {
  if (!request.schema_features) return;
  const std::set<std::string>& known = *request.schema_features;
  auto check = [&](const std::string& feature, const std::string& field) {
    if (known.count(feature) || (transform && transform->produces(feature))) return;
    std::string names;
    for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
    fail("eval_config.{}: feature '{}' is not in the schema {} ({}){}", field, feature, request.schema_origin, names,
         transform ? " nor an output of the model's transform graph" : "");
  };
  if (!spec.label_key.empty()) check(spec.label_key, "model_specs.label_key");
  auto check_specs = [&](const std::vector<SlicingSpec>& specs, const std::string& field) {
    for (size_t i = 0; i < specs.size(); ++i) {
      for (const auto& k : specs[i].feature_keys) check(k, fmt::format("{}[{}].feature_keys", field, i));
      for (const auto& [k, _] : specs[i].feature_values) check(k, fmt::format("{}[{}].feature_values", field, i));
    }
  };
  const EvalConfig& config = request.config;
  check_specs(config.slicing_specs, "slicing_specs");
  for (size_t m = 0; m < config.metrics_specs.size(); ++m) {
    const auto& metrics = config.metrics_specs[m].metrics;
    for (size_t j = 0; j < metrics.size(); ++j) {
      for (size_t t = 0; t < metrics[j].per_slice_thresholds.size(); ++t) {
        check_specs(metrics[j].per_slice_thresholds[t].slicing_specs,
                    fmt::format("metrics_specs[{}].metrics[{}].per_slice_thresholds[{}].slicing_specs", m, j, t));
      }
    }
  }
}

EvaluationResult evaluate(const EvaluationRequest& request) {
  const EvalConfig& config = request.config;
  if (request.batch_size < 1) fail("evaluation: batch size must be at least 1, got {}", request.batch_size);
  const ModelSpec& spec = config.candidate_spec();
  auto model = EvalModel::load(request.model_uri, spec);
  std::unique_ptr<EvalModel> baseline;
  ModelSpec baseline_spec = config.baseline_spec() ? *config.baseline_spec() : spec;
  if (baseline_spec.label_key.empty()) baseline_spec.label_key = spec.label_key;
  if (baseline_spec.label_key != spec.label_key) {
    fail("eval_config.model_specs: the baseline's label_key '{}' differs from the candidate's '{}'", baseline_spec.label_key, spec.label_key);
  }
  if (request.baseline_model_uri) baseline = EvalModel::load(*request.baseline_model_uri, baseline_spec);

  std::map<std::string, int64_t> widths;
  for (const EvalModel* m : {model.get(), baseline.get()}) {
    if (!m) continue;
    for (const auto& input : m->inputs()) {
      auto [it, added] = widths.emplace(input.feature, input.width);
      if (!added && it->second != input.width) {
        fail("{}: input '{}' takes {} values of feature '{}', the other model {}", m->path().string(), input.tensor_name, input.width,
             input.feature, it->second);
      }
    }
  }
  std::vector<SlicingSpec> slicing_specs = config.slicing_specs;
  auto rules = threshold_rules(config);
  for (const auto& rule : rules)
    if (rule.slices) slicing_specs.insert(slicing_specs.end(), rule.slices->begin(), rule.slices->end());
  std::set<std::string> slice_feature_set;
  for (const auto& s : slicing_specs) {
    slice_feature_set.insert(s.feature_keys.begin(), s.feature_keys.end());
    for (const auto& [k, _] : s.feature_values) slice_feature_set.insert(k);
  }
  std::vector<std::string> slice_features(slice_feature_set.begin(), slice_feature_set.end());

  // TFMA's preprocessing_function_names: the Transform graph saved with the model runs first.
  std::optional<transform::TransformGraph> transform;
  if (!spec.preprocessing_function_names.empty()) transform = load_model_transform(request.model_uri);
  check_features_in_schema(request, spec, transform ? &*transform : nullptr);
  const size_t ranks = request.world ? static_cast<size_t>(request.world->size()) : 1;
  const size_t rank = request.world ? static_cast<size_t>(request.world->rank()) : 0;
  ExampleTable table = read_examples(request.example_files, widths, spec.label_key, slice_features, request.threads,
                                     transform ? &*transform : nullptr, rank, ranks);
  ModelOutputs outputs = predict_all(*model, table, request.batch_size, request.threads);
  std::optional<ModelOutputs> baseline_outputs;
  if (baseline) baseline_outputs = predict_all(*baseline, table, request.batch_size, request.threads);
  if (ranks > 1) {
    gather_on_chief(*request.world, table, outputs, baseline_outputs);
    if (!request.world->is_chief()) return {};  // rank 0 computes and writes the results
  }
  if (table.size == 0) {
    if (table.without_label > 0) fail("{}: no example has a value for the label (every one is missing)", request.example_files.front().string());
    fail("{}: no examples to evaluate", request.example_files.front().string());
  }
  // Regression or classification, by the model's output width and the metrics configured.
  const int64_t width = outputs.width;
  const ProblemType problem_type = config.problem_type_for(width, output_text(*model, width));
  Predictions predictions = make_predictions(*model, std::move(outputs), problem_type, table, spec.label_key);
  std::optional<Predictions> baseline_predictions;
  if (baseline) {
    if (baseline_outputs->width != width) {
      fail("{}: the baseline model gives {} {} per example, the candidate {}", baseline->path().string(), baseline_outputs->width,
           problem_type == ProblemType::Regression ? "values" : "classes", width);
    }
    baseline_predictions = make_predictions(*baseline, std::move(*baseline_outputs), problem_type, table, spec.label_key);
  }

  EvaluationResult result;
  result.model = {spec.name.empty() ? "candidate" : spec.name, model->model_type(), model->path(), model->file_size()};
  if (baseline) {
    result.baseline_model = ModelInfo{baseline_spec.name.empty() ? "baseline" : baseline_spec.name, baseline->model_type(),
                                      baseline->path(), baseline->file_size()};
  }
  result.example_count = table.size;
  result.thresholds_configured = config.has_thresholds();

  std::vector<MetricConfig> metrics = config.all_metrics(problem_type);
  std::vector<Slice> slices = make_slices(slicing_specs, table);
  json metric_slices = json::array(), plot_slices = json::array(), failures_per_slice = json::array();
  std::vector<SliceColumns> evaluated;
  int64_t skipped_change_thresholds = 0;
  for (const auto& slice : slices) {
    if (static_cast<int64_t>(slice.rows.size()) < config.options.min_slice_size) {
      spdlog::info("Evaluator: slice {} has {} examples, fewer than min_slice_size {}: not reported", slice.key, slice.rows.size(),
                   config.options.min_slice_size);
      continue;
    }
    evaluated.push_back(slice.columns);
    auto values = compute_metrics(predictions, slice.rows, metrics);
    std::map<std::string, Interval> intervals;
    if (config.options.compute_confidence_intervals) intervals = bootstrap_intervals(predictions, slice.rows, metrics, hash64(slice.key));
    json slice_metrics = json::object();
    for (const auto& [name, v] : values) {
      auto interval = intervals.find(name);
      slice_metrics[name] = metric_json(v, interval == intervals.end() ? nullptr : &interval->second, predictions.num_classes);
    }
    json entry = {{"slice_key", slice.key}, {"slice", slice_json(slice.columns)}, {"metrics", slice_metrics}};
    std::map<std::string, MetricValue> baseline_values;
    if (baseline_predictions) {
      baseline_values = compute_metrics(*baseline_predictions, slice.rows, metrics);
      json b = json::object();
      for (const auto& [name, v] : baseline_values) b[name] = metric_json(v, nullptr, predictions.num_classes);
      entry["baseline_metrics"] = b;
    }
    metric_slices.push_back(entry);
    plot_slices.push_back({{"slice_key", slice.key}, {"slice", slice_json(slice.columns)}, {"plots", compute_plots(predictions, slice.rows, metrics)}});

    json failures = json::array();
    for (const auto& rule : rules) {
      if (rule.slices && std::none_of(rule.slices->begin(), rule.slices->end(), [&](const SlicingSpec& s) { return spec_matches(s, slice.columns); })) continue;
      std::optional<double> base;
      if (baseline_predictions) base = baseline_values.at(rule.metric).value;
      check_threshold(rule.metric, rule.threshold, values.at(rule.metric).value, base, failures, skipped_change_thresholds);
    }
    if (!failures.empty()) failures_per_slice.push_back({{"slice_key", slice.key}, {"slice", slice_json(slice.columns)}, {"failures", failures}});
  }
  // TFMA: a slice a per-slice threshold names that the data did not give is a missing slice.
  json missing = json::array();
  std::set<std::string> missing_seen;
  for (const auto& rule : rules) {
    if (!rule.slices) continue;
    for (const auto& s : *rule.slices) {
      bool found = std::any_of(evaluated.begin(), evaluated.end(), [&](const SliceColumns& c) { return spec_matches(s, c); });
      if (!found && missing_seen.insert(to_json(s).dump()).second) missing.push_back(to_json(s));
    }
  }
  if (skipped_change_thresholds > 0) spdlog::info("Evaluator: no baseline model: {} change threshold checks skipped", skipped_change_thresholds);

  result.validation_ok = failures_per_slice.empty() && missing.empty();
  result.problem_type = problem_type;
  result.metrics = {{"model", model_info_json(result.model)}, {"problem_type", problem_type_name(problem_type)}, {"example_count", table.size},
                    {"examples_without_label", table.without_label}, {"slices", metric_slices}};
  if (table.without_label > 0) {
    spdlog::warn("Evaluator: {} examples have no label value (missing), e.g. {}; they are not in the metrics", table.without_label,
                 table.first_without_label);
  }
  if (result.baseline_model) result.metrics["baseline_model"] = model_info_json(*result.baseline_model);
  // The label's vocabulary names the classes: class id i is class_names[i].
  if (transform) {
    auto names = transform->vocabulary(spec.label_key);
    if (!names.empty()) {
      json escaped = json::array();
      for (const auto& n : names) escaped.push_back(utf8_or_escaped(n));
      result.metrics["class_names"] = escaped;
    }
  }
  result.plots = {{"slices", plot_slices}};
  result.validations = {{"validation_ok", result.validation_ok},
                        {"thresholds_configured", result.thresholds_configured},
                        {"metric_validations_per_slice", failures_per_slice},
                        {"missing_slices", missing},
                        {"change_thresholds_skipped", skipped_change_thresholds}};

  fs::create_directories(request.output_dir);
  write_json_file_atomic(request.output_dir / kMetricsFile, result.metrics);
  write_json_file_atomic(request.output_dir / kPlotsFile, result.plots);
  write_json_file_atomic(request.output_dir / kValidationsFile, result.validations);
  // The config as evaluated: model names and types resolved.
  EvalConfig written = config;
  for (auto& m : written.model_specs) {
    const ModelInfo& info = m.is_baseline && result.baseline_model ? *result.baseline_model : result.model;
    if (m.name.empty()) m.name = m.is_baseline ? "baseline" : info.name;
    if (m.model_type.empty() && (!m.is_baseline || result.baseline_model)) m.model_type = info.model_type;
  }
  write_json_file_atomic(request.output_dir / kEvalConfigFile, to_json(written));
  write_predictions(request.output_dir / kPredictionsFile, predictions, table);
  return result;
}

}  // namespace litepipe::eval
