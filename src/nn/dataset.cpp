#include "nn/dataset.h"

#include <cstring>

#include "core/error.h"
#include "data/tfrecord.h"

namespace litepipe::nn {

Dataset load_examples(const std::vector<std::string>& files, const std::string& feature, const std::string& label, Shape shape,
                      const ExampleMap& map) {
  if (files.empty()) fail("load_examples: no files");
  std::vector<float> xs, ys;
  int64_t width = -1, n = 0;
  std::string record;
  tensorflow::Example e;
  for (const auto& file : files) {
    TFRecordReader reader(file);
    while (reader.next(record)) {
      if (!e.ParseFromString(record)) fail("{}: record {} is not a tf.Example", file, reader.records_read() - 1);
      if (map) e = map(e);
      const auto& f = e.features().feature();
      auto fx = f.find(feature), fy = f.find(label);
      if (fx == f.end()) fail("{}: record {} has no feature '{}'", file, reader.records_read() - 1, feature);
      if (!label.empty() && (fy == f.end() || fy->second.int64_list().value_size() != 1)) {
        fail("{}: record {} needs one int64 label '{}'", file, reader.records_read() - 1, label);
      }
      int64_t count = fx->second.has_float_list() ? fx->second.float_list().value_size() : fx->second.int64_list().value_size();
      if (width < 0) width = count;
      if (count != width) fail("{}: record {}: feature '{}' has {} values, earlier records {}", file, reader.records_read() - 1, feature, count, width);
      if (fx->second.has_float_list()) {
        xs.insert(xs.end(), fx->second.float_list().value().begin(), fx->second.float_list().value().end());
      } else {
        for (int64_t v : fx->second.int64_list().value()) xs.push_back(static_cast<float>(v));
      }
      ys.push_back(label.empty() ? 0.0f : static_cast<float>(fy->second.int64_list().value(0)));
      ++n;
    }
  }
  if (n == 0) fail("load_examples: {} holds no examples", files.front());
  if (shape.empty()) shape = {width};
  if (shape_size(shape) != width) fail("load_examples: feature '{}' has {} values, which do not fit shape {}", feature, width, shape_string(shape));
  Shape full = {n};
  full.insert(full.end(), shape.begin(), shape.end());
  return {Tensor::from(full, xs), Tensor::from({n}, ys)};
}

}  // namespace litepipe::nn
