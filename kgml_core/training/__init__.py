"""Training of the KGML-ag family: data, losses, the trainer and the 5-step protocol."""
