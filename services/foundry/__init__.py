"""SFT Foundry: supervised fine-tuning data and models as gRPC microservices."""

__version__ = "0.1.0"
