// Class names travel with the TFLite model as TFLite Support metadata: TFLITE_METADATA (a
// ModelMetadata flatbuffer) names labels.txt as the output's TENSOR_AXIS_LABELS file, and
// labels.txt is packed after the flatbuffer as a zip archive. Checked with the generated code,
// Python's zipfile, litepipe's interpreter, the real TensorFlow Lite runtime and the CLI.
#include <algorithm>
#include <cstdlib>
#include <functional>
#include <random>
#include <set>

#include <fmt/format.h>

#include "cli/model_commands.h"
#include "metadata_schema_subset_generated.h"
#include "nn/model.h"
#include "onnx/onnx_model.h"
#include "test_helpers.h"
#include "tflite/converter.h"
#include "tflite/interpreter.h"
#include "tflite/metadata.h"
#include "tflite/rewriter.h"
#include "tflite_subset_generated.h"

namespace litepipe {
namespace {

using nlohmann::json;
using testing::expect_error;

const std::vector<std::string> kClasses = {"Adélie", "Chinstrap", "Gentoo penguin"};

// The TFLITE_METADATA buffer of a .tflite file, found and verified with the generated code.
const ::tflite::ModelMetadata* support_metadata(const std::string& bytes) {
  auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!::tflite::VerifyModelBuffer(verifier)) return nullptr;
  const auto* model = ::tflite::GetModel(data);
  if (!model->metadata()) return nullptr;
  for (const auto* m : *model->metadata()) {
    if (m->name()->str() != "TFLITE_METADATA") continue;
    const auto* buffer = model->buffers()->Get(m->buffer())->data();
    if (!::tflite::ModelMetadataBufferHasIdentifier(buffer->data())) return nullptr;
    flatbuffers::Verifier metadata_verifier(buffer->data(), buffer->size());
    if (!::tflite::VerifyModelMetadataBuffer(metadata_verifier)) return nullptr;
    return ::tflite::GetModelMetadata(buffer->data());
  }
  return nullptr;
}

class TfliteMetadataTest : public testing::TempDirTest {
 protected:
  // Two raw inputs ("a" [1], "b" [2]) to three classes; the 32x32 dense layer is big enough for
  // dynamic-range quantization.
  fs::path save_classifier(const std::string& name, const std::vector<std::string>& class_names) {
    nn::set_random_seed(5);
    auto ia = nn::Input({1}, "a"), ib = nn::Input({2}, "b");
    auto h = nn::Dense(32, {.activation = "relu"})(nn::Concatenate()({ia, ib}));
    h = nn::Dense(32, {.activation = "relu"})(h);
    nn::Model model({ia, ib}, nn::Dense(3, {.activation = "softmax"})(h), "penguin_classifier");
    fs::path saved = dir_ / name;
    model.save(saved, {.class_names = class_names});
    return saved;
  }
  fs::path rewrite(const fs::path& saved, const std::string& name, rewriting::TFLiteRewriterOptions options = {}) {
    auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "lite", options);
    rewriting::rewrite_saved_model(saved, dir_ / name, *rewriter, rewriting::ModelType::TFLITE_MODEL);
    return dir_ / name / "tflite";
  }
  std::map<std::string, nn::Tensor> inputs(int64_t rows, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0, 2);
    nn::Tensor a({rows, 1}), b({rows, 2});
    for (int64_t i = 0; i < a.size(); ++i) a[i] = d(rng);
    for (int64_t i = 0; i < b.size(); ++i) b[i] = d(rng);
    return {{"a", a}, {"b", b}};
  }
  // Runs a shell command; its stdout and stderr.
  std::string shell(const std::string& command, int* status = nullptr) {
    fs::path log = dir_ / "shell.log";
    int rc = std::system(fmt::format("{} > {} 2>&1", command, log.string()).c_str());
    if (status) *status = rc;
    else EXPECT_EQ(rc, 0) << command << "\n" << read_file(log);
    return read_file(log);
  }
  // Python's zipfile on the .tflite: the archive tests clean, labels.txt is stored, uncompressed;
  // prints the names, then labels.txt's local header offset, then labels.txt.
  std::string python_zip(const fs::path& model) {
    return shell(fmt::format(
        "python3 -c \"import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; "
        "i = z.getinfo('labels.txt'); assert i.compress_type == zipfile.ZIP_STORED; print(z.namelist()); print(i.header_offset); "
        "sys.stdout.flush(); sys.stdout.buffer.write(z.read('labels.txt'))\" {}",
        model.string()));
  }
};

std::string labels_text() { return "Adélie\nChinstrap\nGentoo penguin\n"; }

TEST_F(TfliteMetadataTest, ClassNamesTravelAsTfliteSupportMetadata) {
  fs::path saved = save_classifier("saved", kClasses);
  fs::path lite = rewrite(saved, "lite");
  std::string bytes = read_file(lite);

  // TFLITE_METADATA: a ModelMetadata flatbuffer (M001) the generated verifier accepts.
  const ::tflite::ModelMetadata* md = support_metadata(bytes);
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(md->name()->str(), "penguin_classifier");
  EXPECT_NE(md->description()->str().find("3 classes"), std::string::npos);
  EXPECT_EQ(md->version()->str(), "1");
  EXPECT_EQ(md->min_parser_version()->str(), "1.0.0");  // nothing newer than schema 1.0.0 is used
  ASSERT_EQ(md->subgraph_metadata()->size(), 1u);
  const auto* g = md->subgraph_metadata()->Get(0);
  // One TensorMetadata per input and output (the MetadataPopulator's rule).
  ASSERT_EQ(g->input_tensor_metadata()->size(), 2u);
  EXPECT_EQ(g->input_tensor_metadata()->Get(0)->name()->str(), "a");
  EXPECT_EQ(g->input_tensor_metadata()->Get(1)->name()->str(), "b");
  EXPECT_EQ(g->input_tensor_metadata()->Get(0)->content()->content_properties_type(), ::tflite::ContentProperties_FeatureProperties);
  EXPECT_EQ(g->input_tensor_metadata()->Get(0)->associated_files(), nullptr);
  EXPECT_EQ(g->input_process_units(), nullptr);
  ASSERT_EQ(g->output_tensor_metadata()->size(), 1u);
  const auto* out = g->output_tensor_metadata()->Get(0);
  EXPECT_EQ(out->name()->str(), "probability");
  EXPECT_EQ(out->description()->str(), "Probabilities of the labels respectively.");
  EXPECT_EQ(out->content()->content_properties_type(), ::tflite::ContentProperties_FeatureProperties);
  ASSERT_NE(out->stats(), nullptr);
  EXPECT_EQ(std::vector<float>(out->stats()->min()->begin(), out->stats()->min()->end()), std::vector<float>{0.0f});
  EXPECT_EQ(std::vector<float>(out->stats()->max()->begin(), out->stats()->max()->end()), std::vector<float>{1.0f});
  ASSERT_EQ(out->associated_files()->size(), 1u);
  const auto* labels = out->associated_files()->Get(0);
  EXPECT_EQ(labels->name()->str(), "labels.txt");
  EXPECT_EQ(labels->type(), ::tflite::AssociatedFileType_TENSOR_AXIS_LABELS);
  EXPECT_EQ(labels->description()->str(), "Labels for categories that the model can recognize.");
  EXPECT_EQ(labels->locale(), nullptr);
  EXPECT_EQ(labels->version(), nullptr);  // would need parser 1.4.1

  // The file is a valid zip archive (Python's zipfile), labels.txt stored after the flatbuffer.
  std::string zip = python_zip(lite);
  EXPECT_EQ(zip.substr(0, zip.find('\n')), "['labels.txt']");
  std::string rest = zip.substr(zip.find('\n') + 1);
  size_t header_offset = std::stoul(rest.substr(0, rest.find('\n')));
  EXPECT_EQ(rest.substr(rest.find('\n') + 1), labels_text());
  EXPECT_EQ(bytes.substr(header_offset, 4), std::string("PK\x03\x04", 4));
  EXPECT_GT(header_offset, bytes.size() - 200);  // the archive is the tail of the file

  // litepipe's interpreter loads the whole file and reads the metadata back.
  auto interpreter = tfl::Interpreter::from_file(lite);
  EXPECT_EQ(interpreter->model_bytes(), bytes.size());
  EXPECT_FALSE(interpreter->metadata().at("min_runtime_version").empty());
  EXPECT_TRUE(interpreter->metadata().count("TFLITE_METADATA"));
  auto info = interpreter->model_metadata();
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->name, "penguin_classifier");
  EXPECT_EQ(info->min_parser_version, "1.0.0");
  ASSERT_EQ(info->inputs.size(), 2u);
  ASSERT_EQ(info->outputs.size(), 1u);
  EXPECT_EQ(info->outputs[0].content, "FeatureProperties");
  ASSERT_EQ(info->outputs[0].associated_files.size(), 1u);
  EXPECT_EQ(info->outputs[0].associated_files[0].type, "TENSOR_AXIS_LABELS");
  EXPECT_EQ(interpreter->associated_files(), (std::map<std::string, std::string>{{"labels.txt", labels_text()}}));
  EXPECT_EQ(interpreter->output_labels(0), kClasses);
  EXPECT_TRUE(interpreter->output_labels(1).empty());

  // It runs as the ONNX model does, and so does the real TensorFlow Lite runtime.
  auto x = inputs(16);
  tfl::SignatureRunner runner(*interpreter, "serving_default");
  nn::Tensor got = runner.run(x).at("output_0");
  nn::Tensor expected = onnxio::OnnxRunner(saved / onnxio::kModelFileName).run(x).begin()->second;
  ASSERT_EQ(got.size(), expected.size());
  for (int64_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-5);
  std::string nodes;
  nn::Tensor real = testing::run_real_tflite(lite, {{"serving_default_a:0", x.at("a")}, {"serving_default_b:0", x.at("b")}}, dir_, &nodes);
  ASSERT_EQ(real.size(), got.size()) << nodes;
  for (int64_t i = 0; i < got.size(); ++i) EXPECT_NEAR(real[i], got[i], 1e-5);
}

TEST_F(TfliteMetadataTest, PredictAndInspectShowTheClassNames) {
  fs::path saved = save_classifier("saved", kClasses);
  rewrite(saved, "lite");
  auto x = inputs(5, 2);
  json in = json::object();
  for (const auto& [name, t] : x) {
    in[name] = {{"shape", t.shape()}, {"data", json::array()}};
    for (int64_t i = 0; i < t.size(); ++i) in[name]["data"].push_back(t[i]);
  }
  write_json_file_atomic(dir_ / "in.json", in);
  for (const auto& [model, output] : {std::pair{dir_ / "lite", "StatefulPartitionedCall:0"}, std::pair{saved, "output_0"}}) {
    std::string text = shell(fmt::format("{} predict --model {} --input {} --output {}", LITEPIPE_BINARY, model.string(),
                                         (dir_ / "in.json").string(), (dir_ / "out.json").string()));
    json out = read_json_file(dir_ / "out.json");
    ASSERT_TRUE(out.contains(output)) << out.dump();
    const json& o = out[output];
    EXPECT_EQ(o["class_names"], json(kClasses));
    ASSERT_EQ(o["predicted_class_id"].size(), 5u);
    std::set<std::string> seen;
    for (size_t r = 0; r < 5; ++r) {
      size_t best = 0;
      for (size_t c = 1; c < 3; ++c)
        if (o["data"][r * 3 + c].get<double>() > o["data"][r * 3 + best].get<double>()) best = c;
      EXPECT_EQ(o["predicted_class_id"][r], best);
      EXPECT_EQ(o["predicted_class_name"][r], kClasses[best]);
      seen.insert(kClasses[best]);
      EXPECT_NE(text.find(fmt::format("{} example {}: class {} '{}'", output, r, best, kClasses[best])), std::string::npos) << text;
    }
  }

  std::string inspect = shell(fmt::format("{} tflite inspect {}", LITEPIPE_BINARY, (dir_ / "lite").string()));
  for (const char* expected : {"metadata min_runtime_version:", "metadata TFLITE_METADATA: model 'penguin_classifier' version 1, min_parser_version 1.0.0",
                               "output 0 'probability' FeatureProperties: Probabilities of the labels respectively.",
                               "associated file labels.txt (TENSOR_AXIS_LABELS): Labels for categories",
                               "labels of output 0 (3): Adélie, Chinstrap, Gentoo penguin", "associated file labels.txt: 33 B"}) {
    EXPECT_NE(inspect.find(expected), std::string::npos) << expected << "\n" << inspect;
  }

  // Without class names: no metadata, no archive, no class fields.
  fs::path plain = save_classifier("plain", {});
  fs::path plain_lite = rewrite(plain, "plain_lite");
  EXPECT_EQ(support_metadata(read_file(plain_lite)), nullptr);
  auto interpreter = tfl::Interpreter::from_file(plain_lite);
  EXPECT_FALSE(interpreter->model_metadata().has_value());
  EXPECT_TRUE(interpreter->associated_files().empty());
  EXPECT_TRUE(interpreter->output_labels(0).empty());
  std::string text = shell(fmt::format("{} predict --model {} --input {} --output {}", LITEPIPE_BINARY, (dir_ / "plain_lite").string(),
                                       (dir_ / "in.json").string(), (dir_ / "plain.json").string()));
  EXPECT_EQ(text.find("example"), std::string::npos) << text;
  EXPECT_FALSE(read_json_file(dir_ / "plain.json")["StatefulPartitionedCall:0"].contains("class_names"));
  EXPECT_EQ(shell(fmt::format("{} tflite inspect {}", LITEPIPE_BINARY, plain_lite.string())).find("TFLITE_METADATA"), std::string::npos);
}

TEST_F(TfliteMetadataTest, QuantizedRewritesKeepTheLabels) {
  fs::path saved = save_classifier("saved", kClasses);
  auto representative = inputs(200, 3);
  struct Case {
    std::string name;
    rewriting::TFLiteRewriterOptions options;
    bool real_runtime;
  };
  std::vector<Case> cases = {
      {"float16", {.quantization_optimizations = {"DEFAULT"}, .quantization_supported_types = {"float16"}}, true},
      {"dynamic_range", {.quantization_optimizations = {"DEFAULT"}}, true},
      {"int8", {.quantization_optimizations = {"DEFAULT"}, .quantization_enable_full_integer = true,
                .representative_dataset = [&] { return std::vector<tfl::RepresentativeBatch>{representative}; }}, true},
      {"int8_io", {.quantization_optimizations = {"DEFAULT"}, .quantization_enable_full_integer = true,
                   .representative_dataset = [&] { return std::vector<tfl::RepresentativeBatch>{representative}; },
                   .quantization_int8_input_output = true}, false},
  };
  auto x = inputs(8, 4);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    fs::path lite = rewrite(saved, c.name, c.options);
    std::string bytes = read_file(lite);
    auto interpreter = tfl::Interpreter::from_file(lite);
    // The rewrite did quantize.
    std::set<std::string> types;
    for (size_t i = 0; i < interpreter->tensor_count(); ++i) types.insert(tfl::dtype_name(interpreter->tensor(static_cast<int>(i)).type));
    EXPECT_TRUE(types.count(c.name == "float16" ? "float16" : "int8")) << fmt::format("{}", fmt::join(types, ", "));
    // ... and kept the metadata and the archive.
    ASSERT_NE(support_metadata(bytes), nullptr);
    EXPECT_EQ(interpreter->output_labels(0), kClasses);
    auto info = interpreter->model_metadata();
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->inputs.size(), 2u);
    // ClassificationTensorMd's stats: [0, 1] for a float32 output, none for an int8 one.
    EXPECT_EQ(info->outputs.at(0).max, c.name == "int8_io" ? std::vector<float>{} : std::vector<float>{1.0f});
    std::string zip = python_zip(lite);
    EXPECT_NE(zip.find(labels_text()), std::string::npos) << zip;
    if (!c.real_runtime) continue;
    tfl::SignatureRunner runner(*interpreter, "serving_default");
    nn::Tensor got = runner.run(x).at("output_0");
    std::string nodes;
    nn::Tensor real = testing::run_real_tflite(lite, {{"serving_default_a:0", x.at("a")}, {"serving_default_b:0", x.at("b")}}, dir_, &nodes);
    ASSERT_EQ(real.size(), got.size()) << nodes;
    for (int64_t i = 0; i < got.size(); ++i) EXPECT_NEAR(real[i], got[i], 1e-5) << nodes;
  }
}

TEST_F(TfliteMetadataTest, LoaderAcceptsTrailingBytesAndReportsCorruptMetadata) {
  fs::path lite = rewrite(save_classifier("saved", kClasses), "lite");
  std::string bytes = read_file(lite);
  auto x = inputs(4);
  auto run = [&](const std::string& model) {
    tfl::Interpreter interpreter(model, "model");
    tfl::SignatureRunner runner(interpreter, "serving_default");
    return runner.run(x).at("output_0");
  };
  nn::Tensor expected = run(bytes);
  auto same = [&](const nn::Tensor& t) {
    ASSERT_EQ(t.size(), expected.size());
    for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i], expected[i]);
  };
  // As TFLite: the flatbuffer is verified over the whole buffer, trailing bytes never read.
  same(run(bytes + std::string(1000, '\x5a')));

  // The flatbuffer alone: metadata, but the label file it names is missing.
  std::string zip = python_zip(lite);
  std::string rest = zip.substr(zip.find('\n') + 1);
  std::string flatbuffer = bytes.substr(0, std::stoul(rest.substr(0, rest.find('\n'))));
  same(run(flatbuffer));
  tfl::Interpreter alone(flatbuffer, "alone.tflite");
  EXPECT_TRUE(alone.model_metadata().has_value());
  EXPECT_TRUE(alone.associated_files().empty());
  expect_error([&] { alone.output_labels(0); }, {"alone.tflite", "labels.txt", "does not carry"});

  // A damaged label file: the model still runs, reading the labels fails on the CRC.
  std::string damaged = bytes;
  size_t at = damaged.rfind("Chinstrap");
  ASSERT_GT(at, flatbuffer.size());
  damaged[at] = 'X';
  same(run(damaged));
  tfl::Interpreter bad_zip(damaged, "damaged.tflite");
  expect_error([&] { bad_zip.associated_files(); }, {"damaged.tflite", "labels.txt", "corrupt"});

  // TFLITE_METADATA without the M001 identifier.
  std::string wrong_id = bytes;
  at = wrong_id.find("M001");
  ASSERT_LT(at, flatbuffer.size());
  wrong_id[at + 3] = '2';
  same(run(wrong_id));
  tfl::Interpreter bad_metadata(wrong_id, "wrong_id.tflite");
  expect_error([&] { bad_metadata.model_metadata(); }, {"wrong_id.tflite", "TFLITE_METADATA", "M001"});
}

TEST_F(TfliteMetadataTest, ConversionChecksTheClassNames) {
  EXPECT_STREQ(tfl::kOnnxClassNamesKey, nn::kClassNamesMetadataKey);
  fs::path saved = save_classifier("saved", kClasses);
  onnx::ModelProto proto = onnxio::load_model(saved / onnxio::kModelFileName);
  auto set_names = [&](const std::string& value) {
    for (auto& p : *proto.mutable_metadata_props())
      if (p.key() == tfl::kOnnxClassNamesKey) p.set_value(value);
  };
  set_names(R"({"0": "x"})");
  expect_error([&] { tfl::convert_onnx_to_tflite(proto, {}, "m.onnx"); }, {"m.onnx", "litepipe.class_names", "JSON array of strings"});
  set_names(R"(["x", "y"])");
  expect_error([&] { tfl::convert_onnx_to_tflite(proto, {}, "m.onnx"); }, {"m.onnx", "2 class names", "no output has 2 values"});
  set_names(R"(["x", "two\nlines", "z"])");
  expect_error([&] { tfl::convert_onnx_to_tflite(proto, {}, "m.onnx"); }, {"m.onnx", "line break", "labels.txt"});
  set_names(R"(["x", "y", "z"])");
  std::string model = tfl::convert_onnx_to_tflite(proto, {}, "m.onnx");
  EXPECT_EQ(tfl::read_output_labels(model, 0, "m"), (std::vector<std::string>{"x", "y", "z"}));
  // Converting twice gives the same bytes (the archive's date is fixed).
  EXPECT_EQ(tfl::convert_onnx_to_tflite(proto, {}, "m.onnx"), model);
}

TEST_F(TfliteMetadataTest, PopulatorRulesFollowTfliteSupport) {
  fs::path lite = rewrite(save_classifier("saved", kClasses), "lite");
  std::string bytes = read_file(lite);
  std::unique_ptr<::tflite::ModelMetadataT> md(support_metadata(bytes)->UnPack());
  auto pack = [](const ::tflite::ModelMetadataT& m) {
    flatbuffers::FlatBufferBuilder fbb;
    ::tflite::FinishModelMetadataBuffer(fbb, ::tflite::ModelMetadata::Pack(fbb, &m));
    return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  };
  auto version_with = [&](const std::function<void(::tflite::ModelMetadataT&)>& change) {
    std::unique_ptr<::tflite::ModelMetadataT> m(support_metadata(bytes)->UnPack());
    change(*m);
    return tfl::min_metadata_parser_version(pack(*m));
  };
  // metadata_version.cc: 1.0.0 unless a member added later is used.
  EXPECT_EQ(version_with([](auto&) {}), "1.0.0");
  EXPECT_EQ(version_with([](auto& m) { m.subgraph_metadata[0]->output_tensor_metadata[0]->associated_files[0]->type = ::tflite::AssociatedFileType_VOCABULARY; }), "1.0.1");
  EXPECT_EQ(version_with([](auto& m) {
              auto unit = std::make_unique<::tflite::ProcessUnitT>();
              unit->options.Set(::tflite::NormalizationOptionsT{});
              m.subgraph_metadata[0]->input_process_units.push_back(std::move(unit));
            }), "1.1.0");
  EXPECT_EQ(version_with([](auto& m) { m.subgraph_metadata[0]->output_tensor_groups.push_back(std::make_unique<::tflite::TensorGroupT>()); }), "1.2.0");
  EXPECT_EQ(version_with([](auto& m) { m.subgraph_metadata[0]->input_tensor_metadata[0]->content->content_properties.Set(::tflite::AudioPropertiesT{}); }), "1.3.0");
  EXPECT_EQ(version_with([](auto& m) { m.subgraph_metadata[0]->output_tensor_metadata[0]->associated_files[0]->version = std::string(1, '2'); }), "1.4.1");
  EXPECT_EQ(version_with([](auto& m) { m.subgraph_metadata[0]->custom_metadata.push_back(std::make_unique<::tflite::CustomMetadataT>()); }), "1.5.0");

  // The populator writes min_parser_version itself, keeps packed files, and checks as TFLite
  // Support's does.
  md->min_parser_version = "0.0.1";
  md->description = "replaced";
  std::string repopulated = tfl::populate_metadata(bytes, pack(*md), {{"readme.txt", "hello"}}, "m");
  auto info = tfl::read_model_metadata(repopulated, "m");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->description, "replaced");
  EXPECT_EQ(info->min_parser_version, "1.0.0");
  EXPECT_EQ(tfl::read_associated_files(repopulated, "m"),
            (std::map<std::string, std::string>{{"labels.txt", labels_text()}, {"readme.txt", "hello"}}));
  EXPECT_EQ(tfl::read_output_labels(repopulated, 0, "m"), kClasses);
  tfl::Interpreter reloaded(repopulated, "m");
  EXPECT_EQ(reloaded.model_metadata()->name, "penguin_classifier");
  md->subgraph_metadata[0]->output_tensor_metadata[0]->associated_files[0]->name = "missing.txt";
  expect_error([&] { tfl::populate_metadata(bytes, pack(*md), {}, "m"); }, {"'missing.txt' is recorded in the metadata"});
  md->subgraph_metadata[0]->input_tensor_metadata.pop_back();
  expect_error([&] { tfl::populate_metadata(bytes, pack(*md), {}, "m"); }, {"2 inputs", "describes 1"});
}

// The TFLite Task Library (its ImageClassifier, compiled into the same WebAssembly build as the
// runtime) reads the labels from the model: the class names it reports are those of labels.txt.
// The Task Library's image classifier wants ImageProperties and NormalizationOptions on its input,
// which the test adds with populate_metadata, as the image classifier metadata writer would.
constexpr const char* kTaskLibraryScript = R"js(
'use strict';
const fs = require('fs');
const path = require('path');
async function main() {
  const [wasmDir, modelPath, width, height, pixelsPath] = process.argv.slice(2);
  const factory = require(path.join(wasmDir, 'tflite_web_api_cc.js'));
  const M = await factory({ wasmBinary: fs.readFileSync(path.join(wasmDir, 'tflite_web_api_cc.wasm')), print: () => {}, printErr: () => {} });
  const model = fs.readFileSync(modelPath);
  const modelPointer = M._malloc(model.length);
  M.HEAPU8.set(model, modelPointer);
  const options = new M.ImageClassifierOptionsCppProto();
  options.initFromJsProto({ serializeBinary: () => new Uint8Array([]) });  // default options: every class
  const created = M.ImageClassifier.CreateFromOptions(modelPointer, model.length, options);
  if (!created.ok()) throw new Error(created.errorMessage());
  const rgba = fs.readFileSync(pixelsPath);
  const pixels = M._malloc(rgba.length);
  M.HEAPU8.set(rgba, pixels);
  const result = created.value().Classify(pixels, Number(width), Number(height));
  if (!result.ok()) throw new Error(result.errorMessage());
  // ClassificationResult {1: Classifications {1: Class {1: index, 2: score, 3: display_name, 4: class_name}}}
  const bytes = new Uint8Array(result.value().toArrayBuffer());
  function fields(buf) {
    const out = [];
    let i = 0;
    const varint = () => { let v = 0, shift = 0, b; do { b = buf[i++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80); return v; };
    while (i < buf.length) {
      const key = varint(), field = Math.floor(key / 8), type = key & 7;
      if (type === 0) out.push([field, varint()]);
      else if (type === 5) { out.push([field, new DataView(buf.buffer, buf.byteOffset + i, 4).getFloat32(0, true)]); i += 4; }
      else if (type === 2) { const n = varint(); out.push([field, buf.subarray(i, i + n)]); i += n; }
      else throw new Error('unexpected wire type ' + type);
    }
    return out;
  }
  const classes = [];
  for (const [f, head] of fields(bytes)) {
    if (f !== 1) continue;
    for (const [g, c] of fields(head)) {
      if (g !== 1) continue;
      const entry = { index: 0, score: 0, class_name: '' };
      for (const [h, v] of fields(c)) {
        if (h === 1) entry.index = v;
        if (h === 2) entry.score = v;
        if (h === 4) entry.class_name = Buffer.from(v).toString('utf8');
      }
      classes.push(entry);
    }
  }
  console.log(JSON.stringify(classes));
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
)js";

TEST_F(TfliteMetadataTest, TaskLibraryImageClassifierReadsTheLabels) {
  nn::set_random_seed(7);
  auto image = nn::Input({2, 2, 3}, "image");
  nn::Model model({image}, nn::Dense(3, {.activation = "softmax"})(nn::Flatten()(image)), "tiny_image_classifier");
  model.save(dir_ / "saved", {.class_names = kClasses});
  fs::path lite = rewrite(dir_ / "saved", "lite");
  // What the image classifier writer puts on the input: RGB image, normalized (x - 0) / 255.
  std::string bytes = read_file(lite);
  std::unique_ptr<::tflite::ModelMetadataT> md(support_metadata(bytes)->UnPack());
  auto& input = *md->subgraph_metadata.at(0)->input_tensor_metadata.at(0);
  ::tflite::ImagePropertiesT properties;
  properties.color_space = ::tflite::ColorSpaceType_RGB;
  input.content->content_properties.Set(properties);
  auto normalization = std::make_unique<::tflite::ProcessUnitT>();
  ::tflite::NormalizationOptionsT norm;
  norm.mean = {0.0f};
  norm.std = {255.0f};
  normalization->options.Set(norm);
  input.process_units.push_back(std::move(normalization));
  flatbuffers::FlatBufferBuilder fbb;
  ::tflite::FinishModelMetadataBuffer(fbb, ::tflite::ModelMetadata::Pack(fbb, md.get()));
  std::string image_model = tfl::populate_metadata(bytes, std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()), {}, "m");
  write_file_atomic(dir_ / "image.tflite", image_model);

  // A 2x2 RGBA image; litepipe runs the same normalized RGB values.
  const std::vector<uint8_t> rgba = {200, 10, 30, 255, 5, 250, 60, 255, 90, 90, 240, 255, 17, 180, 3, 255};
  write_file_atomic(dir_ / "pixels.rgba", std::string(rgba.begin(), rgba.end()));
  nn::Tensor x({1, 2, 2, 3});
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 3; ++c) x[p * 3 + c] = rgba[static_cast<size_t>(p * 4 + c)] / 255.0f;
  tfl::Interpreter interpreter(image_model, "image.tflite");
  tfl::SignatureRunner runner(interpreter, "serving_default");
  nn::Tensor expected = runner.run({{"image", x}}).at("output_0");

  write_file_atomic(dir_ / "task.js", kTaskLibraryScript);
  fs::path wasm = testing::source_dir() / "third_party/npm/node_modules/@tensorflow/tfjs-tflite/wasm";
  int status = 0;
  std::string out = shell(fmt::format("node {} {} {} 2 2 {}", (dir_ / "task.js").string(), wasm.string(), (dir_ / "image.tflite").string(),
                                      (dir_ / "pixels.rgba").string()), &status);
  ASSERT_EQ(status, 0) << out;
  json classes = json::parse(out.substr(out.find('[')));
  ASSERT_EQ(classes.size(), 3u) << out;  // sorted by score
  std::set<std::string> names;
  for (const auto& c : classes) {
    size_t index = c["index"];
    ASSERT_LT(index, 3u);
    EXPECT_EQ(c["class_name"], kClasses[index]) << out;
    EXPECT_NEAR(c["score"].get<double>(), expected[static_cast<int64_t>(index)], 1e-5) << out;
    names.insert(c["class_name"].get<std::string>());
  }
  EXPECT_EQ(names.size(), 3u);
}

}  // namespace
}  // namespace litepipe
