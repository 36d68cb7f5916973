// The ONNX runner (src/onnx/runtime/): the ops added with its kernel structure (Sqrt, Resize,
// 1-D Conv / MaxPool / AveragePool) against hand-computed references and OpenCV's DNN ONNX
// importer; clean errors for bad attributes and the fuzz regressions; buffers reused across calls
// without touching what earlier calls returned; concurrent calls; convolutions on oneDNN's own
// layouts (grouped and plain, constant and computed weights) against the nn model.
#include <opencv2/dnn.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "core/files.h"
#include "nn/model.h"
#include "onnx/graph_builder.h"
#include "onnx/onnx_model.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

namespace fs = std::filesystem;
using nn::Shape;
using nn::Tensor;
using testing::expect_error;

void add_float_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name, const Shape& shape) {
  auto* v = list->Add();
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) t->mutable_shape()->add_dim()->set_dim_value(d);
}

void set_string_attr(onnx::NodeProto& node, const std::string& name, const std::string& value) {
  auto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

// A one-node model: input x of `shape`, output y, the node built by `add` (which returns it).
class OneNodeModel {
 public:
  OneNodeModel(const Shape& input_shape, const Shape& output_shape) {
    model_.set_ir_version(8);
    auto* opset = model_.add_opset_import();
    opset->set_domain("");
    opset->set_version(onnxio::kOpsetVersion);
    add_float_value(model_.mutable_graph()->mutable_input(), "x", input_shape);
    add_float_value(model_.mutable_graph()->mutable_output(), "y", output_shape);
  }
  onnxio::GraphBuilder builder() { return onnxio::GraphBuilder(model_.mutable_graph()); }
  const onnx::ModelProto& proto() const { return model_; }

 private:
  onnx::ModelProto model_;
};

Tensor run_ours(const onnx::ModelProto& model, const Tensor& x) { return onnxio::OnnxRunner(model, "test.onnx").run({{"x", x}}).at("y"); }

// OpenCV's DNN module importing and running the same model file.
Tensor run_opencv(const onnx::ModelProto& model, const Tensor& x, const fs::path& dir) {
  const fs::path path = dir / "opencv.onnx";
  write_file_atomic(path, model.SerializeAsString());
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path.string());
  std::vector<int> sizes(x.shape().begin(), x.shape().end());
  cv::Mat blob(static_cast<int>(sizes.size()), sizes.data(), CV_32F, const_cast<float*>(x.data()));
  net.setInput(blob);
  cv::Mat out = net.forward();
  Shape shape(out.size.p, out.size.p + out.dims);
  Tensor result(shape);
  std::copy_n(out.ptr<float>(0), result.size(), result.data());
  return result;
}

void expect_values(const Tensor& got, const Shape& shape, const std::vector<float>& want, float tolerance = 1e-5f) {
  ASSERT_EQ(got.shape(), shape);
  ASSERT_EQ(got.size(), static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[static_cast<size_t>(i)], tolerance) << "at " << i;
}

Tensor iota_tensor(const Shape& shape, float start = 1.0f, float step = 1.0f) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = start + step * static_cast<float>(i);
  return t;
}

using OnnxRunnerTest = testing::TempDirTest;

TEST_F(OnnxRunnerTest, SqrtMatchesTheHandReferenceAndOpenCv) {
  OneNodeModel m({2, 3}, {2, 3});
  m.builder().add_node("Sqrt", {"x"}, {"y"});
  Tensor x = Tensor::from({2, 3}, {0.0f, 1.0f, 4.0f, 2.25f, 9.0f, 100.0f});
  expect_values(run_ours(m.proto(), x), {2, 3}, {0.0f, 1.0f, 2.0f, 1.5f, 3.0f, 10.0f});
  expect_values(run_opencv(m.proto(), x, dir_), {2, 3}, {0.0f, 1.0f, 2.0f, 1.5f, 3.0f, 10.0f});
  // ONNX: the square root of a negative number is NaN.
  EXPECT_TRUE(std::isnan(run_ours(m.proto(), Tensor::from({1, 1}, {-1.0f}))[0]));
}

// Resize of x by constant scales or sizes (the other input named ""), mode nearest.
onnx::ModelProto resize_model(const Shape& in, const Shape& out, const std::vector<float>& scales, const std::vector<float>& sizes,
                              const std::string& coordinates, const std::string& rounding) {
  OneNodeModel m(in, out);
  auto b = m.builder();
  const std::string s = scales.empty() ? "" : b.add_initializer("scales", scales.data(), {static_cast<int64_t>(scales.size())});
  std::string z;
  if (!sizes.empty()) {
    std::vector<int64_t> whole(sizes.begin(), sizes.end());
    z = b.add_int64_initializer("sizes", whole);
  }
  auto& node = b.add_node("Resize", {"x", "", s, z}, {"y"});
  node.set_name("up");
  set_string_attr(node, "mode", "nearest");
  if (!coordinates.empty()) set_string_attr(node, "coordinate_transformation_mode", coordinates);
  if (!rounding.empty()) set_string_attr(node, "nearest_mode", rounding);
  if (z.empty()) node.mutable_input()->RemoveLast();  // sizes omitted
  return m.proto();
}

TEST_F(OnnxRunnerTest, ResizeNearestUpsamplingByTwoMatchesTheHandReferenceAndOpenCv) {
  Tensor x = Tensor::from({1, 1, 2, 2}, {1, 2, 3, 4});
  const std::vector<float> want = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  for (const auto& [coordinates, rounding] : std::vector<std::pair<std::string, std::string>>{
           {"asymmetric", "floor"}, {"half_pixel", "round_prefer_floor"}, {"asymmetric", "round_prefer_floor"}}) {
    SCOPED_TRACE(coordinates + " " + rounding);
    auto model = resize_model({1, 1, 2, 2}, {1, 1, 4, 4}, {1, 1, 2, 2}, {}, coordinates, rounding);
    expect_values(run_ours(model, x), {1, 1, 4, 4}, want);
    expect_values(run_opencv(model, x, dir_), {1, 1, 4, 4}, want);
  }
  // By sizes, two channels: the same picture per channel.
  Tensor x2 = Tensor::from({1, 2, 1, 2}, {1, 2, 5, 6});
  auto model = resize_model({1, 2, 1, 2}, {1, 2, 2, 4}, {}, {1, 2, 2, 4}, "asymmetric", "floor");
  const std::vector<float> want2 = {1, 1, 2, 2, 1, 1, 2, 2, 5, 5, 6, 6, 5, 5, 6, 6};
  expect_values(run_ours(model, x2), {1, 2, 2, 4}, want2);
  expect_values(run_opencv(model, x2, dir_), {1, 2, 2, 4}, want2);
}

// Non-integer ratios and ties, where the modes differ (worked by hand from the ONNX formulas;
// OpenCV 4.6's nearest resize knows only align_corners / half-pixel centers with its own
// rounding, so it is not asked here).
TEST_F(OnnxRunnerTest, ResizeNearestFollowsCoordinateAndNearestModes) {
  // Width 3 -> 5 (scale 5/3): x_in = x_out * 0.6 (asymmetric), (x_out + 0.5) * 0.6 - 0.5 (half_pixel):
  // asymmetric 0, 0.6, 1.2, 1.8, 2.4; half_pixel -0.2, 0.4, 1.0, 1.6, 2.2.
  Tensor x = Tensor::from({1, 1, 1, 3}, {10, 20, 30});
  auto widen = [&](const std::string& c, const std::string& r) { return run_ours(resize_model({1, 1, 1, 3}, {1, 1, 1, 5}, {}, {1, 1, 1, 5}, c, r), x); };
  expect_values(widen("asymmetric", "floor"), {1, 1, 1, 5}, {10, 10, 20, 20, 30});
  expect_values(widen("asymmetric", "round_prefer_floor"), {1, 1, 1, 5}, {10, 20, 20, 30, 30});
  expect_values(widen("half_pixel", "floor"), {1, 1, 1, 5}, {10, 10, 20, 20, 30});
  expect_values(widen("half_pixel", "round_prefer_floor"), {1, 1, 1, 5}, {10, 10, 20, 30, 30});
  expect_values(widen("", ""), {1, 1, 1, 5}, {10, 10, 20, 30, 30});  // ONNX's defaults: half_pixel, round_prefer_floor
  expect_values(widen("align_corners", "round_prefer_floor"), {1, 1, 1, 5}, {10, 10, 20, 20, 30});  // 0, 0.5, 1, 1.5, 2
  expect_values(widen("align_corners", "round_prefer_ceil"), {1, 1, 1, 5}, {10, 20, 20, 30, 30});
  // Width 2 -> 4 by scale 2, half_pixel: x_in = -0.25, 0.25, 0.75, 1.25; floor clamps -1 to 0.
  auto doubled = run_ours(resize_model({1, 1, 1, 2}, {1, 1, 1, 4}, {1, 1, 1, 2}, {}, "half_pixel", "floor"), Tensor::from({1, 1, 1, 2}, {1, 2}));
  expect_values(doubled, {1, 1, 1, 4}, {1, 1, 1, 2});
  // Width 4 -> 2 by scale 0.5, half_pixel: x_in = 0.5 and 2.5, ties.
  Tensor y = Tensor::from({1, 1, 1, 4}, {1, 2, 3, 4});
  auto halve = [&](const std::string& r) { return run_ours(resize_model({1, 1, 1, 4}, {1, 1, 1, 2}, {1, 1, 1, 0.5f}, {}, "half_pixel", r), y); };
  expect_values(halve("round_prefer_floor"), {1, 1, 1, 2}, {1, 3});
  expect_values(halve("round_prefer_ceil"), {1, 1, 1, 2}, {2, 4});
  expect_values(halve("ceil"), {1, 1, 1, 2}, {2, 4});
}

TEST_F(OnnxRunnerTest, ResizeRejectsWhatItDoesNotImplementNamingNodeAndAttribute) {
  auto with = [](const std::string& attribute, const std::string& value) {
    auto model = resize_model({1, 1, 2, 2}, {1, 1, 4, 4}, {1, 1, 2, 2}, {}, "asymmetric", "floor");
    set_string_attr(*model.mutable_graph()->mutable_node(0), attribute, value);
    return model;
  };
  // The last of two equal attributes is the one looked up first: remove the earlier ones.
  auto replace = [&](const std::string& attribute, const std::string& value) {
    auto model = with(attribute, value);
    auto* attrs = model.mutable_graph()->mutable_node(0)->mutable_attribute();
    for (int i = 0; i < attrs->size(); ++i)
      if (attrs->Get(i).name() == attribute && attrs->Get(i).s() != value) attrs->DeleteSubrange(i--, 1);
    return model;
  };
  expect_error([&] { onnxio::OnnxRunner r(replace("mode", "linear"), "m.onnx"); }, {"m.onnx", "'up'", "Resize", "mode", "linear", "nearest"});
  expect_error([&] { onnxio::OnnxRunner r(replace("coordinate_transformation_mode", "tf_crop_and_resize"), "m.onnx"); },
               {"m.onnx", "'up'", "coordinate_transformation_mode", "tf_crop_and_resize"});
  expect_error([&] { onnxio::OnnxRunner r(replace("nearest_mode", "nearest_even"), "m.onnx"); }, {"m.onnx", "'up'", "nearest_mode", "nearest_even"});
  expect_error([&] { onnxio::OnnxRunner r(resize_model({1, 1, 2, 2}, {1, 1, 4, 4}, {1, 2, 2}, {}, "", ""), "m.onnx"); },
               {"m.onnx", "'up'", "scales has 3 values"});
  expect_error([&] { onnxio::OnnxRunner r(resize_model({1, 1, 2, 2}, {1, 1, 4, 4}, {1, 1, 0, 2}, {}, "", ""), "m.onnx"); },
               {"m.onnx", "'up'", "not a positive number"});
  expect_error([&] { onnxio::OnnxRunner r(resize_model({1, 1, 2, 2}, {1, 1, 4, 4}, {1, 1, 2, 2}, {1, 1, 4, 4}, "", ""), "m.onnx"); },
               {"m.onnx", "'up'", "either scales or sizes"});
  // Scales computed by the graph are not supported: they must be initializers.
  auto computed = resize_model({1, 1, 2, 2}, {1, 1, 4, 4}, {1, 1, 2, 2}, {}, "", "");
  auto* identity = computed.mutable_graph()->add_node();
  identity->set_op_type("Identity");
  identity->add_input(computed.graph().node(0).input(2));
  identity->add_output("computed_scales");
  computed.mutable_graph()->mutable_node()->SwapElements(0, 1);
  computed.mutable_graph()->mutable_node(1)->set_input(2, "computed_scales");
  expect_error([&] { onnxio::OnnxRunner r(computed, "m.onnx"); }, {"m.onnx", "'up'", "scales must be a constant"});
  // A 3-D input: the error names the node and the shape.
  onnxio::OnnxRunner runner(resize_model({1, 2, 2}, {1, 4, 4}, {1, 1, 2, 2}, {}, "", ""), "m.onnx");
  expect_error([&] { runner.run({{"x", Tensor({1, 2, 2})}}); }, {"m.onnx", "'up'", "4-D", "[1, 2, 2]"});
}

// Naive 1-D cross-correlation over [N, C, L], the reference for Conv on 3-D inputs.
Tensor conv1d_reference(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad_begin, int64_t pad_end, int64_t dilation,
                        int64_t group) {
  const int64_t n = x.dim(0), c = x.dim(1), l = x.dim(2), m = w.dim(0), k = w.dim(2), cg = c / group, mg = m / group;
  const int64_t out_l = (l + pad_begin + pad_end - ((k - 1) * dilation + 1)) / stride + 1;
  Tensor y({n, m, out_l});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t p = 0; p < out_l; ++p) {
        double s = b.empty() ? 0.0 : b[o];
        for (int64_t ci = 0; ci < cg; ++ci)
          for (int64_t t = 0; t < k; ++t) {
            const int64_t at = p * stride - pad_begin + t * dilation;
            if (at >= 0 && at < l) s += x[(i * c + (o / mg) * cg + ci) * l + at] * w[(o * cg + ci) * k + t];
          }
        y[(i * m + o) * out_l + p] = static_cast<float>(s);
      }
  return y;
}

TEST_F(OnnxRunnerTest, Conv1DMatchesTheReferenceAndOpenCv) {
  struct Case {
    int64_t stride, pad_begin, pad_end, dilation, group;
    bool opencv;  // OpenCV 4.6 answers [2, 6, 9] for pads 2, 1 (the end padded as the begin): uneven pads are judged by the reference only
  };
  for (const Case& c : {Case{1, 0, 0, 1, 1, true}, Case{2, 1, 1, 1, 1, true}, Case{1, 2, 2, 2, 1, true}, Case{1, 2, 1, 2, 1, false},
                        Case{1, 1, 1, 1, 2, true}}) {
    SCOPED_TRACE(::testing::Message() << "stride " << c.stride << " pads " << c.pad_begin << "," << c.pad_end << " dilation " << c.dilation << " group " << c.group);
    const Shape in = {2, 4, 9};
    Tensor w = iota_tensor({6, 4 / c.group, 3}, -1.0f, 0.05f);
    Tensor b = iota_tensor({6}, 0.5f, -0.25f);
    Tensor x = iota_tensor(in, -2.0f, 0.03f);
    Tensor want = conv1d_reference(x, w, b, c.stride, c.pad_begin, c.pad_end, c.dilation, c.group);
    OneNodeModel m(in, want.shape());
    auto builder = m.builder();
    auto& node = builder.add_node("Conv", {"x", builder.add_initializer("w", w), builder.add_initializer("b", b)}, {"y"});
    onnxio::GraphBuilder::set_attr(node, "kernel_shape", std::vector<int64_t>{3});
    onnxio::GraphBuilder::set_attr(node, "strides", std::vector<int64_t>{c.stride});
    onnxio::GraphBuilder::set_attr(node, "pads", std::vector<int64_t>{c.pad_begin, c.pad_end});
    onnxio::GraphBuilder::set_attr(node, "dilations", std::vector<int64_t>{c.dilation});
    onnxio::GraphBuilder::set_attr(node, "group", c.group);
    const std::vector<float> want_values(want.data(), want.data() + want.size());
    expect_values(run_ours(m.proto(), x), want.shape(), want_values, 1e-4f);
    if (c.opencv) expect_values(run_opencv(m.proto(), x, dir_), want.shape(), want_values, 1e-4f);
  }
}

TEST_F(OnnxRunnerTest, Pooling1DMatchesTheHandReferenceAndOpenCv) {
  Tensor x = Tensor::from({1, 2, 6}, {1, 5, 2, 8, 3, 0, -1, -5, 4, 4, 9, -2});
  auto pool = [&](const std::string& op, std::vector<int64_t> pads, int64_t stride, Shape out) {
    OneNodeModel m({1, 2, 6}, out);
    auto& node = m.builder().add_node(op, {"x"}, {"y"});
    onnxio::GraphBuilder::set_attr(node, "kernel_shape", std::vector<int64_t>{2});
    onnxio::GraphBuilder::set_attr(node, "strides", std::vector<int64_t>{stride});
    onnxio::GraphBuilder::set_attr(node, "pads", pads);
    return m.proto();
  };
  auto max = pool("MaxPool", {0, 0}, 2, {1, 2, 3});
  expect_values(run_ours(max, x), {1, 2, 3}, {5, 8, 3, -1, 4, 9});
  expect_values(run_opencv(max, x, dir_), {1, 2, 3}, {5, 8, 3, -1, 4, 9});
  auto average = pool("AveragePool", {0, 0}, 2, {1, 2, 3});
  expect_values(run_ours(average, x), {1, 2, 3}, {3, 5, 1.5f, -3, 4, 3.5f});
  expect_values(run_opencv(average, x, dir_), {1, 2, 3}, {3, 5, 1.5f, -3, 4, 3.5f});
  // Padded windows, stride 1: count_include_pad 0 averages the real values only.
  auto padded = pool("AveragePool", {1, 1}, 3, {1, 2, 3});
  // Windows over [pad, x0], [x2, x3], [x5, pad]: channel 0 -> 1, 5, 0; channel 1 -> -1, 4, -2.
  expect_values(run_ours(padded, x), {1, 2, 3}, {1, 5, 0, -1, 4, -2});
}

TEST_F(OnnxRunnerTest, WindowAttributesOfTheWrongLengthAreCleanErrors) {
  OneNodeModel m({1, 1, 6}, {1, 1, 3});
  auto& node = m.builder().add_node("MaxPool", {"x"}, {"y"});
  node.set_name("pool_1d");
  onnxio::GraphBuilder::set_attr(node, "kernel_shape", std::vector<int64_t>{2});
  onnxio::GraphBuilder::set_attr(node, "pads", std::vector<int64_t>{0, 0, 0, 0});
  expect_error([&] { onnxio::OnnxRunner r(m.proto(), "m.onnx"); }, {"m.onnx", "pool_1d", "MaxPool", "1 kernel_shape", "2 pads"});
  // A 1-D window on a 4-D input: named at run time, with the shape.
  OneNodeModel ok({1, 1, 6}, {1, 1, 3});
  auto& pool = ok.builder().add_node("MaxPool", {"x"}, {"y"});
  onnxio::GraphBuilder::set_attr(pool, "kernel_shape", std::vector<int64_t>{2});
  onnxio::GraphBuilder::set_attr(pool, "strides", std::vector<int64_t>{2});
  onnxio::OnnxRunner runner(ok.proto(), "m.onnx");
  expect_error([&] { runner.run({{"x", Tensor({1, 1, 2, 6})}}); }, {"m.onnx", "MaxPool", "3-D input", "[1, 1, 2, 6]"});
}

// Every fuzz finding for the ONNX runner loads and runs (as the fuzz target does) or fails with
// an Error naming the file.
TEST(OnnxRunnerFuzzRegressions, GiveCleanErrors) {
  const fs::path dir = fs::path(LITEPIPE_SOURCE_DIR) / "fuzz" / "regressions" / "onnx";
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    ++files;
    onnx::ModelProto model;
    if (!model.ParseFromString(read_file(entry.path()))) continue;
    try {
      onnxio::OnnxRunner runner(model, "fuzz.onnx");
      std::map<std::string, Tensor> feeds;
      for (const auto& name : runner.input_names()) {
        Shape shape = {1};
        for (const auto& input : model.graph().input()) {
          if (input.name() != name || !input.type().tensor_type().has_shape()) continue;
          shape.clear();
          for (const auto& d : input.type().tensor_type().shape().dim()) shape.push_back(d.has_dim_value() && d.dim_value() > 0 ? std::min<int64_t>(d.dim_value(), 64) : 1);
        }
        feeds[name] = iota_tensor(shape, -3.0f, 0.5f);
      }
      runner.run(feeds);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("fuzz.onnx"), std::string::npos) << e.what();
    }
  }
  EXPECT_GE(files, 10);
}

// x -> Relu -> h (intermediate, reused across calls) -> Reshape -> y (output, a view of h's
// buffer) and Relu(x) * 2 -> z: what a call returned stays as it was after later calls.
onnx::ModelProto view_output_model() {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(onnxio::kOpsetVersion);
  add_float_value(model.mutable_graph()->mutable_input(), "x", {2, 3});
  add_float_value(model.mutable_graph()->mutable_output(), "y", {6});
  add_float_value(model.mutable_graph()->mutable_output(), "z", {2, 3});
  onnxio::GraphBuilder b(model.mutable_graph());
  b.add_node("Relu", {"x"}, {"h"});
  b.add_node("Reshape", {"h", b.add_int64_initializer("shape", {-1})}, {"y"});
  const float two = 2.0f;
  b.add_node("Mul", {"h", b.add_initializer("two", &two, {})}, {"z"});
  return model;
}

TEST(OnnxRunnerBuffers, ResultsOfEarlierCallsAreNotOverwritten) {
  onnxio::OnnxRunner runner(view_output_model(), "views.onnx");
  auto first = runner.run({{"x", Tensor::from({2, 3}, {1, -2, 3, -4, 5, -6})}});
  auto second = runner.run({{"x", Tensor::from({2, 3}, {7, 8, 9, 10, 11, 12})}});
  expect_values(first.at("y"), {6}, {1, 0, 3, 0, 5, 0});
  expect_values(first.at("z"), {2, 3}, {2, 0, 6, 0, 10, 0});
  expect_values(second.at("y"), {6}, {7, 8, 9, 10, 11, 12});
  // Another batch size after the first: buffers follow the shape.
  auto third = runner.run({{"x", Tensor::from({1, 3}, {-1, 2, -3})}});
  expect_values(third.at("z"), {1, 3}, {0, 4, 0});
}

// A model with the convolutions whose layouts the runner lets oneDNN choose (a 3x3 convolution of
// 8 channels, depthwise ones with strides and a multiplier) and the ones it keeps on NCHW (a 1x1
// convolution, one of a single-channel image), saved by nn and run by the runner: the same answers
// as the nn model at batch 1 and 256, called again (cached primitives) and in turn.
class OnnxRunnerConvLayouts : public testing::TempDirTest {
 protected:
  void SetUp() override {
    testing::TempDirTest::SetUp();
    nn::set_random_seed(11);
    auto input = nn::Input({12, 12, 1});
    auto x = nn::Conv2D(8, {3, 3}, {.padding = "same", .activation = "relu"})(input);           // single channel: NCHW
    x = nn::Conv2D(16, {3, 3}, {.strides = {2, 2}, .padding = "same", .use_bias = false})(x);  // oneDNN's layouts
    x = nn::DepthwiseConv2D({3, 3}, {.padding = "same", .activation = "relu6"})(x);
    x = nn::Conv2D(24, {1, 1})(x);  // 1x1: NCHW
    x = nn::DepthwiseConv2D({3, 3}, {.depth_multiplier = 2, .strides = {2, 2}, .padding = "same", .use_bias = false})(x);
    model_ = std::make_unique<nn::Model>(std::vector<nn::NodeRef>{input}, nn::Dense(5)(nn::GlobalAveragePooling2D()(x)));
    path_ = model_->save(dir_);
  }

  // Runs `run` on batches of 1 and 256 (each twice, in turn) and checks it against the nn model.
  void expect_nn_answers(const std::function<Tensor(const Tensor&)>& run) {
    for (int64_t batch : {1, 256, 1, 256}) {
      SCOPED_TRACE(::testing::Message() << "batch " << batch);
      Tensor x({batch, 12, 12, 1});
      std::mt19937 rng(static_cast<unsigned>(batch));
      std::uniform_real_distribution<float> value(-1.0f, 1.0f);
      for (int64_t i = 0; i < x.size(); ++i) x[i] = value(rng);
      Tensor want = model_->predict(x, batch);
      Tensor got = run(x);
      ASSERT_EQ(got.shape(), want.shape());
      for (int64_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << "at " << i;
    }
  }

  std::unique_ptr<nn::Model> model_;
  fs::path path_;
};

TEST_F(OnnxRunnerConvLayouts, ConstantWeightsGiveTheNnModelsAnswers) {
  onnxio::OnnxRunner runner(path_);
  int grouped = 0;
  for (const auto& node : runner.model().graph().node()) {
    for (const auto& a : node.attribute()) grouped += node.op_type() == "Conv" && a.name() == "group" && a.i() > 1;
  }
  EXPECT_EQ(grouped, 2);
  expect_nn_answers([&](const Tensor& x) { return runner.run({{"input", x}}).begin()->second; });
}

// The convolutions' weights fed as graph inputs: reordered on each call instead of packed at load.
TEST_F(OnnxRunnerConvLayouts, WeightsFedAsInputsGiveTheNnModelsAnswers) {
  onnx::ModelProto model = onnxio::load_model(path_);
  std::set<std::string> weight_names;
  for (const auto& node : model.graph().node())
    if (node.op_type() == "Conv") weight_names.insert(node.input(1));
  ASSERT_EQ(weight_names.size(), 5u);
  std::map<std::string, Tensor> weights;
  auto* initializers = model.mutable_graph()->mutable_initializer();
  for (int i = initializers->size() - 1; i >= 0; --i) {
    const onnx::TensorProto& t = initializers->Get(i);
    if (!weight_names.count(t.name())) continue;
    Tensor value(Shape(t.dims().begin(), t.dims().end()));
    ASSERT_EQ(t.raw_data().size(), static_cast<size_t>(value.size()) * sizeof(float));
    std::memcpy(value.data(), t.raw_data().data(), t.raw_data().size());
    add_float_value(model.mutable_graph()->mutable_input(), t.name(), value.shape());
    weights[t.name()] = value;
    initializers->DeleteSubrange(i, 1);
  }
  ASSERT_EQ(weights.size(), 5u);
  onnxio::OnnxRunner runner(model, "fed_weights.onnx");
  expect_nn_answers([&](const Tensor& x) {
    std::map<std::string, Tensor> feeds = weights;
    feeds["input"] = x;
    return runner.run(feeds).begin()->second;
  });
}

// Evaluator workers call one runner side by side, with different batch sizes: each call's answer
// is the one it gets alone (oneDNN primitives and buffers are per caller while they run).
TEST(OnnxRunnerThreads, ConcurrentCallsGetTheirOwnAnswers) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(onnxio::kOpsetVersion);
  add_float_value(model.mutable_graph()->mutable_input(), "x", {-1, 2, 8, 8});
  add_float_value(model.mutable_graph()->mutable_output(), "y", {-1, 5});
  onnxio::GraphBuilder b(model.mutable_graph());
  auto& conv = b.add_node("Conv", {"x", b.add_initializer("w", iota_tensor({4, 2, 3, 3}, -0.5f, 0.01f)), b.add_initializer("b", iota_tensor({4}))}, {"c"});
  onnxio::GraphBuilder::set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.add_node("Relu", {"c"}, {"r"});
  auto& pool = b.add_node("MaxPool", {"r"}, {"p"});
  onnxio::GraphBuilder::set_attr(pool, "kernel_shape", std::vector<int64_t>{2, 2});
  onnxio::GraphBuilder::set_attr(pool, "strides", std::vector<int64_t>{2, 2});
  b.add_node("Flatten", {"p"}, {"f"});
  b.add_node("Gemm", {"f", b.add_initializer("d", iota_tensor({64, 5}, 0.01f, -0.001f)), b.add_initializer("e", iota_tensor({5}))}, {"g"});
  b.add_node("Softmax", {"g"}, {"y"});
  onnxio::OnnxRunner runner(model, "threads.onnx");
  std::vector<Tensor> inputs, alone;
  for (int64_t batch : {1, 3, 1, 5, 2, 1, 4, 1}) {
    inputs.push_back(iota_tensor({batch, 2, 8, 8}, static_cast<float>(batch), -0.01f));
    alone.push_back(runner.run({{"x", inputs.back()}}).at("y").clone());
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(inputs.size(), 0);
  for (size_t t = 0; t < inputs.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        Tensor y = runner.run({{"x", inputs[t]}}).at("y");
        for (int64_t i = 0; i < y.size(); ++i) mismatches[t] += y[i] != alone[t][i];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (size_t t = 0; t < inputs.size(); ++t) EXPECT_EQ(mismatches[t], 0) << "input " << t;
}

}  // namespace
}  // namespace litepipe
