#include "file_contents.h"

#include "core/error.h"
#include "core/files.h"
#include "data/tfrecord.h"
#include "tensorflow/core/example/example.pb.h"

namespace litepipe::testing {

std::map<std::string, std::string> files_under(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::string name = std::filesystem::relative(entry.path(), dir).string(), content;
    if (name.find(".tfrecord") != std::string::npos) {
      TFRecordReader reader(entry.path());
      tensorflow::Example example;
      for (std::string record; reader.next(record);) {
        if (!example.ParseFromString(record)) fail("{}: record {} is not a tf.Example", entry.path().string(), reader.records_read() - 1);
        content += example.DebugString();
      }
    } else {
      content = read_file(entry.path());
    }
    files[name] = content;
  }
  return files;
}

}  // namespace litepipe::testing
