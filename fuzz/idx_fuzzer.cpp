// IDX files (MNIST / Fashion-MNIST): read_idx_images and read_idx_labels on the same file (the
// magic number decides which one accepts it), plain or gzip (an input starting with 1f 8b is read
// as "*.gz"), then the examples ExampleGen's read_idx_dir makes of them.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/example_sources.h"
#include "fuzz_util.h"

using namespace litepipe;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::as_view(data, size);
  auto path = fuzz::write_scratch_file(fuzz::looks_gzip(bytes) ? "data-images-idx3-ubyte.gz" : "data-images-idx3-ubyte", bytes);
  try {
    IdxImages images = read_idx_images(path);
    size_t image_size = size_t{images.rows} * images.cols;
    for (uint32_t i = 0; i < images.count; ++i) {
      (void)make_image_example(images.pixels.data() + i * image_size, image_size, static_cast<int64_t>(i % 10));
    }
  } catch (const Error&) {
  }
  try {
    std::vector<uint8_t> labels = read_idx_labels(path);
    (void)std::count(labels.begin(), labels.end(), uint8_t{0});
  } catch (const Error&) {
  }
  return 0;
}
