#include "data/example_sources.h"

#include <csv.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "data/byte_stream.h"
#include "data/tfrecord.h"
#include "tensorflow/core/example/example.pb.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace litepipe {
namespace {

uint32_t big_endian_u32(const std::string& bytes, size_t offset) {
  auto b = reinterpret_cast<const uint8_t*>(bytes.data()) + offset;
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

// Checks magic and size of an IDX file; returns the dimensions.
std::vector<uint32_t> idx_header(const fs::path& path, const std::string& bytes,
                                 uint32_t expected_magic, size_t expected_dims) {
  if (bytes.size() < 4) fail("{}: IDX file too short for its magic number ({} bytes)", path.string(), bytes.size());
  uint32_t magic = big_endian_u32(bytes, 0);
  if (magic != expected_magic) {
    fail("{}: wrong IDX magic 0x{:08x} at offset 0, expected 0x{:08x} (uint8, {} dimension{})",
         path.string(), magic, expected_magic, expected_dims, expected_dims > 1 ? "s" : "");
  }
  size_t header = 4 + 4 * expected_dims;
  if (bytes.size() < header) fail("{}: IDX header truncated ({} of {} bytes)", path.string(), bytes.size(), header);
  std::vector<uint32_t> dims;
  uint64_t payload = 1;
  for (size_t i = 0; i < expected_dims; ++i) {
    dims.push_back(big_endian_u32(bytes, 4 + 4 * i));
    // Checked: a hostile header must not wrap the size to something the file happens to match.
    if (__builtin_mul_overflow(payload, uint64_t{dims.back()}, &payload)) {
      fail("{}: IDX header dimensions {} overflow 64 bits", path.string(), fmt::join(dims, " x "));
    }
    if (i > 0 && dims.back() == 0) fail("{}: IDX dimension {} is 0; images need at least 1 x 1 pixels", path.string(), i);
  }
  if (bytes.size() - header != payload) {
    fail("{}: IDX size mismatch: header declares {} data bytes after offset {}, file has {}",
         path.string(), payload, header, bytes.size() - header);
  }
  return dims;
}

}  // namespace

std::string serialize_deterministic(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // map entries sorted by key: stable bytes
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

std::string make_image_example(const uint8_t* pixels, size_t count, int64_t label) {
  tensorflow::Example example;
  auto& features = *example.mutable_features()->mutable_feature();
  auto* floats = features["image_floats"].mutable_float_list()->mutable_value();
  floats->Resize(static_cast<int>(count), 0.0f);
  float* dst = floats->mutable_data();
  for (size_t i = 0; i < count; ++i) dst[i] = static_cast<float>(pixels[i]);
  features["image_class"].mutable_int64_list()->add_value(label);
  return serialize_deterministic(example);
}

IdxImages read_idx_images(const fs::path& path) {
  std::string bytes = read_all(path);
  auto dims = idx_header(path, bytes, 0x00000803, 3);
  IdxImages images{dims[0], dims[1], dims[2], {}};
  images.pixels.assign(bytes.begin() + 16, bytes.end());
  return images;
}

std::vector<uint8_t> read_idx_labels(const fs::path& path) {
  std::string bytes = read_all(path);
  idx_header(path, bytes, 0x00000801, 1);
  return std::vector<uint8_t>(bytes.begin() + 8, bytes.end());
}

void read_idx_dir(const fs::path& dir, const ExampleSink& sink) {
  struct Pair { fs::path images, labels; };
  std::map<std::string, Pair> pairs;
  for (const auto& file : list_files(dir)) {
    std::string name = file.filename().string();
    auto pos = name.find("-images-idx3-ubyte");
    if (pos != std::string::npos) pairs[name.substr(0, pos)].images = file;
    pos = name.find("-labels-idx1-ubyte");
    if (pos != std::string::npos) pairs[name.substr(0, pos)].labels = file;
  }
  if (pairs.empty()) fail("{}: no IDX files (*-images-idx3-ubyte[.gz] + *-labels-idx1-ubyte[.gz])", dir.string());
  for (const auto& [prefix, pair] : pairs) {
    if (pair.images.empty()) fail("{}: labels file for '{}' has no matching {}-images-idx3-ubyte", dir.string(), prefix, prefix);
    if (pair.labels.empty()) fail("{}: images file for '{}' has no matching {}-labels-idx1-ubyte", dir.string(), prefix, prefix);
    IdxImages images = read_idx_images(pair.images);
    std::vector<uint8_t> labels = read_idx_labels(pair.labels);
    if (labels.size() != images.count) {
      fail("{}: {} labels but {} has {} images", pair.labels.string(), labels.size(),
           pair.images.string(), images.count);
    }
    std::string split = prefix == "train" ? "train" : (prefix == "t10k" || prefix == "test") ? "eval" : prefix;
    if (pairs.size() == 1) split = "";  // a single pair has no predefined split
    size_t image_size = size_t{images.rows} * images.cols;
    for (uint32_t i = 0; i < images.count; ++i) {
      sink(split, make_image_example(images.pixels.data() + i * image_size, image_size, labels[i]));
    }
  }
}

namespace {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::vector<std::optional<std::string>> current;
  size_t line = 1;
};

void csv_field(void* data, size_t len, void* user) {
  auto* table = static_cast<CsvTable*>(user);
  if (len == 0) table->current.emplace_back(std::nullopt);
  else table->current.emplace_back(std::string(static_cast<char*>(data), len));
}

void csv_row(int, void* user) {
  auto* table = static_cast<CsvTable*>(user);
  if (table->header.empty()) {
    for (auto& cell : table->current) table->header.push_back(cell.value_or(""));
  } else {
    table->rows.push_back(std::move(table->current));
  }
  table->current.clear();
  ++table->line;
}

bool parses_int(std::string_view s, int64_t& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}
bool parses_float(std::string_view s, float& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

std::string_view trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string_view() : std::string_view(s).substr(b, e - b + 1);
}

}  // namespace

const char* csv_column_type_name(CsvColumnType type) {
  switch (type) {
    case CsvColumnType::Int: return "INT";
    case CsvColumnType::Float: return "FLOAT";
    case CsvColumnType::Bytes: return "BYTES";
  }
  return "?";
}

std::vector<CsvColumn> read_csv_file(const fs::path& path, const std::string& split, const ExampleSink& sink, const CsvOptions& options) {
  std::string text = read_all(path);
  csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) != 0) fail("csv: init failed");
  CsvTable table;
  size_t parsed = csv_parse(&parser, text.data(), text.size(), csv_field, csv_row, &table);
  int rc = parsed == text.size() ? csv_fini(&parser, csv_field, csv_row, &table) : -1;
  if (rc != 0 || parsed != text.size()) {
    std::string why = csv_strerror(csv_error(&parser));
    csv_free(&parser);
    fail("{}: malformed CSV at line {} (byte {}): {}", path.string(), table.line, parsed, why);
  }
  csv_free(&parser);
  if (table.header.empty()) fail("{}: CSV has no header row", path.string());
  std::map<std::string, size_t> header_index;
  for (size_t c = 0; c < table.header.size(); ++c) {
    if (table.header[c].empty()) fail("{}: CSV header column {} has no name", path.string(), c + 1);
    try {
      (void)nlohmann::json(table.header[c]).dump();  // feature names end up in JSON files
    } catch (const nlohmann::json::type_error&) {
      fail("{}: CSV header column {} is not UTF-8 text (save the file as UTF-8)", path.string(), c + 1);
    }
    auto [it, inserted] = header_index.emplace(table.header[c], c);
    if (!inserted) fail("{}: CSV header names column '{}' twice (columns {} and {}); each feature needs its own name", path.string(), table.header[c], it->second + 1, c + 1);
  }
  for (const auto& [name, _] : options.column_types) {
    if (!header_index.count(name)) fail("{}: column_types names column '{}', which the CSV header does not have (header: {})", path.string(), name, fmt::join(table.header, ","));
  }
  size_t columns = table.header.size();
  std::vector<CsvColumn> info(columns);
  for (size_t c = 0; c < columns; ++c) {
    info[c].name = table.header[c];
    if (auto it = options.column_types.find(table.header[c]); it != options.column_types.end()) info[c].type = it->second, info[c].forced = true;
  }
  // Missing cells become std::nullopt; the others are trimmed.
  auto is_null = [&](std::string_view cell) {
    return std::any_of(options.null_values.begin(), options.null_values.end(), [&](const std::string& n) { return trimmed(n) == cell; });
  };
  for (size_t r = 0; r < table.rows.size(); ++r) {
    if (table.rows[r].size() != columns) {
      fail("{}: CSV line {} has {} fields, expected {} (header: {})", path.string(), r + 2,
           table.rows[r].size(), columns, fmt::join(table.header, ","));
    }
    for (size_t c = 0; c < columns; ++c) {
      auto& cell = table.rows[r][c];
      if (cell) {
        std::string_view t = trimmed(*cell);
        if (is_null(t)) cell.reset();
        else if (t.size() != cell->size()) *cell = std::string(t);
      }
      if (!cell) {
        ++info[c].missing;
        continue;
      }
      int64_t i;
      float f;
      bool is_number = parses_float(*cell, f);
      info[c].numbers += is_number;
      if (!is_number && info[c].first_non_number.empty()) info[c].first_non_number = *cell;
      if (info[c].forced) {
        if ((info[c].type == CsvColumnType::Int && !parses_int(*cell, i)) || (info[c].type == CsvColumnType::Float && !is_number)) {
          fail("{}: line {}, column '{}': '{}' is not {} (column_types forces {})", path.string(), r + 2, table.header[c], *cell,
               info[c].type == CsvColumnType::Int ? "an integer" : "a number", csv_column_type_name(info[c].type));
        }
        continue;
      }
      if (info[c].type == CsvColumnType::Int && !parses_int(*cell, i)) info[c].type = CsvColumnType::Float;
      if (info[c].type == CsvColumnType::Float && !is_number) info[c].type = CsvColumnType::Bytes;
    }
  }
  for (auto& row : table.rows) {
    tensorflow::Example example;
    auto& features = *example.mutable_features()->mutable_feature();
    for (size_t c = 0; c < columns; ++c) {
      auto& feature = features[table.header[c]];
      // A missing cell becomes an empty list of the column's type, as TFX's CSV decoder does.
      if (info[c].type == CsvColumnType::Int) {
        auto* list = feature.mutable_int64_list();
        int64_t v;
        if (row[c] && parses_int(*row[c], v)) list->add_value(v);
      } else if (info[c].type == CsvColumnType::Float) {
        auto* list = feature.mutable_float_list();
        float v;
        if (row[c] && parses_float(*row[c], v)) list->add_value(v);
      } else {
        auto* list = feature.mutable_bytes_list();
        if (row[c]) list->add_value(*row[c]);
      }
    }
    sink(split, serialize_deterministic(example));
  }
  return info;
}

void read_tfrecord_file(const fs::path& path, const std::string& split, const ExampleSink& sink) {
  TFRecordReader reader(path);
  std::string record;
  tensorflow::Example example;
  while (reader.next(record)) {
    if (!example.ParseFromString(record)) {
      fail("{}: record {} is not a valid tf.Example protobuf", path.string(), reader.records_read() - 1);
    }
    sink(split, std::move(record));
  }
}

void read_mnist_json_dir(const fs::path& dir, const ExampleSink& sink) {
  fs::path digits = dir;
  for (const fs::path& candidate : {dir / "src" / "digits", dir / "digits", dir}) {
    if (fs::exists(candidate / "0.json")) {
      digits = candidate;
      break;
    }
  }
  constexpr size_t kImageSize = 784;
  std::vector<uint8_t> pixels(kImageSize);
  for (int digit = 0; digit < 10; ++digit) {
    fs::path file = digits / (std::to_string(digit) + ".json");
    if (!fs::exists(file)) fail("{}: missing; the mnist package has digits/0.json .. 9.json", file.string());
    nlohmann::json doc = read_json_file(file);
    if (!doc.is_object() || !doc.contains("data") || !doc["data"].is_array()) {
      fail("{}: expected an object with an array field \"data\"", file.string());
    }
    const auto& data = doc["data"];
    if (data.size() % kImageSize != 0) {
      fail("{}: field \"data\" has {} values, expected a multiple of {} (28x28 images)", file.string(),
           data.size(), kImageSize);
    }
    for (size_t start = 0; start < data.size(); start += kImageSize) {
      for (size_t i = 0; i < kImageSize; ++i) {
        const auto& v = data[start + i];
        if (!v.is_number() || v.get<double>() < 0.0 || v.get<double>() > 1.0) {
          fail("{}: data[{}] = {}, expected a number in [0, 1]", file.string(), start + i, v.dump());
        }
        pixels[i] = static_cast<uint8_t>(std::lround(v.get<double>() * 255.0));
      }
      sink("", make_image_example(pixels.data(), kImageSize, digit));
    }
  }
}

}  // namespace litepipe
