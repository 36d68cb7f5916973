#pragma once
// The comparison report: one self-contained HTML page (inline CSS and inline SVG plots, nothing
// fetched from the network) rendered from comparison.json (eval/compare.h).
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace litepipe::eval {

std::string comparison_report_html(const nlohmann::json& comparison);

// Text made safe for HTML element content and attribute values (& < > " ').
std::string html_escape(std::string_view text);

}  // namespace litepipe::eval
