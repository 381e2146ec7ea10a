"""Host side: the torchvision-shaped API over every backend, the engine driver and the CUDA path."""
