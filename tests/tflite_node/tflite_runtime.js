// Loads a .tflite model into the real TensorFlow Lite runtime (TFLite compiled to WebAssembly,
// from npm @tensorflow/tfjs-tflite): the plain build (no SIMD, no threads), one thread, profiling
// on so the scripts can report which node types ran.
'use strict';
const fs = require('fs');
const path = require('path');

async function loadRunner(modelPath) {
  const wasmDir = path.join(__dirname, '..', '..', 'third_party', 'npm', 'node_modules', '@tensorflow', 'tfjs-tflite', 'wasm');
  const factory = require(path.join(wasmDir, 'tflite_web_api_cc.js'));
  const Module = await factory({ wasmBinary: fs.readFileSync(path.join(wasmDir, 'tflite_web_api_cc.wasm')), print: () => {}, printErr: (text) => process.stderr.write(text + '\n') });
  const model = fs.readFileSync(modelPath);
  const pointer = Module._malloc(model.length);
  Module.HEAPU8.set(model, pointer);
  const status = Module.TFLiteWebModelRunner.CreateFromBufferAndOptions(
      pointer, model.length, { numThreads: 1, enableProfiling: true, maxProfilingBufferEntries: 4096 });
  if (!status.ok()) throw new Error('TFLite could not load ' + modelPath + ': ' + status.errorMessage());
  return status.value();
}

// The node types the runner executed (from its profile).
function executedNodeTypes(runner) {
  const kinds = new Set();
  const results = runner.GetProfilingResults();
  for (let i = 0; i < results.size(); ++i) kinds.add(results.get(i).nodeType);
  return [...kinds];
}

module.exports = { loadRunner, executedNodeTypes };
