"""After the search: score a configuration, fine-tune at it, export it.

One module per job, each taking an env (``gym.make("AutoQ-ResNet-v0", ...)``) and a configuration
(``{"activation_qbn": [...], "kernel_qbn": [[...], ...]}``, e.g. a search's ``best_config.json``):

* ``config``: read and validate a configuration file against an env;
* ``scorecard``: accuracy on the search and test splits next to float and uniform 8-bit, latency and
  energy on both accelerators (``autoq evaluate``);
* ``finetune``: quantization-aware training at exactly the configuration (``autoq finetune``);
* ``integer``: the quantized network as integer codes, per-kernel scales and bits, activation grids;
  storage size; the compact ``.npz`` + JSON manifest export (``autoq export --format npz``);
* ``onnx_export``: an ONNX graph of the evaluator's integer arithmetic: QuantizeLinear, ConvInteger/MatMulInteger,
  rescale (``autoq export --format onnx``).

These modules sit above the env and below the agents; nothing in the env imports them.
"""
