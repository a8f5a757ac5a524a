"""The index folder: generations on disk (layout), reading one (generation), writing the next (writer), vectors."""

from semsearch.store.generation import ChunkRow, Generation, open_live
from semsearch.store.layout import CURRENT, DB_FILE, VECTORS_FILE, exists, live_generation, writer_lock
from semsearch.store.vector_index import LOCAL, VectorIndex, check_vector_store, vector_store_name
from semsearch.store.writer import GenerationWriter, NewDocument, touch_documents

__all__ = ["CURRENT", "DB_FILE", "VECTORS_FILE", "ChunkRow", "Generation", "GenerationWriter", "LOCAL", "NewDocument", "VectorIndex", "check_vector_store",
           "exists", "live_generation", "open_live", "touch_documents", "vector_store_name", "writer_lock"]
