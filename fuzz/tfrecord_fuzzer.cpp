// TFRecord files, plain and gzip: TFRecordReader (framing, length and data CRCs, the ISA-L gzip
// reader with multi-member files) and, as ExampleGen's read_tfrecord_file does, each record parsed
// as a tf.Example. An input starting with gzip's magic (1f 8b) is read as "*.gz", anything else
// as a plain TFRecord file.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "data/tfrecord.h"
#include "fuzz_util.h"
#include "tensorflow/core/example/example.pb.h"

using namespace litepipe;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::as_view(data, size);
  auto path = fuzz::write_scratch_file(fuzz::looks_gzip(bytes) ? "data.tfrecord.gz" : "data.tfrecord", bytes);
  try {
    TFRecordReader reader(path);
    std::string record;
    tensorflow::Example example;
    uint64_t features = 0;
    while (reader.next(record)) {
      if (example.ParseFromString(record)) features += static_cast<uint64_t>(example.features().feature_size());
    }
    (void)features;
    (void)reader.records_read();
  } catch (const Error&) {
  }
  return 0;
}
