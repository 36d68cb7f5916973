#pragma once
// The public include path of TFLite Support's model metadata (support/); the declarations live in tflite/support/metadata.h.
#include "tflite/support/metadata.h"
