// CSV files as ExampleGen reads them: read_csv_file (libcsv strict parsing, header checks, type
// inference int -> float -> bytes, null values, tf.Example per row). A file that parses is read a
// second time with some columns' types forced (CsvOptions::column_types, chosen from a hash of the
// input) and more null values, then its column report is serialized as ExampleGen stores it in the
// artifact's properties (JSON, into the metadata store).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/example_sources.h"
#include "fuzz_util.h"

using namespace litepipe;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::as_view(data, size);
  auto path = fuzz::write_scratch_file("data.csv", bytes);
  uint64_t examples = 0;
  ExampleSink sink = [&](const std::string&, std::string&& serialized) { examples += serialized.size() > 0; };
  std::vector<CsvColumn> columns;
  try {
    columns = read_csv_file(path, "train", sink);
  } catch (const Error&) {
    return 0;
  }
  uint64_t hash = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 1099511628211ull;
  CsvOptions options;
  options.null_values.push_back("?");
  options.null_values.push_back(" -- ");
  for (size_t c = 0; c < columns.size() && c < 32; ++c) {
    switch ((hash >> (2 * c)) & 3) {
      case 1: options.column_types[columns[c].name] = CsvColumnType::Int; break;
      case 2: options.column_types[columns[c].name] = CsvColumnType::Float; break;
      case 3: options.column_types[columns[c].name] = CsvColumnType::Bytes; break;
      default: break;
    }
  }
  try {
    columns = read_csv_file(path, "eval", sink, options);
  } catch (const Error&) {
  }
  // ExampleGen's report_csv_columns: the artifact property "csv_columns", stored as JSON text.
  nlohmann::json report = nlohmann::json::object();
  for (const auto& c : columns) {
    report[c.name] = {{"type", csv_column_type_name(c.type)}, {"missing", c.missing}, {"forced", c.forced}};
  }
  nlohmann::json properties = {{"csv_columns", report}, {"num_examples", examples}};
  (void)properties.dump();
  return 0;
}
