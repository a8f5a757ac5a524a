"""semsearch: local-first semantic search and question answering over document collections.

    from semsearch import Index
    idx = Index.open("index")
    hits = idx.search("问题", k=5)
    answer = idx.ask("问题")

Heavy dependencies (torch, sentence-transformers, faiss) load on first use.
"""

__version__ = "0.1.0"
__all__ = ["Index", "Hit", "Answer", "Source", "Settings", "DEFAULTS"]


def __getattr__(name):
    if name == "Index":
        from semsearch.index import Index
        return Index
    if name in ("Hit", "Source", "Answer"):
        from semsearch import types
        return getattr(types, name)
    if name in ("Settings", "DEFAULTS"):
        from semsearch import config
        return getattr(config, name)
    raise AttributeError(name)
