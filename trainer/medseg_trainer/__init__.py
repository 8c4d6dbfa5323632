"""medseg-gateway's decoder fine-tuning trainer (PyTorch). See trainer/README.md."""
