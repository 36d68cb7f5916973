#pragma once
// The public include path of TFX's rewriter API (conversion/); the declarations live in tflite/conversion/rewriter.h.
#include "tflite/conversion/rewriter.h"
