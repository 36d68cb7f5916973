#pragma once
// Pusher: copies a blessed model's serving folder to push_destination.filesystem.base_directory
// /<version>/ (version = unix time in seconds, as TFX; the next free number if taken). The copy is
// made in a hidden folder beside the destination and renamed into place, so a model server
// watching base_directory never sees half a version. A model whose blessing is not BLESSED is not
// pushed; the PushedModel artifact then says pushed = 0.
#include <memory>
#include <string>

#include "pipeline/registry.h"

namespace litepipe {

struct PusherArgs {
  Channel model = {};
  Channel model_blessing = {};  // optional, as in TFX: without it the model is pushed
  std::string base_directory = {};  // push_destination.filesystem.base_directory
};

const ComponentRegistration& pusher_registration();
std::shared_ptr<Component> Pusher(const PusherArgs& args);

}  // namespace litepipe
