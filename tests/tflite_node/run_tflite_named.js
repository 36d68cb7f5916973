// Runs a .tflite model with several float32 inputs in the real TensorFlow Lite runtime (TFLite
// compiled to WebAssembly, from npm @tensorflow/tfjs-tflite), one example at a time.
//   node run_tflite_named.js MODEL.tflite INPUTS.json OUTPUT.f32
// INPUTS.json: {"rows": N, "inputs": {"<input tensor name>": [N * width floats], ...}}; every
// model input must be given; null is a missing value, fed as NaN. OUTPUT.f32: N rows of the
// first output as float32. Prints the input tensor names and the executed node types.
'use strict';
const fs = require('fs');
const { loadRunner, executedNodeTypes } = require('./tflite_runtime');

async function main() {
  const [modelPath, inputsPath, outputPath] = process.argv.slice(2);
  const runner = await loadRunner(modelPath);
  const spec = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
  const inputs = runner.GetInputs();
  const names = [];
  for (let k = 0; k < inputs.size(); ++k) {
    const name = inputs.get(k).name;
    names.push(name);
    if (!(name in spec.inputs)) throw new Error('no values for model input ' + name);
  }
  const output = runner.GetOutputs().get(0);
  const n = Number(spec.rows);
  const all = new Float32Array(n * output.data().length);
  for (let i = 0; i < n; ++i) {
    for (let k = 0; k < inputs.size(); ++k) {
      const t = inputs.get(k);
      const width = t.data().length;
      t.data().set(Float32Array.from(spec.inputs[t.name].slice(i * width, (i + 1) * width), (v) => (v === null ? NaN : v)));
    }
    if (!runner.Infer()) throw new Error('TFLite infer() failed on example ' + i);
    const out = output.data();
    all.set(out, i * out.length);
  }
  fs.writeFileSync(outputPath, Buffer.from(all.buffer));
  console.log(JSON.stringify({ inputs: names, nodes: executedNodeTypes(runner) }));
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
