// litepipe's TensorFlow Lite runtime against hostile models: small models converted from
// nn::Models, then mutated (flatbuffers object API, raw byte edits) the way the mutation run
// (bench/tflite_mutants.cpp) found crashes, undefined behaviour and memory errors. Each mutant must
// be rejected with a litepipe::Error naming the tensor or operator and what was expected — by
// the model check when it is loaded, or by a kernel's Prepare — or run as TFLite would.
#include <omp.h>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <random>

#include <fmt/format.h>

#include "cli/model_commands.h"
#include "nn/layers.h"
#include "nn/model.h"
#include "onnx/graph_builder.h"
#include "onnx/onnx_model.h"
#include "test_helpers.h"
#include "tflite/converter.h"
#include "tflite/interpreter.h"
#include "tflite/runtime/kernels/gemm.h"
#include "tflite_subset_generated.h"

namespace litepipe {
namespace {

using testing::expect_error;
namespace fs = std::filesystem;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

class TfliteRuntimeTest : public testing::TempDirTest {
 protected:
  // An MLP (input "image_floats" [batch, 8] -> Dense(6, relu) -> Dense(3, softmax)) or a CNN
  // ([batch, 36] -> Reshape(6, 6, 1) -> Conv2D(2, 3x3, relu) -> MaxPooling2D -> Flatten ->
  // Dense(3, softmax)) converted to float32 or full-integer int8 TFLite.
  std::string model(bool cnn, bool int8) {
    static std::map<std::pair<bool, bool>, std::string> cache;
    auto key = std::make_pair(cnn, int8);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    nn::set_random_seed(cnn ? 4 : 3);
    const int64_t width = cnn ? 36 : 8;
    auto input = nn::Input({width}, "image_floats");
    nn::NodeRef out;
    if (cnn) {
      auto x = nn::Conv2D(2, {3, 3}, {.activation = "relu"})(nn::Reshape({6, 6, 1})(input));
      out = nn::Dense(3, {.activation = "softmax"})(nn::Flatten()(nn::MaxPooling2D()(x)));
    } else {
      out = nn::Dense(3, {.activation = "softmax"})(nn::Dense(6, {.activation = "relu"})(input));
    }
    nn::Model m({input}, out);
    const fs::path dir = dir_ / (cnn ? "cnn" : "mlp");
    m.save(dir);
    tfl::ConverterOptions options;
    if (int8) {
      options.full_integer = true;
      options.representative_dataset = {{{"image_floats", sample(32, width, 1)}}};
    }
    return cache[key] = tfl::convert_onnx_to_tflite(onnxio::load_model(dir / onnxio::kModelFileName), options, "model.onnx");
  }

  static nn::Tensor sample(int64_t rows, int64_t width, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    nn::Tensor t({rows, width});
    for (int64_t i = 0; i < t.size(); ++i) t[i] = d(rng);
    return t;
  }

  // `bytes` after `edit` of its object-API form.
  static std::string edit(const std::string& bytes, const std::function<void(::tflite::ModelT&)>& edit) {
    auto m = ::tflite::UnPackModel(bytes.data());
    edit(*m);
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(::tflite::Model::Pack(fbb, m.get()), ::tflite::ModelIdentifier());
    return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  }

  // The `nth` operator with builtin `code`.
  static ::tflite::OperatorT& op(::tflite::ModelT& m, ::tflite::BuiltinOperator code, int nth = 0) {
    for (auto& o : m.subgraphs[0]->operators)
      if (m.operator_codes[o->opcode_index]->builtin_code == code && nth-- == 0) return *o;
    throw std::runtime_error(fmt::format("no operator {}", ::tflite::EnumNameBuiltinOperator(code)));
  }
  static ::tflite::TensorT& tensor(::tflite::ModelT& m, int32_t index) { return *m.subgraphs[0]->tensors.at(static_cast<size_t>(index)); }
  static int32_t add_tensor(::tflite::ModelT& m, const std::string& name, std::vector<int32_t> shape, ::tflite::TensorType type = ::tflite::TensorType_FLOAT32) {
    auto t = std::make_unique<::tflite::TensorT>();
    t->name = name;
    t->shape = std::move(shape);
    t->type = type;
    m.subgraphs[0]->tensors.push_back(std::move(t));
    return static_cast<int32_t>(m.subgraphs[0]->tensors.size() - 1);
  }

  // Loads `bytes`, then runs it through the interpreter and its signature on a batch of two.
  static std::map<std::string, nn::Tensor> run(const std::string& bytes, int64_t width) {
    tfl::Interpreter interpreter(bytes, "mutant.tflite");
    interpreter.allocate_tensors();
    interpreter.invoke();
    tfl::SignatureRunner runner(interpreter, "serving_default");
    return runner.run({{"image_floats", sample(2, width, 7)}});
  }
  static void load(const std::string& bytes) { tfl::Interpreter interpreter(bytes, "mutant.tflite"); }
};

// ---- defect 1: the float FULLY_CONNECTED wrote past its arena slot (its tensors' shapes and
// types were trusted: the bias rows were copied into an output whose slot was sized for another
// type, shape or tensor) -----------------------------------------------------------------------

TEST_F(TfliteRuntimeTest, FullyConnectedChecksItsTensorsBeforeWritingItsOutput) {
  const std::string mlp = model(false, false);
  EXPECT_EQ(run(mlp, 8).at("output_0").size(), 6);
  // Weights [6, 8] stored as [2, 24] (the same bytes): the input's 8 values are no multiple of 24.
  expect_error([&] { run(edit(mlp, [](auto& m) { tensor(m, op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).inputs[1]).shape = {2, 24}; }), 8); },
               {"mutant.tflite", "operator 0 (FULLY_CONNECTED)", "not a multiple of the weights' depth 24"});
  // ... as [12, 4]: 12 units, but the bias has 6 values.
  expect_error([&] { run(edit(mlp, [](auto& m) { tensor(m, op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).inputs[1]).shape = {12, 4}; }), 8); },
               {"FULLY_CONNECTED", "bias", "has 6 values", "have 12 units"});
  // The output declared int8: its slot would hold a quarter of the floats written.
  expect_error([&] { load(edit(mlp, [](auto& m) { tensor(m, op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).outputs[0]).type = ::tflite::TensorType_INT8; })); },
               {"mutant.tflite", "operator 0 (FULLY_CONNECTED)", "output", "is int8, expected float32"});
  // The output is a constant (the second layer's bias, 3 floats in the file).
  expect_error([&] {
    load(edit(mlp, [](auto& m) { op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).outputs[0] = op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED, 1).inputs[2]; }));
  }, {"mutant.tflite", "operator 0 (FULLY_CONNECTED) writes tensor", "which is a constant"});
  // Both layers write the same tensor (slots planned for one shape, written with two).
  expect_error([&] {
    load(edit(mlp, [](auto& m) { op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).outputs[0] = op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED, 1).outputs[0]; }));
  }, {"mutant.tflite", "operators 0 and 1 both write tensor"});
  // The output is the subgraph input.
  expect_error([&] { load(edit(mlp, [](auto& m) { op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).outputs[0] = m.subgraphs[0]->inputs[0]; })); },
               {"writes tensor 'serving_default_image_floats:0', which is a subgraph input"});
  // The bias of the other layer (3 values for 6 units).
  expect_error([&] {
    run(edit(mlp, [](auto& m) { op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).inputs[2] = op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED, 1).inputs[2]; }), 8);
  }, {"operator 0 (FULLY_CONNECTED)", "bias", "has 3 values", "have 6 units"});
  // Weights whose shape disagrees with their buffer.
  expect_error([&] { load(edit(mlp, [](auto& m) { tensor(m, op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).inputs[1]).shape = {6, 9}; })); },
               {"mutant.tflite", "constant tensor", "holds 192 bytes, expected 216"});
}

// ---- defect 2: absent builtin options were dereferenced --------------------------------------

TEST_F(TfliteRuntimeTest, AbsentOptionsAreTflitesDefaults) {
  const std::string mlp = model(false, false);
  const nn::Tensor expected = run(mlp, 8).at("output_0");
  // The second FULLY_CONNECTED has no fused activation: without options it computes the same.
  const std::string no_options = edit(mlp, [](auto& m) { op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED, 1).builtin_options.Reset(); });
  const nn::Tensor same = run(no_options, 8).at("output_0");
  for (int64_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(same[i], expected[i]);
  // Options of another op's type are absent options too.
  run(edit(mlp, [](auto& m) { op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).builtin_options.Set(::tflite::Pool2DOptionsT{}); }), 8);
  // SOFTMAX without options has beta 0, as TFLite's zero-initialized parameters: uniform.
  const nn::Tensor uniform = run(edit(mlp, [](auto& m) { op(m, ::tflite::BuiltinOperator_SOFTMAX).builtin_options.Reset(); }), 8).at("output_0");
  for (int64_t i = 0; i < uniform.size(); ++i) EXPECT_FLOAT_EQ(uniform[i], 1.0f / 3);
  // int8 FULLY_CONNECTED without options.
  const std::string int8 = model(false, true);
  run(edit(int8, [](auto& m) { op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED, 1).builtin_options.Reset(); }), 8);
  // Pooling and convolution without options have TFLite's zero strides: an Error at load.
  for (bool quantized : {false, true}) {
    const std::string cnn = model(true, quantized);
    run(cnn, 36);
    expect_error([&] { load(edit(cnn, [](auto& m) { op(m, ::tflite::BuiltinOperator_MAX_POOL_2D).builtin_options.Reset(); })); },
                 {"mutant.tflite", "(MAX_POOL_2D)", "stride_h is 0, expected at least 1"});
    expect_error([&] { load(edit(cnn, [](auto& m) { op(m, ::tflite::BuiltinOperator_CONV_2D).builtin_options.Reset(); })); },
                 {"mutant.tflite", "(CONV_2D)", "stride_h is 0, expected at least 1"});
  }
  // Values TFLite does not know are errors, not table lookups.
  expect_error([&] {
    load(edit(model(true, false), [](auto& m) { op(m, ::tflite::BuiltinOperator_MAX_POOL_2D).builtin_options.AsPool2DOptions()->padding = static_cast<::tflite::Padding>(7); }));
  }, {"(MAX_POOL_2D)", "padding 7 is neither SAME (0) nor VALID (1)"});
  expect_error([&] {
    load(edit(mlp, [](auto& m) {
      op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).builtin_options.AsFullyConnectedOptions()->fused_activation_function = static_cast<::tflite::ActivationFunctionType>(9);
    }));
  }, {"(FULLY_CONNECTED)", "fused activation 9"});
}

// ---- defect 3: metadata and signatures referring to what does not exist ----------------------

TEST_F(TfliteRuntimeTest, MetadataAndSignaturesMustReferToWhatExists) {
  const std::string mlp = model(false, false);
  {
    tfl::Interpreter interpreter(mlp, "model.tflite");
    EXPECT_FALSE(interpreter.metadata().at("min_runtime_version").empty());
  }
  expect_error([&] { load(edit(mlp, [](auto& m) { m.metadata[0]->buffer = 999; })); },
               {"mutant.tflite", "metadata 'min_runtime_version' refers to buffer 999; the model has"});
  // A TensorMap without a name (the object API writes an empty string as an absent field: null).
  const std::string nameless = edit(mlp, [](auto& m) { m.signature_defs[0]->inputs[0]->name.clear(); });
  ASSERT_EQ(::tflite::GetModel(nameless.data())->signature_defs()->Get(0)->inputs()->Get(0)->name(), nullptr);
  expect_error([&] { load(nameless); }, {"mutant.tflite", "signature 'serving_default' input 0 has no name"});
  expect_error([&] { load(edit(mlp, [](auto& m) { m.signature_defs[0]->inputs[0]->tensor_index = 999; })); },
               {"signature 'serving_default' input 'image_floats' refers to tensor 999; the model has"});
  expect_error([&] { load(edit(mlp, [](auto& m) { m.signature_defs[0]->outputs[0]->tensor_index = static_cast<uint32_t>(m.subgraphs[0]->inputs[0]); })); },
               {"signature 'serving_default' output 'output_0' is tensor", "which is not a subgraph output"});
  expect_error([&] { load(edit(mlp, [](auto& m) { m.signature_defs[0]->subgraph_index = 3; })); },
               {"signature 'serving_default' refers to subgraph 3"});
  // Names must be UTF-8 (they end up in JSON and messages).
  expect_error([&] { load(edit(mlp, [](auto& m) { m.subgraphs[0]->tensors[0]->name = "bad\xff"; })); }, {"tensor 0's name is not valid UTF-8"});
  // Tensor indices of the subgraph and of operators.
  expect_error([&] { load(edit(mlp, [](auto& m) { m.subgraphs[0]->outputs[0] = -3; })); }, {"a subgraph output refers to tensor -3"});
  expect_error([&] { load(edit(mlp, [](auto& m) { op(m, ::tflite::BuiltinOperator_SOFTMAX).inputs[0] = 1 << 30; })); },
               {"operator 2 (SOFTMAX)'s input refers to tensor 1073741824"});
  expect_error([&] { load(edit(mlp, [](auto& m) { m.subgraphs[0]->tensors[1]->buffer = 12345; })); }, {"refers to buffer 12345; the model has"});
}

// ---- defect 4: tensors without data were read (pooling, softmax, reshape, the CLI's output) ---

TEST_F(TfliteRuntimeTest, EveryTensorReadHasBeenComputed) {
  const std::string cnn = model(true, false);
  // An input no operator computes, for each kind of reader.
  for (auto code : {::tflite::BuiltinOperator_MAX_POOL_2D, ::tflite::BuiltinOperator_SOFTMAX, ::tflite::BuiltinOperator_RESHAPE}) {
    SCOPED_TRACE(::tflite::EnumNameBuiltinOperator(code));
    expect_error([&] { load(edit(cnn, [&](auto& m) { op(m, code).inputs[0] = add_tensor(m, "orphan", {1, 6, 6, 2}); })); },
                 {"mutant.tflite", fmt::format("({}) reads tensor 'orphan', which is neither a constant, a subgraph input nor any operator's output",
                                               ::tflite::EnumNameBuiltinOperator(code))});
  }
  // A subgraph output no operator computes: `tflite inspect` and `predict` print outputs.
  const std::string dangling = edit(cnn, [](auto& m) { m.subgraphs[0]->outputs[0] = add_tensor(m, "never", {1, 3}); });
  expect_error([&] { load(dangling); }, {"subgraph output 'never' is never computed"});
  write_file_atomic(dir_ / "dangling.tflite", dangling);
  std::ostringstream text;
  expect_error([&] { tflite_inspect((dir_ / "dangling.tflite").string(), text); }, {"dangling.tflite", "'never' is never computed"});
  // Operators out of execution order, and a cycle.
  expect_error([&] { load(edit(cnn, [](auto& m) { std::swap(m.subgraphs[0]->operators[1], m.subgraphs[0]->operators[2]); })); },
               {"reads tensor", "writes later: the graph has a cycle or is out of execution order"});
  expect_error([&] {
    load(edit(cnn, [](auto& m) { op(m, ::tflite::BuiltinOperator_CONV_2D).inputs[0] = op(m, ::tflite::BuiltinOperator_SOFTMAX).outputs[0]; }));
  }, {"(CONV_2D) reads tensor", "writes later"});
  expect_error([&] { load(edit(cnn, [](auto& m) { op(m, ::tflite::BuiltinOperator_MAX_POOL_2D).inputs[0] = op(m, ::tflite::BuiltinOperator_MAX_POOL_2D).outputs[0]; })); },
               {"(MAX_POOL_2D) reads tensor", "writes itself"});
  // A model that loads but fails in Prepare: every later invoke fails the same way (no Eval runs
  // unprepared).
  tfl::Interpreter bad(edit(model(false, false), [](auto& m) { tensor(m, op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).inputs[1]).shape = {2, 24}; }),
                       "bad.tflite");
  for (int attempt = 0; attempt < 2; ++attempt) expect_error([&] { bad.invoke(); }, {"bad.tflite", "FULLY_CONNECTED"});
  tfl::SignatureRunner runner(bad, "serving_default");
  expect_error([&] { runner.run({{"image_floats", sample(1, 8, 1)}}); }, {"bad.tflite", "FULLY_CONNECTED"});
}

// ---- defect 5: the int8 softmax indexed its table out of bounds ------------------------------

// TFLite's int8 softmax of one row, exactly (table[255 - d] = exp(-scale * beta * d)).
std::vector<int8_t> reference_softmax(const std::vector<int8_t>& row, float input_scale) {
  float table[256];
  for (int v = 0; v <= 255; ++v) table[255 - v] = std::exp(-input_scale * static_cast<float>(v));
  int max_value = -128;
  for (int8_t v : row) max_value = std::max<int>(max_value, v);
  float sum = 0;
  for (int8_t v : row) sum += table[255 - (max_value - v)];
  const float inverse = 1.0f / (sum * (1.0f / 256));
  std::vector<int8_t> out;
  for (int8_t v : row) out.push_back(static_cast<int8_t>(std::clamp(static_cast<int>(std::round(table[255 - (max_value - v)] * inverse)) - 128, -128, 127)));
  return out;
}

TEST_F(TfliteRuntimeTest, Int8SoftmaxStaysInItsTableAndMatchesTflite) {
  // ONNX Softmax alone, converted to int8 with int8 input and output.
  onnx::ModelProto proto;
  proto.set_ir_version(7);
  proto.add_opset_import()->set_version(onnxio::kOpsetVersion);
  auto* graph = proto.mutable_graph();
  graph->set_name("softmax");
  for (auto* value : {graph->add_input(), graph->add_output()}) {
    value->set_name(value == &graph->input(0) ? "logits" : "probabilities");
    value->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    value->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("batch");
    value->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(4);
  }
  auto* node = graph->add_node();
  node->set_op_type("Softmax");
  node->set_name("softmax");
  node->add_input("logits");
  node->add_output("probabilities");
  nn::Tensor calibration = sample(16, 4, 2);
  for (int64_t i = 0; i < calibration.size(); ++i) calibration[i] *= 8;
  const std::string lite = tfl::convert_onnx_to_tflite(proto, {.full_integer = true, .int8_input_output = true, .representative_dataset = {{{"logits", calibration}}}},
                                                       "softmax.onnx");
  tfl::Interpreter interpreter(lite, "softmax.tflite");
  ASSERT_EQ(interpreter.nodes().size(), 1u);
  ASSERT_EQ(interpreter.nodes()[0].op_name, "SOFTMAX");
  // Rows whose maximum is -128 (the old code's &table[383]), negative, zero and positive.
  const std::vector<std::vector<int8_t>> rows = {{-128, -128, -128, -128}, {-128, -100, -120, -128}, {-5, -1, -3, -128}, {0, 0, 0, 0}, {127, -128, 5, 126}};
  interpreter.resize_input(0, {static_cast<int32_t>(rows.size()), 4});
  interpreter.allocate_tensors();
  tfl::Tensor& x = interpreter.tensor(interpreter.inputs()[0]);
  for (size_t r = 0; r < rows.size(); ++r) std::memcpy(x.as<int8_t>() + r * 4, rows[r].data(), 4);
  interpreter.invoke();
  const tfl::Tensor& y = interpreter.tensor(interpreter.outputs()[0]);
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<int8_t> expected = reference_softmax(rows[r], x.scale[0]);
    for (size_t k = 0; k < 4; ++k) EXPECT_EQ(y.as<int8_t>()[r * 4 + k], expected[k]) << "row " << r << " value " << k;
  }
  EXPECT_EQ(y.as<int8_t>()[0], 64 - 128);  // four equal values: 1/4 each
}

// ---- defect 6: negative shift exponents and signed overflow ----------------------------------

TEST_F(TfliteRuntimeTest, ShapeAndRequantizationArithmeticIsChecked) {
  const std::string mlp = model(false, false);
  // Shapes: negative, products beyond int32 (no overflow on the way), ranks, signatures.
  expect_error([&] { load(edit(mlp, [](auto& m) { m.subgraphs[0]->tensors[0]->shape = {1, -8}; })); }, {"has dimension 1 = -8; expected at least 0"});
  expect_error([&] { load(edit(mlp, [](auto& m) { m.subgraphs[0]->tensors[0]->shape = {1 << 30, 1 << 30, 1 << 30}; })); },
               {"shape [1073741824, 1073741824, 1073741824], more than 2147483647 elements"});
  expect_error([&] { load(edit(mlp, [](auto& m) { m.subgraphs[0]->tensors[0]->shape.assign(9, 1); })); }, {"has rank 9"});
  expect_error([&] { load(edit(mlp, [](auto& m) { m.subgraphs[0]->tensors[0]->shape_signature = {-1, 8, 1}; })); }, {"but shape_signature"});
  {
    tfl::Interpreter interpreter(mlp, "model.tflite");
    expect_error([&] { interpreter.resize_input(0, {1 << 30, 8}); }, {"cannot have shape [1073741824, 8]"});
    expect_error([&] { interpreter.resize_input(0, {-2, 8}); }, {"cannot have shape [-2, 8]"});
    // An arena larger than the limit is an Error before it is allocated.
    interpreter.set_max_arena_bytes(1024);
    interpreter.resize_input(0, {1000, 8});
    expect_error([&] { interpreter.allocate_tensors(); }, {"model.tflite", "the arena may hold 1024"});
  }
  // A RESHAPE whose new shape overflows, or disagrees with its input.
  const std::string cnn = model(true, false);
  expect_error([&] {
    run(edit(cnn, [](auto& m) {
      auto& reshape = op(m, ::tflite::BuiltinOperator_RESHAPE);
      reshape.inputs.resize(1);
      reshape.builtin_options.AsReshapeOptions()->new_shape = {1 << 20, 1 << 20, 1 << 20, -1};
    }), 36);
  }, {"(RESHAPE)", "more than 2147483647 elements"});
  // Quantization parameters: scale count, finite positive scales, zero points.
  const std::string int8 = model(false, true);
  auto first_weights = [](::tflite::ModelT& m) -> ::tflite::TensorT& { return tensor(m, op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).inputs[1]); };
  expect_error([&] { load(edit(int8, [&](auto& m) { first_weights(m).quantization->scale.resize(3, 0.01f); first_weights(m).quantization->zero_point.resize(3); })); },
               {"mutant.tflite", "has 3 quantization scales; dimension 0 (quantized_dimension) has 6 channels"});
  expect_error([&] { load(edit(int8, [&](auto& m) { first_weights(m).quantization->scale[1] = kNaN; })); }, {"quantization scale nan (index 1)"});
  expect_error([&] { load(edit(int8, [&](auto& m) { first_weights(m).quantization->scale[0] = 0.0f; })); }, {"quantization scale 0 (index 0)"});
  expect_error([&] { load(edit(int8, [&](auto& m) { first_weights(m).quantization->zero_point.pop_back(); })); }, {"6 quantization scales but 5 zero points"});
  expect_error([&] { load(edit(int8, [&](auto& m) { first_weights(m).quantization->quantized_dimension = 4; })); }, {"along quantized_dimension 4; its rank is 2"});
  expect_error([&] { load(edit(int8, [](auto& m) { tensor(m, op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).outputs[0]).quantization->zero_point[0] = 300; })); },
               {"(int8) has zero point 300; expected -128..127"});
  // Requantization multipliers: one beyond the fixed-point range is an Error; one so small that
  // every bit shifts out gives the zero point (TFLite's QuantizeMultiplier), without a shift
  // wider than the value.
  expect_error([&] { run(edit(int8, [](auto& m) { tensor(m, op(m, ::tflite::BuiltinOperator_FULLY_CONNECTED).outputs[0]).quantization->scale[0] = 1e-30f; }), 8); },
               {"operator 1 (FULLY_CONNECTED)", "requantization multiplier", "too large"});
  const std::string tiny = edit(int8, [&](auto& m) { first_weights(m).quantization->scale.assign(6, 1e-20f); });
  tfl::Interpreter zeroed(tiny, "tiny.tflite");
  zeroed.allocate_tensors();
  std::memset(zeroed.tensor(zeroed.inputs()[0]).data, 0, zeroed.tensor(zeroed.inputs()[0]).bytes());
  int checked = 0;
  zeroed.invoke([&](const tfl::Node& node) {
    if (&node != &zeroed.nodes()[1]) return;
    const tfl::Tensor& hidden = zeroed.tensor(node.outputs[0]);  // every sum times 0: the zero point
    for (int64_t i = 0; i < hidden.elements(); ++i, ++checked) EXPECT_EQ(hidden.as<int8_t>()[i], hidden.zero_point[0]);
  });
  EXPECT_EQ(checked, 6);
  // NaN and infinite inputs quantize without undefined conversions.
  tfl::Interpreter interpreter(int8, "model.tflite");
  tfl::SignatureRunner runner(interpreter, "serving_default");
  nn::Tensor x = sample(1, 8, 3);
  x[0] = kNaN;
  x[1] = std::numeric_limits<float>::infinity();
  x[2] = -1e30f;
  EXPECT_EQ(runner.run({{"image_floats", x}}).at("output_0").size(), 3);
}

// The mutation run in miniature: deterministic byte edits of each small model; every mutant runs
// or fails with a litepipe::Error (in build-asan, any memory error or undefined behaviour fails
// the process).
TEST_F(TfliteRuntimeTest, ByteMutantsRunOrFailCleanly) {
  for (bool cnn : {false, true})
    for (bool int8 : {false, true}) {
      const std::string original = model(cnn, int8);
      std::mt19937 rng(cnn * 2 + int8);
      int errors = 0, ran = 0;
      for (int i = 0; i < 150; ++i) {
        std::string bytes = original;
        const int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits; ++e) {
          const size_t at = rng() % bytes.size();
          if (rng() % 2) bytes[at] = static_cast<char>(rng());
          else if (at + 4 <= bytes.size()) {
            const int32_t values[] = {0, -1, 1, 2, 255, 1 << 30, std::numeric_limits<int32_t>::min(), static_cast<int32_t>(rng() % 64)};
            std::memcpy(bytes.data() + (at & ~size_t{3}), &values[rng() % 8], 4);
          }
        }
        try {
          run(bytes, cnn ? 36 : 8);
          ++ran;
        } catch (const Error&) {
          ++errors;
        }
      }
      EXPECT_EQ(errors + ran, 150);
      EXPECT_GT(errors, 0);
    }
}

}  // namespace
}  // namespace litepipe

namespace litepipe {
namespace {

// TFLite's num_threads: 1 by default, the same answers with 2, the caller's OpenMP setting
// restored after each run (also when a run fails), -1 = the caller's setting, 0 refused.
TEST_F(TfliteRuntimeTest, NumThreadsIsOneByDefaultAndTheCallersSettingComesBack) {
  for (bool cnn : {false, true}) {
    SCOPED_TRACE(cnn ? "cnn" : "mlp");
    tfl::Interpreter one(model(cnn, false), "model.tflite"), two(model(cnn, false), "model.tflite");
    EXPECT_EQ(one.num_threads(), 1);
    two.set_num_threads(2);
    const int width = cnn ? 36 : 8;
    nn::Tensor x = sample(64, width, 5);
    for (auto* interpreter : {&one, &two}) {
      interpreter->resize_input(0, {64, width});
      interpreter->allocate_tensors();
      std::memcpy(interpreter->tensor(interpreter->inputs()[0]).data, x.data(), static_cast<size_t>(x.size()) * 4);
    }
    const int before = omp_get_max_threads();
    one.invoke();
    two.invoke();
    EXPECT_EQ(omp_get_max_threads(), before);
    const auto& a = one.tensor(one.outputs()[0]);
    const auto& b = two.tensor(two.outputs()[0]);
    for (int64_t i = 0; i < a.elements(); ++i) ASSERT_NEAR(a.as<float>()[i], b.as<float>()[i], 1e-6);
  }
  tfl::Interpreter interpreter(model(false, false), "model.tflite");
  expect_error([&] { interpreter.set_num_threads(0); }, {"model.tflite", "num_threads must be at least 1", "got 0"});
  interpreter.set_num_threads(-1);
  EXPECT_EQ(interpreter.num_threads(), -1);
}

// ---- int8 sums that depended on the ISA: oneDNN's s8 x s8 GEMM without VNNI saturates int16
// pair sums (one 1x8 FULLY_CONNECTED row was 26 steps off on AVX2) ----------------------------

TEST(TfliteInt8Gemm, SumsAreExactInt32WithExtremeValuesOnEveryIsa) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> any(-128, 127), coin(0, 1);
  // Few and many rows (the kernels differ), short and long rows, and one past 2^31 / (255 * 128)
  // terms, where an int32 accumulator wraps.
  for (const auto& [m, n, k] : std::vector<std::array<int64_t, 3>>{{1, 16, 8}, {2, 3, 40}, {37, 19, 300}, {64, 16, 8}, {1, 2, 70000}}) {
    for (const int zero_point : {0, -128, 5, 127}) {
      SCOPED_TRACE(fmt::format("{}x{}x{} zero point {}", m, n, k, zero_point));
      std::vector<int8_t> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(n * k));
      // Mostly the extremes, which saturate int16 pair sums.
      for (auto& v : a) v = static_cast<int8_t>(coin(rng) ? (coin(rng) ? 127 : -128) : any(rng));
      for (auto& v : b) v = static_cast<int8_t>(coin(rng) ? (coin(rng) ? 127 : -128) : any(rng));
      std::vector<int32_t> c(static_cast<size_t>(m * n));
      tfl::gemm_s8_nt(m, n, k, a.data(), static_cast<int8_t>(zero_point), b.data(), c.data(), int64_t{1} << 22);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          int64_t sum = 0;
          for (int64_t t = 0; t < k; ++t) sum += int64_t{a[i * k + t] - zero_point} * b[j * k + t];
          ASSERT_EQ(c[i * n + j], static_cast<int32_t>(static_cast<uint32_t>(sum))) << i << " " << j;
        }
    }
  }
}

}  // namespace
}  // namespace litepipe
