"""Runs a .tflite model in ArmNN (Debian's python3-pyarmnn, CpuRef backend), one example at a time.
   python3 run_armnn.py MODEL.tflite INPUT.f32 N OUTPUT.f32"""
import sys

import numpy as np
import pyarmnn as ann


def load(model):
    """The model loaded on the CpuRef backend: (runtime, network id, input binding, output binding)."""
    parser = ann.ITfLiteParser()
    network = parser.CreateNetworkFromBinaryFile(model)
    input_name = parser.GetSubgraphInputTensorNames(0)[0]
    output_name = parser.GetSubgraphOutputTensorNames(0)[0]
    input_info = parser.GetNetworkInputBindingInfo(0, input_name)
    output_info = parser.GetNetworkOutputBindingInfo(0, output_name)
    runtime = ann.IRuntime(ann.CreationOptions())
    optimized, _ = ann.Optimize(network, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions())
    net_id, _ = runtime.LoadNetwork(optimized)
    return runtime, net_id, input_info, output_info


def main():
    model, input_path, count, output_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    runtime, net_id, input_info, output_info = load(model)
    x = np.fromfile(input_path, dtype=np.float32).reshape(count, -1)
    outputs = []
    for i in range(count):
        inputs = ann.make_input_tensors([input_info], [x[i:i + 1]])
        out = ann.make_output_tensors([output_info])
        runtime.EnqueueWorkload(net_id, inputs, out)
        outputs.append(ann.workload_tensors_to_ndarray(out)[0].reshape(-1))
    np.stack(outputs).astype(np.float32).tofile(output_path)


if __name__ == "__main__":
    main()
