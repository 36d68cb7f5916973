// The ONNX missing-value pattern y = Where(IsNaN(x), fill, x): ONNX runner, conversion to
// TFLite's NOT_EQUAL(x, x) + SELECT_V2, litepipe's interpreter and the real TFLite runtime.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "onnx/graph_builder.h"
#include "onnx/onnx_model.h"
#include "test_helpers.h"
#include "tflite/converter.h"
#include "tflite/interpreter.h"
#include "tflite/rewriter.h"
#include "tflite_subset_generated.h"

namespace litepipe {
namespace {

using testing::run_real_tflite;

using testing::expect_error;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// x float [batch, 3] -> IsNaN -> Where(isnan, fill, x) -> Mul by 2 -> output; `fill` has shape
// `fill_dims` (scalar, [3] or [1, 3]).
onnx::ModelProto missing_values_model(const std::vector<float>& fill, const std::vector<int64_t>& fill_dims) {
  onnx::ModelProto proto;
  proto.set_ir_version(7);
  proto.add_opset_import()->set_version(onnxio::kOpsetVersion);
  auto* graph = proto.mutable_graph();
  graph->set_name("missing_values");
  auto add_value = [](onnx::ValueInfoProto* value, const std::string& name) {
    value->set_name(name);
    value->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    value->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param("batch");
    value->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(3);
  };
  add_value(graph->add_input(), "x");
  add_value(graph->add_output(), "output");
  onnxio::GraphBuilder b(graph);
  b.unique("x");
  b.unique("output");
  std::string fill_name = b.add_initializer("fill", fill.data(), fill_dims);
  const float two = 2.0f;
  std::string two_name = b.add_initializer("two", &two, {});
  b.add_node("IsNaN", {"x"}, {"isnan"});
  b.add_node("Where", {"isnan", fill_name, "x"}, {"filled"});
  b.add_node("Mul", {"filled", two_name}, {"output"});
  return proto;
}

nn::Tensor rows_with_nans() {
  nn::Tensor x({4, 3});
  const float values[] = {kNaN, 5.0f, kNaN, 1.0f, kNaN, -2.0f, 0.5f, 1.5f, 2.5f, kNaN, kNaN, kNaN};
  std::memcpy(x.data(), values, sizeof(values));
  return x;
}

// 2 * (x where x is a number, else the fill value of that column).
nn::Tensor expected_output(const nn::Tensor& x, const std::vector<float>& fill) {
  nn::Tensor y(x.shape());
  for (int64_t i = 0; i < x.size(); ++i) {
    float f = fill.size() == 1 ? fill[0] : fill[static_cast<size_t>(i % 3)];
    y[i] = 2.0f * (std::isnan(x[i]) ? f : x[i]);
  }
  return y;
}

void expect_equal(const nn::Tensor& got, const nn::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  for (int64_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << what << " [" << i << "]";
}

class MissingValuesOpsTest : public testing::TempDirTest {};

TEST_F(MissingValuesOpsTest, OnnxRunnerAndConvertedTfliteFillNaNs) {
  const nn::Tensor x = rows_with_nans();
  struct Fill {
    std::vector<float> values;
    std::vector<int64_t> dims;
  };
  for (const Fill& fill : {Fill{{1.0f, 2.0f, 3.0f}, {3}}, Fill{{1.0f, 2.0f, 3.0f}, {1, 3}}, Fill{{7.0f}, {}}}) {
    SCOPED_TRACE(fmt::format("fill dims [{}]", fmt::join(fill.dims, ",")));
    onnx::ModelProto proto = missing_values_model(fill.values, fill.dims);
    // Standard ONNX: the checker and strict shape inference accept it.
    EXPECT_NO_THROW(onnxio::check_model(proto, "missing_values.onnx"));
    const nn::Tensor want = expected_output(x, fill.values);

    onnxio::OnnxRunner onnx_runner(proto, "missing_values.onnx");
    expect_equal(onnx_runner.run({{"x", x}}).at("output"), want, "ONNX runner");

    std::string lite = tfl::convert_onnx_to_tflite(proto, {}, "missing_values.onnx");
    tfl::Interpreter interpreter(lite, "missing_values.tflite");
    std::map<std::string, int> versions;
    for (const auto& node : interpreter.nodes()) versions[node.op_name] = node.version;
    EXPECT_EQ(versions, (std::map<std::string, int>{{"NOT_EQUAL", 1}, {"SELECT_V2", 1}, {"MUL", 1}}));
    for (const auto& node : interpreter.nodes()) {
      if (node.op_name == "NOT_EQUAL") {
        EXPECT_EQ(node.inputs[0], node.inputs[1]) << "IsNaN(x) is NOT_EQUAL(x, x)";
        EXPECT_EQ(interpreter.tensor(node.outputs[0]).type, tfl::DType::Bool);
      }
      if (node.op_name == "SELECT_V2") {
        EXPECT_EQ(interpreter.tensor(node.inputs[0]).type, tfl::DType::Bool);
        EXPECT_EQ(interpreter.tensor(node.inputs[1]).type, tfl::DType::Float32);
        EXPECT_TRUE(interpreter.tensor(node.inputs[1]).constant);
      }
    }
    EXPECT_EQ(interpreter.metadata().at("min_runtime_version"), "2.2.0");  // SELECT_V2 v1
    tfl::SignatureRunner runner(interpreter, "serving_default");
    expect_equal(runner.run({{"x", x}}).at("output"), want, "litepipe TFLite interpreter");
    // Another batch size re-prepares the broadcasting kernels.
    expect_equal(runner.run({{"x", x.slice_rows(1, 2)}}).at("output"), want.slice_rows(1, 2), "litepipe TFLite interpreter, batch 1");
  }
}

TEST_F(MissingValuesOpsTest, RewriterConvertsAndValidatesThePattern) {
  onnx::ModelProto proto = missing_values_model({1.0f, 2.0f, 3.0f}, {3});
  write_file_atomic(dir_ / "model" / onnxio::kModelFileName, proto.SerializeAsString());
  auto rewriter = rewriting::create_rewriter(rewriting::TFLITE_REWRITER, "tflite_rewriter");
  rewriting::rewrite_saved_model(dir_ / "model", dir_ / "lite", *rewriter, rewriting::ModelType::TFLITE_MODEL);
  auto interpreter = tfl::Interpreter::from_file(dir_ / "lite" / "tflite");
  tfl::SignatureRunner runner(*interpreter, "serving_default");
  expect_equal(runner.run({{"x", rows_with_nans()}}).at("output"), expected_output(rows_with_nans(), {1.0f, 2.0f, 3.0f}), "rewritten model");
}

TEST_F(MissingValuesOpsTest, RealTfliteRuntimeGivesTheSameOutputs) {
  fs::path wasm = testing::source_dir() / "third_party/npm/node_modules/@tensorflow/tfjs-tflite/wasm/tflite_web_api_cc.wasm";
  if (!fs::exists(wasm) || std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node or npm @tensorflow/tfjs-tflite not installed";
  const nn::Tensor x = rows_with_nans();
  onnx::ModelProto proto = missing_values_model({1.0f, 2.0f, 3.0f}, {3});
  fs::path model = dir_ / "missing_values.tflite";
  write_file_atomic(model, tfl::convert_onnx_to_tflite(proto, {}, "missing_values.onnx"));
  std::string nodes;
  nn::Tensor real = run_real_tflite(model, x, dir_, &nodes);
  expect_equal(real, expected_output(x, {1.0f, 2.0f, 3.0f}), "real TFLite runtime: " + nodes);
  // The comparison and the select run in TFLite's builtin kernels (XNNPACK may take the MUL).
  EXPECT_NE(nodes.find("\"NOT_EQUAL\""), std::string::npos) << nodes;
  EXPECT_NE(nodes.find("\"SELECT_V2\""), std::string::npos) << nodes;
}

TEST_F(MissingValuesOpsTest, UnsupportedUsesFailNamingTheOp) {
  onnx::ModelProto proto = missing_values_model({1.0f, 2.0f, 3.0f}, {3});
  // Full-integer int8 has no NOT_EQUAL / SELECT_V2 kernels: the conversion names the op.
  nn::Tensor batch({8, 3});
  for (int64_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<float>(i % 5);
  expect_error([&] { tfl::convert_onnx_to_tflite(proto, {.full_integer = true, .representative_dataset = {{{"x", batch}}}}, "missing_values.onnx"); },
               {"missing_values.onnx", "full-integer quantization", "NOT_EQUAL", "no int8 kernel"});

  // Where's condition must be a boolean (IsNaN's output), and a boolean feeds only Where.
  onnx::ModelProto float_condition = proto;
  float_condition.mutable_graph()->mutable_node(1)->set_input(0, "x");
  expect_error([&] { tfl::convert_onnx_to_tflite(float_condition, {}, "missing_values.onnx"); }, {"missing_values.onnx", "Where", "boolean"});
  onnx::ModelProto boolean_operand = proto;
  boolean_operand.mutable_graph()->mutable_node(2)->set_input(0, "isnan");
  expect_error([&] { tfl::convert_onnx_to_tflite(boolean_operand, {}, "missing_values.onnx"); }, {"missing_values.onnx", "Mul", "'isnan' is boolean"});

  // The interpreter validates types when it loads the model (its kernel's Init), naming the operator.
  std::string lite = tfl::convert_onnx_to_tflite(proto, {}, "missing_values.onnx");
  auto model = ::tflite::UnPackModel(lite.data());
  auto& graph = *model->subgraphs[0];
  for (auto& op : graph.operators) {
    if (model->operator_codes[op->opcode_index]->builtin_code == ::tflite::BuiltinOperator_NOT_EQUAL) {
      graph.tensors[static_cast<size_t>(op->outputs[0])]->type = ::tflite::TensorType_FLOAT32;
    }
  }
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(::tflite::Model::Pack(fbb, model.get()), ::tflite::ModelIdentifier());
  const std::string broken(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
  expect_error([&] { tfl::Interpreter(broken, "broken.tflite"); }, {"broken.tflite", "NOT_EQUAL", "expected bool"});
}

}  // namespace
}  // namespace litepipe
