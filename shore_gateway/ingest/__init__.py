"""Ingest adapters: each turns a provider's delivery into bytes + ArrivalMeta for the FrameSink."""
