// Batch-1 latency of a .tflite model in the real TensorFlow Lite runtime (WebAssembly build of
// npm @tensorflow/tfjs-tflite under Node): `node bench/tflite_latency.js MODEL [plain|simd] [RUNS]`.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [modelPath, variant = 'plain', runs = '2000'] = process.argv.slice(2);
  const wasmDir = path.join(__dirname, '..', 'third_party', 'npm', 'node_modules', '@tensorflow', 'tfjs-tflite', 'wasm');
  const base = variant === 'simd' ? 'tflite_web_api_cc_simd' : 'tflite_web_api_cc';
  const factory = require(path.join(wasmDir, base + '.js'));
  const Module = await factory({ wasmBinary: fs.readFileSync(path.join(wasmDir, base + '.wasm')), print: () => {}, printErr: () => {} });
  const model = fs.readFileSync(modelPath);
  const pointer = Module._malloc(model.length);
  Module.HEAPU8.set(model, pointer);
  const status = Module.TFLiteWebModelRunner.CreateFromBufferAndOptions(pointer, model.length, { numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 16 });
  if (!status.ok()) throw new Error(status.errorMessage());
  const runner = status.value();
  const input = runner.GetInputs().get(0).data();
  for (let i = 0; i < input.length; ++i) input[i] = (i % 255) / 255;
  for (let i = 0; i < 100; ++i) runner.Infer();
  const times = [];
  for (let i = 0; i < Number(runs); ++i) {
    const t0 = process.hrtime.bigint();
    runner.Infer();
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  console.log(`real TFLite (wasm ${variant}) ${path.basename(path.dirname(modelPath))}: p50 ${times[Math.floor(times.length / 2)].toFixed(2)} us, p90 ${times[Math.floor(times.length * 0.9)].toFixed(2)} us`);
}
main().catch((e) => { console.error(e.message || e); process.exit(1); });
