#pragma once
// UTF-8 validation: text read from files (flatbuffer strings, YAML, CSV) ends up in JSON, whose
// serializer accepts only well-formed UTF-8.
#include <cstdint>
#include <string_view>

namespace litepipe {

// Well-formed UTF-8: no stray continuation bytes, overlong forms, surrogates or code points above
// U+10FFFF (what nlohmann::json's serializer accepts).
inline bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  static constexpr uint32_t kMinCodePoint[] = {0, 0x80, 0x800, 0x10000};
  for (size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) extra = 1, cp = c & 0x1Fu;
    else if ((c & 0xF0) == 0xE0) extra = 2, cp = c & 0x0Fu;
    else if ((c & 0xF8) == 0xF0) extra = 3, cp = c & 0x07u;
    else return false;
    if (n - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3Fu);
    }
    if (cp < kMinCodePoint[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

}  // namespace litepipe
