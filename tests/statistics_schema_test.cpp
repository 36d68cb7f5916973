#include "data/schema.h"
#include "data/statistics.h"
#include "data/tfrecord.h"
#include "tensorflow/core/example/example.pb.h"
#include "test_helpers.h"

namespace litepipe {
namespace {

using nlohmann::json;

class StatisticsTest : public testing::TempDirTest {
 protected:
  // Writes examples with x (float list of 2: [i, -i]), label (int, i % 3) and, every 4th
  // example, a missing "note".
  fs::path write_split(const std::string& name, int n, int label_mod = 3, float scale = 1.0f) {
    fs::path path = dir_ / (name + ".tfrecord.gz");
    TFRecordWriter writer(path);
    for (int i = 0; i < n; ++i) {
      tensorflow::Example e;
      auto& f = *e.mutable_features()->mutable_feature();
      f["x"].mutable_float_list()->add_value(static_cast<float>(i) * scale);
      f["x"].mutable_float_list()->add_value(-static_cast<float>(i) * scale);
      f["label"].mutable_int64_list()->add_value(i % label_mod);
      if (i % 4 != 0) f["note"].mutable_bytes_list()->add_value(i % 2 ? "odd" : "even");
      writer.write(e.SerializeAsString());
    }
    writer.close();
    return path;
  }
};

TEST_F(StatisticsTest, ComputesCountsMomentsAndDistributions) {
  auto stats = compute_statistics({{"train", {write_split("train", 100)}}});
  const json& s = stats.at("train");
  EXPECT_EQ(s["num_examples"], 100);
  const json& x = s["features"]["x"];
  EXPECT_EQ(x["type"], "FLOAT");
  EXPECT_EQ(x["common_stats"]["num_non_missing"], 100);
  EXPECT_EQ(x["common_stats"]["min_num_values"], 2);
  EXPECT_EQ(x["common_stats"]["tot_num_values"], 200);
  EXPECT_DOUBLE_EQ(x["num_stats"]["mean"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(x["num_stats"]["min"].get<double>(), -99.0);
  EXPECT_DOUBLE_EQ(x["num_stats"]["max"].get<double>(), 99.0);
  EXPECT_EQ(x["num_stats"]["num_zeros"], 2);
  // population std of {0..99} U {0..-99}: sqrt(mean of i^2) = sqrt(3283.5)
  EXPECT_NEAR(x["num_stats"]["std_dev"].get<double>(), std::sqrt(3283.5), 1e-9);
  uint64_t in_histogram = 0;
  for (const auto& b : x["num_stats"]["histogram"]["buckets"]) in_histogram += b["sample_count"].get<uint64_t>();
  EXPECT_EQ(in_histogram, 200u);
  EXPECT_EQ(x["num_stats"]["histogram"]["buckets"].size(), static_cast<size_t>(kHistogramBuckets));

  const json& label = s["features"]["label"];
  EXPECT_EQ(label["type"], "INT");
  ASSERT_EQ(label["value_counts"].size(), 3u);
  EXPECT_EQ(label["value_counts"][0]["count"], 34);
  const json& note = s["features"]["note"];
  EXPECT_EQ(note["common_stats"]["num_missing"], 25);
  EXPECT_EQ(note["string_stats"]["unique"], 2);
}

TEST_F(StatisticsTest, SchemaInfersShapeDomainAndPresence) {
  auto stats = compute_statistics({{"train", {write_split("train", 50)}}});
  json schema = infer_schema({stats.at("train")}, {});
  std::map<std::string, json> by_name;
  for (const auto& f : schema["feature"]) by_name[f["name"]] = f;
  EXPECT_EQ(by_name["x"]["type"], "FLOAT");
  EXPECT_EQ(by_name["x"]["shape"]["dim"][0]["size"], 2);
  EXPECT_EQ(by_name["x"]["presence"]["min_fraction"], 1.0);
  // As TFDV: no numeric ranges unless asked for; a string domain for a categorical feature.
  EXPECT_FALSE(by_name["x"].contains("float_domain"));
  EXPECT_FALSE(by_name["label"].contains("int_domain"));
  ASSERT_TRUE(by_name["note"].contains("string_domain")) << by_name["note"].dump();
  EXPECT_EQ(by_name["note"]["string_domain"]["value"].size(), 2u);
  json ranged = infer_schema({stats.at("train")}, {.infer_feature_ranges = true});
  for (const auto& f : ranged["feature"]) by_name[f["name"]] = f;
  EXPECT_DOUBLE_EQ(by_name["x"]["float_domain"]["max"].get<double>(), 49.0);
  EXPECT_EQ(by_name["label"]["int_domain"]["min"], 0);
  EXPECT_EQ(by_name["label"]["int_domain"]["max"], 2);
  EXPECT_FALSE(by_name["note"].contains("shape"));  // sometimes missing: no fixed shape
  EXPECT_FALSE(by_name["note"]["presence"].contains("min_fraction"));
  json without_shape = infer_schema({stats.at("train")}, {.infer_feature_shape = false});
  EXPECT_EQ(without_shape["feature"][2]["value_count"]["min"], 2);
}

TEST_F(StatisticsTest, CleanSplitHasNoAnomalies) {
  auto stats = compute_statistics({{"train", {write_split("train", 60)}}, {"eval", {write_split("eval", 30)}}});
  json schema = infer_schema({stats.at("train")}, {});
  json anomalies = validate_statistics(stats.at("eval"), schema, &stats.at("train"), {.default_threshold = 0.5});
  EXPECT_EQ(anomalies["num_anomalies"], 0) << anomalies.dump(2);
}

TEST_F(StatisticsTest, DetectsOutOfRangeDriftAndShape) {
  auto stats = compute_statistics({{"train", {write_split("train", 60)}}, {"eval", {write_split("eval", 60, 2, 3.0f)}}});
  // Without learned ranges, larger eval values are no anomaly (TFDV's default).
  EXPECT_FALSE(validate_statistics(stats.at("eval"), infer_schema({stats.at("train")}, {}), nullptr, {})["anomaly_info"].contains("x"));
  json schema = infer_schema({stats.at("train")}, {.infer_feature_ranges = true});
  json anomalies = validate_statistics(stats.at("eval"), schema, &stats.at("train"), {.default_threshold = 0.1});
  auto types = [&](const std::string& feature) {
    std::set<std::string> t;
    for (const auto& a : anomalies["anomaly_info"][feature]) t.insert(a["type"].get<std::string>());
    return t;
  };
  EXPECT_TRUE(types("x").count("FLOAT_TYPE_OUT_OF_RANGE"));
  // label: train is 1/3 each of {0,1,2}; eval is 1/2 each of {0,1} -> L-inf = 1/3.
  EXPECT_TRUE(types("label").count("COMPARATOR_L_INFTY_HIGH"));
  auto distance = distribution_distance(stats.at("eval")["features"]["label"], stats.at("train")["features"]["label"]);
  ASSERT_TRUE(distance.has_value());
  EXPECT_NEAR(*distance, 1.0 / 3.0, 1e-9);
  // A per-feature threshold overrides the default.
  json lenient = validate_statistics(stats.at("eval"), schema, &stats.at("train"),
                                     {.default_threshold = 0.1, .feature_thresholds = {{"label", 0.5}, {"x", 1.0}, {"note", 1.0}}});
  EXPECT_FALSE(lenient["anomaly_info"].contains("label"));
}

TEST_F(StatisticsTest, DetectsMissingFeatureWrongTypeAndNewColumn) {
  auto stats = compute_statistics({{"train", {write_split("train", 20)}}});
  json schema = infer_schema({stats.at("train")}, {});
  json other = stats.at("train");
  other["features"].erase("x");
  other["features"]["label"]["type"] = "FLOAT";
  other["features"]["surprise"] = other["features"]["note"];
  json anomalies = validate_statistics(other, schema, nullptr, {});
  EXPECT_EQ(anomalies["anomaly_info"]["x"][0]["type"], "SCHEMA_MISSING_COLUMN");
  EXPECT_EQ(anomalies["anomaly_info"]["label"][0]["type"], "UNEXPECTED_DATA_TYPE");
  EXPECT_EQ(anomalies["anomaly_info"]["surprise"][0]["type"], "SCHEMA_NEW_COLUMN");
  json wrong_shape = stats.at("train");
  wrong_shape["features"]["x"]["common_stats"]["max_num_values"] = 3;
  EXPECT_EQ(validate_statistics(wrong_shape, schema, nullptr, {})["anomaly_info"]["x"][0]["type"], "INVALID_FEATURE_SHAPE");
}

}  // namespace
}  // namespace litepipe
