// Runs a .tflite model in the real TensorFlow Lite runtime (TFLite compiled to WebAssembly, from
// npm @tensorflow/tfjs-tflite), one example at a time.
//   node run_tflite.js MODEL.tflite INPUT.f32 N OUTPUT.f32
// INPUT.f32: N rows of float32 (or int8 bytes for int8 inputs); OUTPUT.f32: N rows of the
// output as float32. Prints the executed node types (to show which kernels ran).
'use strict';
const fs = require('fs');
const { loadRunner, executedNodeTypes } = require('./tflite_runtime');

async function main() {
  const [modelPath, inputPath, count, outputPath] = process.argv.slice(2);
  const runner = await loadRunner(modelPath);
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
  console.log(JSON.stringify({ input: input.dataType, output: output.dataType, nodes: executedNodeTypes(runner) }));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
