"""milvus-triage: triage slow Milvus searches from Prometheus, slow logs and live collection facts."""

__version__ = "0.1.0"
