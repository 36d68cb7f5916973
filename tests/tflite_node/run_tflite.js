// Runs a .tflite model in the real TensorFlow Lite runtime (TFLite compiled to WebAssembly, from
// npm @tensorflow/tfjs-tflite), one example at a time.
//   node run_tflite.js MODEL.tflite INPUT.f32 N OUTPUT.f32
// INPUT.f32: N rows of float32 (or int8 bytes for int8 inputs); OUTPUT.f32: N rows of the
// output as float32. Prints the executed node types (to show which kernels ran).
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [modelPath, inputPath, count, outputPath] = process.argv.slice(2);
  const wasmDir = path.join(__dirname, '..', '..', 'third_party', 'npm', 'node_modules', '@tensorflow', 'tfjs-tflite', 'wasm');
  // The plain build (no SIMD, no threads): TFLite's builtin reference/optimized kernels.
  const factory = require(path.join(wasmDir, 'tflite_web_api_cc.js'));
  const Module = await factory({ wasmBinary: fs.readFileSync(path.join(wasmDir, 'tflite_web_api_cc.wasm')), print: () => {}, printErr: (text) => process.stderr.write(text + '\n') });
  const model = fs.readFileSync(modelPath);
  const pointer = Module._malloc(model.length);
  Module.HEAPU8.set(model, pointer);
  const status = Module.TFLiteWebModelRunner.CreateFromBufferAndOptions(
      pointer, model.length, { numThreads: 1, enableProfiling: true, maxProfilingBufferEntries: 4096 });
  if (!status.ok()) throw new Error('TFLite could not load ' + modelPath + ': ' + status.errorMessage());
  const runner = status.value();
  const input = runner.GetInputs().get(0);
  const output = runner.GetOutputs().get(0);
  const n = Number(count);
  const inBytes = fs.readFileSync(inputPath);
  const inView = input.data();
  const rowIn = inView.length;
  const all = new Float32Array(n * output.data().length);
  const typedIn = input.dataType === 'int8' ? new Int8Array(inBytes.buffer, inBytes.byteOffset, inBytes.byteLength)
                                            : new Float32Array(inBytes.buffer, inBytes.byteOffset, inBytes.byteLength / 4);
  for (let i = 0; i < n; ++i) {
    input.data().set(typedIn.subarray(i * rowIn, (i + 1) * rowIn));
    if (!runner.Infer()) throw new Error('TFLite infer() failed on example ' + i);
    const out = output.data();
    all.set(out, i * out.length);
  }
  fs.writeFileSync(outputPath, Buffer.from(all.buffer));
  const kinds = new Set();
  const results = runner.GetProfilingResults();
  for (let i = 0; i < results.size(); ++i) kinds.add(results.get(i).nodeType);
  console.log(JSON.stringify({ input: input.dataType, output: output.dataType, nodes: [...kinds] }));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
