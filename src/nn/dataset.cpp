#include "nn/dataset.h"

#include <cstring>

#include "core/error.h"
#include "data/tfrecord.h"

namespace litepipe::nn {

Dataset load_examples(const std::vector<std::string>& files, const std::vector<std::string>& features, const std::string& label,
                      const ExampleMap& map, bool skip_missing_labels) {
  if (files.empty()) fail("load_examples: no files");
  if (features.empty()) fail("load_examples: no features to read");
  std::vector<std::vector<float>> xs(features.size());
  std::vector<int64_t> widths(features.size(), -1);
  std::vector<float> ys;
  int64_t n = 0, without_label = 0;
  std::string record;
  tensorflow::Example e;
  for (const auto& file : files) {
    TFRecordReader reader(file);
    while (reader.next(record)) {
      auto where = [&] { return fmt::format("{}: record {}", file, reader.records_read() - 1); };
      if (!e.ParseFromString(record)) fail("{} is not a tf.Example", where());
      if (map) e = map(e);
      const auto& f = e.features().feature();
      if (skip_missing_labels && !label.empty()) {
        auto fy = f.find(label);
        if (fy != f.end() && fy->second.int64_list().value_size() + fy->second.float_list().value_size() + fy->second.bytes_list().value_size() == 0) {
          ++without_label;
          continue;
        }
      }
      for (size_t k = 0; k < features.size(); ++k) {
        auto fx = f.find(features[k]);
        if (fx == f.end()) fail("{} has no feature '{}'", where(), features[k]);
        if (fx->second.has_bytes_list()) {
          fail("{}: feature '{}' holds strings; map it to numbers in the Transform (compute_and_apply_vocabulary, one_hot)", where(), features[k]);
        }
        int64_t count = fx->second.has_float_list() ? fx->second.float_list().value_size() : fx->second.int64_list().value_size();
        if (count == 0) fail("{}: feature '{}' is missing; fill it in the Transform (fill_missing)", where(), features[k]);
        if (widths[k] < 0) widths[k] = count;
        if (count != widths[k]) fail("{}: feature '{}' has {} values, earlier records {}", where(), features[k], count, widths[k]);
        if (fx->second.has_float_list()) {
          xs[k].insert(xs[k].end(), fx->second.float_list().value().begin(), fx->second.float_list().value().end());
        } else {
          for (int64_t v : fx->second.int64_list().value()) xs[k].push_back(static_cast<float>(v));
        }
      }
      if (label.empty()) {
        ys.push_back(0.0f);
      } else {
        auto fy = f.find(label);
        if (fy == f.end()) fail("{} has no label '{}'", where(), label);
        if (fy->second.int64_list().value_size() == 1) ys.push_back(static_cast<float>(fy->second.int64_list().value(0)));
        else if (fy->second.float_list().value_size() == 1) ys.push_back(fy->second.float_list().value(0));
        else if (fy->second.has_bytes_list()) fail("{}: label '{}' is a string; map it to class ids in the Transform (compute_and_apply_vocabulary)", where(), label);
        else fail("{}: label '{}' must hold one number (a class id or a target), got {} values", where(), label,
                  fy->second.int64_list().value_size() + fy->second.float_list().value_size());
      }
      ++n;
    }
  }
  if (n == 0) fail("load_examples: {} holds no examples", files.front());
  Dataset d;
  for (size_t k = 0; k < features.size(); ++k) d.features[features[k]] = Tensor::from({n, widths[k]}, xs[k]);
  d.x = d.features.at(features[0]);
  d.y = Tensor::from({n}, ys);
  d.without_label = without_label;
  return d;
}

Dataset load_examples(const std::vector<std::string>& files, const std::string& feature, const std::string& label, Shape shape,
                      const ExampleMap& map) {
  Dataset d = load_examples(files, std::vector<std::string>{feature}, label, map);
  int64_t n = d.x.dim(0), width = d.x.dim(1);
  if (shape.empty()) shape = {width};
  if (shape_size(shape) != width) fail("load_examples: feature '{}' has {} values, which do not fit shape {}", feature, width, shape_string(shape));
  Shape full = {n};
  full.insert(full.end(), shape.begin(), shape.end());
  d.x = d.x.reshaped(full);
  d.features[feature] = d.x;
  return d;
}

}  // namespace litepipe::nn
