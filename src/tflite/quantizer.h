#pragma once
// The public include path of full-integer post-training quantization (conversion/); the declarations live in tflite/conversion/quantizer.h.
#include "tflite/conversion/quantizer.h"
