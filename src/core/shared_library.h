#pragma once
// User modules (run_fn, preprocessing_fn) are shared libraries loaded at run time.
#include <dlfcn.h>

#include <filesystem>
#include <string>

#include "core/error.h"

namespace litepipe {

class SharedLibrary {
 public:
  // Loads `path` (kept loaded for the life of the process: modules may leave static state behind).
  explicit SharedLibrary(const std::filesystem::path& path) : path_(path.string()) {
    if (!std::filesystem::exists(path)) fail("module_file {}: no such file (build it with CMake first)", path_);
    handle_ = ::dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) fail("module_file {}: cannot load: {}", path_, ::dlerror());
  }
  template <typename Fn>
  Fn* symbol(const std::string& name) const {
    ::dlerror();
    void* p = ::dlsym(handle_, name.c_str());
    if (!p) fail("module_file {}: has no function '{}' (declare it extern \"C\")", path_, name);
    return reinterpret_cast<Fn*>(p);
  }

 private:
  std::string path_;
  void* handle_ = nullptr;
};

}  // namespace litepipe
