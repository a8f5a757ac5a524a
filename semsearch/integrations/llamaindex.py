"""A LlamaIndex retriever over a semsearch ``Index`` (``pip install "semsearch[llamaindex]"``).

    from semsearch.integrations.llamaindex import SemsearchRetriever
    retriever = SemsearchRetriever("index", k=5)
    nodes = retriever.retrieve("如何建设委员工作站?")   # list[NodeWithScore], best first
    nodes[0].score, nodes[0].node.metadata  # path, lines, char offsets, ["page"], title, rank, score

Each node is a ``TextNode`` of one passage: its text is the source file's ``[char_start:char_end]``,
``start_char_idx``/``end_char_idx`` are those offsets, ``id_`` is ``"path#char_start-char_end"`` and its source
(``ref_doc_id``) is the file's path. The offsets, rank and score are kept out of what an LLM is shown.
Errors from semsearch (``InputError``, ``IndexProblem``) propagate unchanged. ``aretrieve`` is the base
class's: it runs the (synchronous, CPU-bound) search in the calling coroutine.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeRelationship, NodeWithScore, QueryBundle, RelatedNodeInfo, TextNode

from semsearch.index import Index
from semsearch.integrations import NOT_FOR_THE_LLM, check_arguments, citation_metadata, open_index, passage_id
from semsearch.types import Hit


def to_node(hit: Hit) -> NodeWithScore:
    metadata = citation_metadata(hit)
    hidden = list(NOT_FOR_THE_LLM) + (["title"] if hit.title is None else [])
    node = TextNode(id_=passage_id(hit), text=hit.text, metadata=metadata,
                    start_char_idx=hit.source.char_start, end_char_idx=hit.source.char_end,
                    excluded_llm_metadata_keys=hidden, excluded_embed_metadata_keys=list(metadata),
                    relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=hit.source.path)})
    return NodeWithScore(node=node, score=float(hit.score))


class SemsearchRetriever(BaseRetriever):
    """The top ``k`` passages of ``index.search(query, k, mode)`` as ``NodeWithScore``s, best first."""

    def __init__(self, index: Index | str | PathLike, k: int = 5, mode: str = "hybrid",
                 callback_manager: CallbackManager | None = None, **kwargs: Any):
        """``index``: an ``Index``, or the folder of one; ``mode``: "hybrid", "dense" or "keyword"."""
        check_arguments(k, mode)
        self.index = open_index(index)
        self.k = k
        self.mode = mode
        super().__init__(callback_manager=callback_manager, **kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [to_node(hit) for hit in self.index.search(query_bundle.query_str, k=self.k, mode=self.mode)]
