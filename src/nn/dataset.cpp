#include "nn/dataset.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/tfrecord.h"
#include "distributed/world.h"

namespace litepipe::nn {
namespace {

// The decoded examples, feature by feature, as they are read.
class ExampleReader {
 public:
  ExampleReader(const std::vector<std::string>& features, const std::string& label, const ExampleMap& map, bool skip_missing_labels)
      : features_(features), label_(label), map_(map), skip_missing_labels_(skip_missing_labels), xs_(features.size()), widths_(features.size(), -1) {
    if (features.empty()) fail("load_examples: no features to read");
  }

  // Parses one record; false when it was left out for a missing label (skip_missing_labels).
  bool add(const std::string& record, const std::string& file, uint64_t index) {
    auto where = [&] { return fmt::format("{}: record {}", file, index); };
    if (!e_.ParseFromString(record)) fail("{} is not a tf.Example", where());
    if (map_) e_ = map_(e_);
    const auto& f = e_.features().feature();
    if (skip_missing_labels_ && !label_.empty()) {
      auto fy = f.find(label_);
      if (fy != f.end() && fy->second.int64_list().value_size() + fy->second.float_list().value_size() + fy->second.bytes_list().value_size() == 0) {
        ++without_label_;
        return false;
      }
    }
    for (size_t k = 0; k < features_.size(); ++k) {
      auto fx = f.find(features_[k]);
      if (fx == f.end()) fail("{} has no feature '{}'", where(), features_[k]);
      if (fx->second.has_bytes_list()) {
        fail("{}: feature '{}' holds strings; map it to numbers in the Transform (compute_and_apply_vocabulary, one_hot)", where(), features_[k]);
      }
      int64_t count = fx->second.has_float_list() ? fx->second.float_list().value_size() : fx->second.int64_list().value_size();
      if (count == 0) fail("{}: feature '{}' is missing; fill it in the Transform (fill_missing)", where(), features_[k]);
      if (widths_[k] < 0) widths_[k] = count;
      if (count != widths_[k]) fail("{}: feature '{}' has {} values, earlier records {}", where(), features_[k], count, widths_[k]);
      if (fx->second.has_float_list()) {
        xs_[k].insert(xs_[k].end(), fx->second.float_list().value().begin(), fx->second.float_list().value().end());
      } else {
        for (int64_t v : fx->second.int64_list().value()) xs_[k].push_back(static_cast<float>(v));
      }
    }
    if (label_.empty()) {
      ys_.push_back(0.0f);
    } else {
      auto fy = f.find(label_);
      if (fy == f.end()) fail("{} has no label '{}'", where(), label_);
      if (fy->second.int64_list().value_size() == 1) ys_.push_back(static_cast<float>(fy->second.int64_list().value(0)));
      else if (fy->second.float_list().value_size() == 1) ys_.push_back(fy->second.float_list().value(0));
      else if (fy->second.has_bytes_list()) fail("{}: label '{}' is a string; map it to class ids in the Transform (compute_and_apply_vocabulary)", where(), label_);
      else fail("{}: label '{}' must hold one number (a class id or a target), got {} values", where(), label_,
                fy->second.int64_list().value_size() + fy->second.float_list().value_size());
    }
    ++n_;
    return true;
  }

  int64_t size() const { return n_; }
  int64_t without_label() const { return without_label_; }
  std::vector<int64_t>& widths() { return widths_; }

  Dataset dataset() const {
    Dataset d;
    for (size_t k = 0; k < features_.size(); ++k) d.features[features_[k]] = Tensor::from({n_, std::max<int64_t>(widths_[k], 0)}, xs_[k]);
    d.x = d.features.at(features_[0]);
    d.y = Tensor::from({n_}, ys_);
    d.without_label = without_label_;
    return d;
  }

 private:
  const std::vector<std::string>& features_;
  const std::string& label_;
  const ExampleMap& map_;
  bool skip_missing_labels_;
  std::vector<std::vector<float>> xs_;
  std::vector<int64_t> widths_;
  std::vector<float> ys_;
  int64_t n_ = 0, without_label_ = 0;
  tensorflow::Example e_;
};

// Every record of `files` in order, with its file and index in that file.
template <typename Visit>
void for_each_record(const std::vector<std::string>& files, Visit&& visit) {
  if (files.empty()) fail("load_examples: no files");
  std::string record;
  for (const auto& file : files) {
    TFRecordReader reader(file);
    while (reader.next(record)) visit(record, file, reader.records_read() - 1);
  }
}

// The single-feature form: x takes `shape` per example.
Dataset shaped(Dataset d, const std::string& feature, Shape shape) {
  int64_t n = d.x.dim(0), width = d.x.dim(1);
  if (shape.empty()) shape = {width};
  if (shape_size(shape) != width) fail("load_examples: feature '{}' has {} values, which do not fit shape {}", feature, width, shape_string(shape));
  Shape full = {n};
  full.insert(full.end(), shape.begin(), shape.end());
  d.x = d.x.reshaped(full);
  d.features[feature] = d.x;
  return d;
}

}  // namespace

Dataset load_examples(const std::vector<std::string>& files, const std::vector<std::string>& features, const std::string& label,
                      const ExampleMap& map, bool skip_missing_labels) {
  ExampleReader reader(features, label, map, skip_missing_labels);
  for_each_record(files, [&](const std::string& record, const std::string& file, uint64_t index) { reader.add(record, file, index); });
  if (reader.size() == 0) fail("load_examples: {} holds no examples", files.front());
  return reader.dataset();
}

Dataset load_examples(const std::vector<std::string>& files, const std::string& feature, const std::string& label, Shape shape,
                      const ExampleMap& map) {
  return shaped(load_examples(files, std::vector<std::string>{feature}, label, map), feature, std::move(shape));
}

Dataset load_train_shard(const std::vector<std::string>& files, const std::vector<std::string>& features, const std::string& label,
                         const ExampleMap& map, bool skip_missing_labels) {
  const distributed::World& world = distributed::world();
  if (world.size() == 1) return load_examples(files, features, label, map, skip_missing_labels);
  ExampleReader reader(features, label, map, skip_missing_labels);
  // Record i (over all files, in order) is this rank's when i mod ranks == rank.
  const auto ranks = static_cast<uint64_t>(world.size()), rank = static_cast<uint64_t>(world.rank());
  uint64_t records = 0;
  std::vector<int64_t> left_out;  // records of this rank left out for a missing label
  for_each_record(files, [&](const std::string& record, const std::string& file, uint64_t index) {
    if (records % ranks == rank && !reader.add(record, file, index)) left_out.push_back(static_cast<int64_t>(records));
    ++records;
  });
  // Which records every rank left out: the global example order skips them, as one process does.
  std::vector<bool> skipped(records, false);
  int64_t without_label = 0;
  std::vector<uint8_t> cbor = nlohmann::json::to_cbor(nlohmann::json(left_out));
  for (const std::string& bytes : world.allgather_bytes(std::string(cbor.begin(), cbor.end()))) {
    for (int64_t r : nlohmann::json::from_cbor(bytes).get<std::vector<int64_t>>()) {
      skipped[static_cast<size_t>(r)] = true;
      ++without_label;
    }
  }
  // A rank that parsed no example does not know the widths: every rank takes the others'.
  std::vector<int64_t>& widths = reader.widths();
  for (size_t k = 0; k < widths.size(); ++k) {
    for (int64_t w : world.allgather(widths[k])) {
      if (w >= 0 && widths[k] >= 0 && w != widths[k]) fail("load_train_shard: feature '{}' has {} values in some examples, {} in others", features[k], w, widths[k]);
      if (w >= 0) widths[k] = w;
    }
  }
  Dataset d = reader.dataset();
  d.without_label = without_label;
  int64_t mine = 0;
  for (uint64_t i = 0; i < records; ++i) {
    if (!skipped[i]) d.shard_rows.push_back(i % ranks == rank ? mine++ : -1);
  }
  if (d.shard_rows.empty()) fail("load_examples: {} holds no examples", files.front());
  return d;
}

Dataset load_train_shard(const std::vector<std::string>& files, const std::string& feature, const std::string& label, Shape shape,
                         const ExampleMap& map) {
  return shaped(load_train_shard(files, std::vector<std::string>{feature}, label, map), feature, std::move(shape));
}

}  // namespace litepipe::nn
