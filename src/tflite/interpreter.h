#pragma once
// The public include path of the interpreter and SignatureRunner (runtime/); the declarations live in tflite/runtime/interpreter.h.
#include "tflite/runtime/interpreter.h"
