#pragma once
// The public include path of the ONNX -> TensorFlow Lite converter (conversion/); the declarations live in tflite/conversion/converter.h.
#include "tflite/conversion/converter.h"
