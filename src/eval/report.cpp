#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

namespace litepipe::eval {
namespace {

using nlohmann::json;

constexpr const char* kColorA = "#4e79a7";
constexpr const char* kColorB = "#f28e2b";
constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

constexpr const char* kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1240px; padding: 0 12px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 4px; } h2 { font-size: 1.2em; margin-top: 32px; border-bottom: 1px solid #ddd; }
.sub { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.pos { color: #1a7f37; } .neg { color: #c0392b; }
.a { color: #4e79a7; font-weight: 600; } .b { color: #f28e2b; font-weight: 600; }
.row { display: flex; flex-wrap: wrap; gap: 32px; align-items: flex-start; }
table.cm td, table.cm th { min-width: 24px; padding: 2px 4px; text-align: center; } table.cm td.diag { font-weight: 700; }
svg text { font-family: inherit; }
)";

// ---------------------------------------------------------------- text and numbers

double number(const json& v) { return v.is_number() ? v.get<double>() : kNoValue; }

// `j[key]`, or null when `j` is not an object or lacks it (operator[] on a const json must not be
// given a missing key).
const json& member(const json& j, const char* key) {
  static const json null = nullptr;
  if (!j.is_object()) return null;
  auto it = j.find(key);
  return it == j.end() ? null : *it;
}

std::string text_of(const json& j, const char* key) {
  const json& v = member(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string fixed(const json& v, int digits = 4) {
  if (v.is_number_integer() || v.is_number_unsigned()) return std::to_string(v.get<int64_t>());
  if (!v.is_number()) return "–";
  return fmt::format("{:.{}f}", v.get<double>(), digits);
}

// A signed difference, colored by whether it is good news (lower_is_better flips the colors).
std::string delta_cell(const json& v, bool lower_is_better = false, int digits = 4) {
  if (!v.is_number()) return "–";
  double d = v.get<double>();
  const char* cls = d == 0 ? "" : ((d > 0) != lower_is_better ? "pos" : "neg");
  return fmt::format("<span class=\"{}\">{:+.{}f}</span>", cls, d, digits);
}

std::string bytes_text(const json& v) {
  if (!v.is_number()) return "–";
  return fmt::format("{} B ({:.1f} KiB)", v.get<uint64_t>(), static_cast<double>(v.get<uint64_t>()) / 1024.0);
}

std::string ratio_text(const json& v) { return v.is_number() ? fmt::format("{:.3f}×", v.get<double>()) : "–"; }

// ---------------------------------------------------------------- tables

// `header` and `rows` hold HTML (escape text before passing it).
std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows, const std::string& cls = "") {
  std::string out = cls.empty() ? "<table>" : fmt::format("<table class=\"{}\">", cls);
  out += "<tr>";
  for (const auto& h : header) out += "<th>" + h + "</th>";
  out += "</tr>\n";
  for (const auto& row : rows) {
    out += "<tr>";
    for (const auto& c : row) out += "<td>" + c + "</td>";
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

// Class `id` as the report shows it: "2 Gentoo" when the comparison has class names.
std::string class_label(const json& c, int64_t id) {
  const json names = c.value("class_names", json::array());
  if (id >= 0 && static_cast<size_t>(id) < names.size() && names[static_cast<size_t>(id)].is_string()) {
    return fmt::format("{} {}", id, names[static_cast<size_t>(id)].get<std::string>());
  }
  return std::to_string(id);
}

// A confusion matrix as a table whose cells are shaded by their share of the row (actual class).
std::string confusion_table(const json& plot, const std::string& color, const json& c) {
  if (!plot.is_object() || !plot.contains("matrix")) return "<p class=\"sub\">No confusion matrix in plots.json.</p>";
  const json& matrix = plot["matrix"];
  std::vector<std::string> ids;
  for (const auto& id : plot.value("class_ids", json::array())) {
    ids.push_back(html_escape(id.is_number_integer() ? class_label(c, id.get<int64_t>()) : id.is_string() ? id.get<std::string>() : id.dump()));
  }
  while (ids.size() < matrix.size()) ids.push_back(html_escape(class_label(c, static_cast<int64_t>(ids.size()))));
  std::string out = "<table class=\"cm\"><tr><th>actual \\ pred.</th>";
  for (const auto& id : ids) out += "<th>" + id + "</th>";
  out += "</tr>\n";
  for (size_t r = 0; r < matrix.size(); ++r) {
    double total = 0;
    for (const auto& v : matrix[r]) total += number(v);
    out += "<tr><th>" + ids[r] + "</th>";
    for (size_t c = 0; c < matrix[r].size(); ++c) {
      double share = total > 0 ? number(matrix[r][c]) / total : 0;
      out += fmt::format("<td class=\"{}\" style=\"background:{}{:02x};color:{}\">{}</td>", r == c ? "diag" : "", color,
                         static_cast<int>(std::lround(share * 255)), share > 0.6 ? "#fff" : "#222", fixed(matrix[r][c]));
    }
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

// ---------------------------------------------------------------- SVG plots

struct Series {
  std::string name, color;
  std::vector<double> values;  // NaN: no bar
};

struct Line {
  std::string name, color;
  std::vector<std::pair<double, double>> points;
};

constexpr double kWidth = 520, kHeight = 300, kLeft = 56, kRight = 16, kTop = 40, kBottom = 46;

std::string svg_open(const std::string& title) {
  return fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" role=\"img\">"
                     "<title>{}</title><text x=\"{}\" y=\"13\" font-size=\"14\" font-weight=\"600\">{}</text>\n",
                     kWidth, kHeight, kWidth, kHeight, html_escape(title), kLeft, html_escape(title));
}

std::string legend(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out;
  double x = kWidth - kRight;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    x -= 14 + 6.2 * static_cast<double>(it->first.size()) + 14;
    out += fmt::format("<rect x=\"{:.1f}\" y=\"18\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1f}\" y=\"27\" font-size=\"12\">{}</text>\n",
                       x, it->second, x + 14, html_escape(it->first));
  }
  return out;
}

// Horizontal grid lines and labels of a y axis from `lo` to `hi`.
std::string y_axis(double lo, double hi, const std::string& label) {
  std::string out;
  double plot_h = kHeight - kTop - kBottom;
  for (int i = 0; i <= 5; ++i) {
    double v = lo + (hi - lo) * i / 5.0, y = kTop + plot_h * (1 - i / 5.0);
    out += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#e3e3e3\"/><text x=\"{}\" y=\"{:.1f}\" font-size=\"11\" "
                       "text-anchor=\"end\">{:.2f}</text>\n",
                       kLeft, y, kWidth - kRight, y, kLeft - 6, y + 4, v);
  }
  out += fmt::format("<text transform=\"translate(14 {:.1f}) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n", kTop + plot_h / 2,
                     html_escape(label));
  return out;
}

// Grouped bars: one group per category, one bar per series, on a y axis from `lo` to `hi`.
std::string bar_chart_svg(const std::string& title, const std::vector<std::string>& categories, const std::vector<Series>& series, double lo,
                          double hi, const std::string& y_label, const std::string& x_label) {
  std::string out = svg_open(title) + y_axis(lo, hi, y_label);
  double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  double group_w = plot_w / static_cast<double>(std::max<size_t>(1, categories.size()));
  double bar_w = group_w * 0.8 / static_cast<double>(std::max<size_t>(1, series.size()));
  for (size_t c = 0; c < categories.size(); ++c) {
    double x0 = kLeft + group_w * static_cast<double>(c) + group_w * 0.1;
    for (size_t s = 0; s < series.size(); ++s) {
      double v = c < series[s].values.size() ? series[s].values[c] : kNoValue;
      if (std::isnan(v)) continue;
      double share = std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
      out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{} {}: {:.4f}</title></rect>\n",
                         x0 + bar_w * static_cast<double>(s), kTop + plot_h * (1 - share), bar_w, plot_h * share, series[s].color,
                         html_escape(series[s].name), html_escape(categories[c]), v);
    }
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\n", x0 + group_w * 0.4, kTop + plot_h + 14,
                       html_escape(categories[c]));
  }
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n", kLeft + plot_w / 2, kHeight - 8,
                     html_escape(x_label));
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& s : series) entries.emplace_back(s.name, s.color);
  return out + legend(entries) + "</svg>\n";
}

// Lines with markers on [0, 1] x [0, 1], optionally with the diagonal y = x.
std::string line_chart_svg(const std::string& title, const std::vector<Line>& lines, bool diagonal, const std::string& x_label,
                           const std::string& y_label) {
  std::string out = svg_open(title) + y_axis(0, 1, y_label);
  double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + plot_w * std::clamp(x, 0.0, 1.0); };
  auto py = [&](double y) { return kTop + plot_h * (1 - std::clamp(y, 0.0, 1.0)); };
  for (int i = 0; i <= 5; ++i) {
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"middle\">{:.1f}</text>\n", px(i / 5.0), kTop + plot_h + 14, i / 5.0);
  }
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n", kLeft + plot_w / 2, kHeight - 8,
                     html_escape(x_label));
  std::vector<std::pair<std::string, std::string>> entries;
  if (diagonal) {
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#999\" stroke-dasharray=\"5 4\"/>\n", px(0), py(0), px(1), py(1));
    entries.emplace_back("perfect calibration", "#999");
  }
  for (const auto& line : lines) {
    std::string points;
    for (const auto& [x, y] : line.points) points += fmt::format("{:.1f},{:.1f} ", px(x), py(y));
    out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", points, line.color);
    for (const auto& [x, y] : line.points) {
      out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{}: confidence {:.3f}, accuracy {:.3f}</title></circle>\n", px(x),
                         py(y), line.color, html_escape(line.name), x, y);
    }
    entries.emplace_back(line.name, line.color);
  }
  return out + legend(entries) + "</svg>\n";
}

struct Point {
  double x, y;
};

struct ScatterSeries {
  std::string name, color;
  std::vector<Point> points;
};

// A range [lo, hi] holding `values` (one unit around a single value).
std::pair<double, double> value_range(const std::vector<double>& values) {
  if (values.empty()) return {0, 1};
  auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  return *lo == *hi ? std::pair{*lo - 0.5, *hi + 0.5} : std::pair{*lo, *hi};
}

// x tick labels of an axis from `lo` to `hi`, and its title.
std::string x_axis(double lo, double hi, const std::string& label) {
  std::string out;
  double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  for (int i = 0; i <= 5; ++i) {
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"middle\">{:.4g}</text>\n", kLeft + plot_w * i / 5.0,
                       kTop + plot_h + 14, lo + (hi - lo) * i / 5.0);
  }
  return out + fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" text-anchor=\"middle\">{}</text>\n", kLeft + plot_w / 2,
                           kHeight - 8, html_escape(label));
}

// Points of each series on one square range (x and y alike), with the diagonal y = x: a
// regression model's prediction against the label.
std::string scatter_svg(const std::string& title, const std::vector<ScatterSeries>& series, const std::string& x_label, const std::string& y_label) {
  std::vector<double> all;
  for (const auto& s : series)
    for (const auto& p : s.points) all.insert(all.end(), {p.x, p.y});
  const auto range = value_range(all);
  const double lo = range.first, hi = range.second;
  double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + plot_w * (x - lo) / (hi - lo); };
  auto py = [&](double y) { return kTop + plot_h * (1 - (y - lo) / (hi - lo)); };
  std::string out = svg_open(title) + y_axis(lo, hi, y_label) + x_axis(lo, hi, x_label);
  out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#999\" stroke-dasharray=\"5 4\"/>\n", px(lo), py(lo), px(hi), py(hi));
  std::vector<std::pair<std::string, std::string>> entries = {{"prediction = label", "#999"}};
  for (const auto& s : series) {
    out += fmt::format("<g class=\"scatter\" fill=\"{}\" fill-opacity=\"0.6\">", s.color);
    for (const auto& p : s.points) out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\"/>", px(p.x), py(p.y));
    out += "</g>\n";
    entries.emplace_back(s.name, s.color);
  }
  return out + legend(entries) + "</svg>\n";
}

struct Bucket {
  double lower, upper, count;
};

struct HistogramSeries {
  std::string name, color;
  std::vector<Bucket> buckets;
};

// Overlaid histograms (each series its own buckets) on a shared x axis, with a line at x = 0.
std::string histogram_svg(const std::string& title, const std::vector<HistogramSeries>& series, const std::string& x_label) {
  std::vector<double> edges;
  double most = 1;
  for (const auto& s : series) {
    for (const auto& b : s.buckets) {
      edges.insert(edges.end(), {b.lower, b.upper});
      most = std::max(most, b.count);
    }
  }
  const auto range = value_range(edges);
  const double lo = range.first, hi = range.second;
  double top = std::ceil(most * 1.1 / 5) * 5;  // five grid steps of whole examples
  double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + plot_w * (x - lo) / (hi - lo); };
  std::string out = svg_open(title) + y_axis(0, top, "examples") + x_axis(lo, hi, x_label);
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& s : series) {
    out += fmt::format("<g class=\"histogram\" fill=\"{}\" fill-opacity=\"0.55\">", s.color);
    for (const auto& b : s.buckets) {
      if (b.count <= 0) continue;
      double h = plot_h * b.count / top;
      out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"><title>{} [{:.4g}, {:.4g}): {}</title></rect>", px(b.lower),
                         kTop + plot_h - h, std::max(1.0, px(b.upper) - px(b.lower)), h, html_escape(s.name), b.lower, b.upper, b.count);
    }
    out += "</g>\n";
    entries.emplace_back(s.name, s.color);
  }
  if (lo < 0 && hi > 0) {
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#555\" stroke-dasharray=\"3 3\"/>\n", px(0), kTop, px(0),
                       kTop + plot_h);
  }
  return out + legend(entries) + "</svg>\n";
}

// ---------------------------------------------------------------- sections

bool is_regression(const json& c) { return text_of(member(c, "agreement"), "problem_type") == "regression"; }

struct Sides {
  std::string a, b;  // escaped titles
};

const json& overall_deltas(const json& c) {
  static const json empty = json::object();
  for (const auto& s : c["metric_deltas"])
    if (s["slice_key"] == "Overall") return s["metrics"];
  return empty;
}

std::string headline_section(const json& c, const Sides& t) {
  enum Better { Higher, Lower, Neither };
  struct Row {
    const char* metric;
    const char* label;
    Better better;
  };
  // Whichever of these the evaluations have: classifiers' or regression models'.
  const std::vector<Row> rows = {{"sparse_categorical_accuracy", "accuracy", Higher},
                                 {"binary_accuracy", "binary accuracy", Higher},
                                 {"sparse_categorical_crossentropy", "loss (crossentropy)", Lower},
                                 {"auc", "AUC (macro, one-vs-rest)", Higher},
                                 {"expected_calibration_error", "expected calibration error", Lower},
                                 {"mean_squared_error", "mean squared error", Lower},
                                 {"root_mean_squared_error", "root mean squared error", Lower},
                                 {"mean_absolute_error", "mean absolute error", Lower},
                                 {"mean_absolute_percentage_error", "mean absolute percentage error", Lower},
                                 {"r2_score", "R² (coefficient of determination)", Higher},
                                 {"mean_label", "mean label", Neither},
                                 {"mean_prediction", "mean prediction", Neither},
                                 {"example_count", "example count", Neither}};
  const json& overall = overall_deltas(c);
  std::vector<std::vector<std::string>> cells;
  for (const auto& r : rows) {
    if (!overall.contains(r.metric)) continue;
    const json& d = overall[r.metric];
    int digits = std::string(r.metric) == "example_count" ? 0 : 4;
    // Counts and means are neither good nor bad news: the delta is not colored.
    std::string delta = r.better == Neither && d["delta"].is_number() ? fmt::format("{:+.{}f}", d["delta"].get<double>(), digits)
                                                                      : delta_cell(d["delta"], r.better == Lower, digits);
    cells.push_back({fmt::format("{} <span class=\"sub\">({})</span>", r.label, r.metric), fixed(d["a"], digits), fixed(d["b"], digits), delta});
  }
  const json& ag = c["agreement"];
  if (is_regression(c)) cells.push_back({"mean |Δ prediction| (example by example)", "", "", fixed(member(ag, "mean_abs_prediction_delta"), 6)});
  else cells.push_back({"top-1 agreement", "", "", fixed(ag["agreement_rate"])});
  return "<h2>Headline (Overall slice)</h2>\n" + html_table({"metric", t.a, t.b, "Δ (B − A)"}, cells);
}

// Regression: prediction against label for both models, and their residual histograms (Overall,
// from plots.json: the scatter is a sample of at most the plot's max_points examples).
std::string regression_plots_section(const json& c) {
  std::vector<ScatterSeries> scatter;
  std::vector<HistogramSeries> histograms;
  std::string sampled;
  for (const char* side : {"a", "b"}) {
    const std::string title = c[side]["title"].get<std::string>(), color = side == std::string("a") ? kColorA : kColorB;
    const json& plots = member(member(c, "plots"), side);
    ScatterSeries points{title, color, {}};
    const json& sc = member(plots, "prediction_label_scatter");
    for (const auto& p : member(sc, "points").is_array() ? member(sc, "points") : json::array()) points.points.push_back({number(member(p, "label")), number(member(p, "prediction"))});
    if (member(sc, "example_count").is_number()) {
      sampled += fmt::format("{}{}: {} of {} examples", sampled.empty() ? "" : "; ", html_escape(title), points.points.size(), fixed(member(sc, "example_count")));
    }
    scatter.push_back(points);
    HistogramSeries h{title, color, {}};
    const json& buckets = member(member(plots, "residual_histogram"), "buckets");
    for (const auto& b : buckets.is_array() ? buckets : json::array()) h.buckets.push_back({number(member(b, "lower_bound")), number(member(b, "upper_bound")), number(member(b, "count"))});
    histograms.push_back(h);
  }
  return "<h2>Predictions (regression, Overall)</h2>\n<div class=\"row\"><div>" +
         scatter_svg("Prediction vs label", scatter, "label", "prediction") + (sampled.empty() ? "" : "<p class=\"sub\">Points: " + sampled + ".</p>") +
         "</div><div>" + histogram_svg("Residual histogram", histograms, "residual (prediction − label)") + "</div></div>\n";
}

std::string regression_agreement_section(const json& c, const Sides& t) {
  const json& ag = c["agreement"];
  const json& at = member(ag, "max_abs_prediction_delta_at");
  std::string where = at.is_object() ? fmt::format(" (example_index {}, label {:.6g}: {:.6g} → {:.6g})", fixed(member(at, "example_index")),
                                                   number(member(at, "label")), number(member(at, "a")), number(member(at, "b")))
                                     : "";
  std::vector<std::vector<std::string>> rows = {
      {"examples compared (matched by example_index)", fixed(member(ag, "example_count"))},
      {"max |Δ prediction|", fixed(member(ag, "max_abs_prediction_delta"), 6) + html_escape(where)},
      {"mean |Δ prediction|", fixed(member(ag, "mean_abs_prediction_delta"), 8)},
      {"mean absolute error " + t.a, fixed(member(ag, "mae_a"), 6)},
      {"mean absolute error " + t.b, fixed(member(ag, "mae_b"), 6)},
      {"root mean squared error " + t.a, fixed(member(ag, "rmse_a"), 6)},
      {"root mean squared error " + t.b, fixed(member(ag, "rmse_b"), 6)}};
  return "<h2>Agreement, example by example</h2>\n" + html_table({"", "value"}, rows);
}

std::string per_class_section(const json& c) {
  const json& overall = overall_deltas(c);
  auto per_class = [&](const char* metric, const std::string& cls, const char* side) {
    if (!overall.contains(metric) || !overall[metric].contains("per_class") || !overall[metric]["per_class"].contains(cls)) return std::string("–");
    return fixed(overall[metric]["per_class"][cls][side]);
  };
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> categories;
  Series acc_a{c["a"]["title"].get<std::string>(), kColorA, {}}, acc_b{c["b"]["title"].get<std::string>(), kColorB, {}};
  // The accuracy on the examples of one label is that class's recall: one column each, from the
  // example-by-example agreement (present whatever metrics were configured).
  for (const auto& k : c["agreement"]["per_class"]) {
    std::string cls = std::to_string(k["class"].get<int64_t>());
    std::string shown = html_escape(class_label(c, k["class"].get<int64_t>()));
    categories.push_back(class_label(c, k["class"].get<int64_t>()));
    acc_a.values.push_back(number(k["accuracy_a"]));
    acc_b.values.push_back(number(k["accuracy_b"]));
    json delta = k["accuracy_a"].is_number() && k["accuracy_b"].is_number() ? json(number(k["accuracy_b"]) - number(k["accuracy_a"])) : json(nullptr);
    rows.push_back({shown, fixed(k["example_count"]), fixed(k["accuracy_a"]), fixed(k["accuracy_b"]), delta_cell(delta), per_class("precision", cls, "a"),
                    per_class("precision", cls, "b"), fixed(k["top1_flips"])});
  }
  return "<h2>Per class (by label)</h2>\n<div class=\"row\"><div>" +
         html_table({"class", "examples", "accuracy (= recall) A", "accuracy (= recall) B", "Δ", "precision A", "precision B", "top-1 flips"}, rows) +
         "</div><div>" + bar_chart_svg("Accuracy (= recall) per class", categories, {acc_a, acc_b}, 0, 1, "accuracy", "class (label)") + "</div></div>\n";
}

std::string confusion_section(const json& c, const Sides& t) {
  auto matrix = [&](const char* side) { return c["plots"][side].value("multi_class_confusion_matrix_plot", json(nullptr)); };
  return "<h2>Confusion matrices (Overall; rows actual, columns predicted)</h2>\n<div class=\"row\"><div><p class=\"a\">" + t.a + "</p>" +
         confusion_table(matrix("a"), kColorA, c) + "</div><div><p class=\"b\">" + t.b + "</p>" + confusion_table(matrix("b"), kColorB, c) + "</div></div>\n";
}

std::string calibration_section(const json& c, const Sides& t) {
  std::vector<Line> lines;
  std::vector<std::vector<std::string>> rows;
  for (const char* side : {"a", "b"}) {
    Line line{c[side]["title"].get<std::string>(), side == std::string("a") ? kColorA : kColorB, {}};
    const json plot = c["plots"][side].value("calibration_plot", json::object());
    for (const auto& bucket : plot.value("buckets", json::array())) {
      if (number(member(bucket, "count")) > 0) line.points.emplace_back(number(member(bucket, "mean_confidence")), number(member(bucket, "accuracy")));
    }
    lines.push_back(line);
    const json& ece = overall_deltas(c).value("expected_calibration_error", json::object());
    rows.push_back({side == std::string("a") ? t.a : t.b, fixed(ece.value(side, json(nullptr))), std::to_string(line.points.size())});
  }
  return "<h2>Calibration (reliability curves, Overall)</h2>\n<div class=\"row\"><div>" +
         line_chart_svg("Reliability: accuracy vs top-1 confidence", lines, true, "mean top-1 confidence in bucket", "accuracy in bucket") +
         "</div><div>" + html_table({"model", "expected calibration error", "non-empty buckets"}, rows) + "</div></div>\n";
}

std::string agreement_section(const json& c) {
  const json& ag = c["agreement"];
  const json& at = ag["max_abs_probability_delta_at"];
  std::string where = at.is_object() ? fmt::format(" (example_index {}, class {}, label {}: {:.4f} → {:.4f})", fixed(at["example_index"]), fixed(at["class"]),
                                                   fixed(at["label"]), number(at["a"]), number(at["b"]))
                                     : "";
  std::vector<std::vector<std::string>> rows = {
      {"examples compared (matched by example_index)", fixed(ag["example_count"])},
      {"top-1 flips (predicted class differs)", fixed(ag["top1_flips"])},
      {"agreement rate", fixed(ag["agreement_rate"])},
      {"A right, B wrong", fixed(ag["a_right_b_wrong"])},
      {"A wrong, B right", fixed(ag["a_wrong_b_right"])},
      {"max |Δ probability|", fixed(ag["max_abs_probability_delta"], 6) + html_escape(where)},
      {"mean |Δ probability|", fixed(ag["mean_abs_probability_delta"], 8)}};
  std::vector<std::string> categories;
  Series flips{"top-1 flips", "#b07aa1", {}};
  double most = 1;
  for (const auto& k : ag["per_class"]) {
    categories.push_back(class_label(c, k["class"].get<int64_t>()));
    flips.values.push_back(number(k["top1_flips"]));
    most = std::max(most, number(k["top1_flips"]));
  }
  return "<h2>Agreement, example by example</h2>\n<div class=\"row\"><div>" + html_table({"", "value"}, rows) + "</div><div>" +
         bar_chart_svg("Top-1 flips per class", categories, {flips}, 0, std::ceil(most * 1.1 / 5) * 5, "examples", "class (label)") + "</div></div>\n";
}

std::string size_latency_section(const json& c, const Sides& t) {
  std::vector<std::vector<std::string>> rows = {{"model type", html_escape(c["a"]["model"].value("model_type", "")), html_escape(c["b"]["model"].value("model_type", "")), ""},
                                                {"file size", bytes_text(c["size"]["a_bytes"]), bytes_text(c["size"]["b_bytes"]), ratio_text(c["size"]["ratio_b_to_a"])}};
  const json& lat = c["latency"];
  std::string note = "<p class=\"sub\">Latency not measured.</p>";
  if (lat.is_object()) {
    for (const char* stat : {"p50_us", "p90_us", "mean_us"}) {
      double a = number(lat["a"][stat]), b = number(lat["b"][stat]);
      rows.push_back({fmt::format("batch-1 latency {} (µs)", std::string(stat).substr(0, std::string(stat).find('_'))), fixed(lat["a"][stat], 1),
                      fixed(lat["b"][stat], 1), a > 0 ? ratio_text(b / a) : "–"});
    }
    note = fmt::format("<p class=\"sub\">Latency: {} timed runs after {} warmup, batch 1, {} OpenMP threads, on this machine; input: {}. "
                       "Each run times {}.</p>",
                       fixed(lat["runs"]), fixed(lat["warmup"]), fixed(lat["threads"]), html_escape(text_of(lat, "input")),
                       html_escape(text_of(lat, "timed")));
  }
  return "<h2>Size and latency</h2>\n" + html_table({"", t.a, t.b, "ratio B / A"}, rows) + note;
}

std::string slices_section(const json& c, const Sides& t) {
  // Classifiers: accuracy and loss; regression models: mean absolute and squared error.
  const bool regression = is_regression(c);
  const char* main = regression ? "mean_absolute_error" : "sparse_categorical_accuracy";
  const char* second = regression ? "mean_squared_error" : "sparse_categorical_crossentropy";
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : c["metric_deltas"]) {
    const json& m = s["metrics"];
    auto get = [&](const char* metric, const char* field) { return m.contains(metric) ? m[metric][field] : json(nullptr); };
    rows.push_back({html_escape(s["slice_key"].get<std::string>()), fixed(get("example_count", "a")), fixed(get(main, "a")), fixed(get(main, "b")),
                    delta_cell(get(main, "delta"), regression), delta_cell(get(second, "delta"), true)});
  }
  std::string label = regression ? "MAE" : "accuracy";
  std::string out = "<h2>Metric deltas per slice</h2>\n" +
                    html_table({"slice", "examples", label + " " + t.a, label + " " + t.b, "Δ " + label, regression ? "Δ MSE" : "Δ loss"}, rows);
  for (const char* key : {"slices_only_in_a", "slices_only_in_b"}) {
    if (c[key].empty()) continue;
    std::string names;
    for (const auto& s : c[key]) names += (names.empty() ? "" : ", ") + html_escape(s.get<std::string>());
    out += fmt::format("<p class=\"sub\">Only in {}: {}</p>\n", key == std::string("slices_only_in_a") ? t.a : t.b, names);
  }
  return out;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string comparison_report_html(const json& c) {
  Sides t{html_escape(c["a"]["title"].get<std::string>()), html_escape(c["b"]["title"].get<std::string>())};
  std::string subtitle;
  for (const char* side : {"a", "b"}) {
    subtitle += fmt::format("<div><span class=\"{}\">{}</span> ({}): {} — evaluation {}</div>\n", side, side == std::string("a") ? "A = " + t.a : "B = " + t.b,
                            html_escape(c[side]["model"].value("model_type", "")), html_escape(c[side]["model"].value("path", "")),
                            html_escape(c[side].value("evaluation", "")));
  }
  // Regression models have no classes: a scatter plot and residual histogram instead of the
  // per-class, confusion matrix and calibration sections.
  std::string body = is_regression(c) ? regression_plots_section(c) + regression_agreement_section(c, t)
                                      : per_class_section(c) + confusion_section(c, t) + calibration_section(c, t) + agreement_section(c);
  return fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>litepipe: {} vs {}</title><style>{}</style></head>\n"
                     "<body>\n<h1>Model comparison: <span class=\"a\">{}</span> vs <span class=\"b\">{}</span></h1>\n<div class=\"sub\">{}</div>\n"
                     "{}{}{}{}</body></html>\n",
                     t.a, t.b, kStyle, t.a, t.b, subtitle, headline_section(c, t), body, size_latency_section(c, t), slices_section(c, t));
}

}  // namespace litepipe::eval
