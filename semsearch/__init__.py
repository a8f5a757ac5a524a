"""semsearch: local-first semantic search and question answering over document collections.

    from semsearch import Index
    idx = Index.open("index")
    hits = idx.search("问题", k=5)
    answer = idx.ask("问题")

Heavy dependencies (torch, sentence-transformers, faiss) load on first use.
"""

__version__ = "0.1.0"
__all__ = ["Index", "Hit", "Answer", "Source"]


def __getattr__(name):
    if name == "Index":
        from .index import Index
        return Index
    if name in ("Hit", "Source"):
        from . import search
        return getattr(search, name)
    if name == "Answer":
        from .answer import Answer
        return Answer
    raise AttributeError(name)
