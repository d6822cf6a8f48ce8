"""Where and how code runs: devices, precision, processes, distributed training, memory, Ctrl-C."""
