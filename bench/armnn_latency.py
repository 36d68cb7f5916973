"""Batch-1 latency of a .tflite model in ArmNN (Debian's python3-pyarmnn, CpuRef backend):
   python3 bench/armnn_latency.py MODEL [RUNS]  ->  one JSON line {"p50_us": ..., "mean_us": ...}"""
import json
import os
import sys
import time

import numpy as np
import pyarmnn as ann

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tflite_node"))
from run_armnn import load  # noqa: E402  (the tests' ArmNN loader)


def main():
    model, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
    runtime, net_id, input_info, output_info = load(model)
    shape = [d for d in input_info[1].GetShape()]
    x = (np.arange(int(np.prod(shape))) % 255).astype(np.float32).reshape(shape)
    inputs = ann.make_input_tensors([input_info], [x])
    out = ann.make_output_tensors([output_info])
    for _ in range(10):
        runtime.EnqueueWorkload(net_id, inputs, out)
    us = []
    for _ in range(runs):
        start = time.perf_counter()
        runtime.EnqueueWorkload(net_id, inputs, out)
        us.append((time.perf_counter() - start) * 1e6)
    us.sort()
    print(json.dumps({"p50_us": us[len(us) // 2], "mean_us": sum(us) / len(us)}))


if __name__ == "__main__":
    main()
