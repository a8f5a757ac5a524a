"""What the CLI prints: progress bars on stderr, passages with citations and highlighted terms on stdout."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class RichProgress:
    """Shows a reindex's stages and an embedding bar with chunks/s and ETA (or any counted work), on stderr."""

    def __init__(self, quiet: bool = False):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                                   TimeRemainingColumn)

        self.quiet = quiet
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                            console=err, transient=True, disable=quiet or not err.is_terminal)
        self.task = None
        self.stage_task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def hooks(self):
        from semsearch.indexer import Progress

        return Progress(on_stage=self.stage, on_embed_start=self.embed_start, on_embedded=self.embedded,
                        on_windows_start=lambda total: self.embed_start(total, "sentence windows"),
                        on_warning=lambda message: err.print(f"warning: {message}", markup=False))

    def stage(self, name: str) -> None:
        if self.stage_task is None:
            self.stage_task = self.bar.add_task(name, total=None, rate="")
        else:
            self.bar.update(self.stage_task, description=name)

    def embed_start(self, total: int, what: str = "chunks") -> None:
        self.start(f"embedding {what}", total, what.split()[-1])

    def start(self, description: str, total: int, unit: str) -> None:
        """A new bar of ``total`` steps (``unit``/s shown), in place of the stage line or the last bar."""
        if self.stage_task is not None:
            self.bar.remove_task(self.stage_task)
            self.stage_task = None
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.what = unit
        self.task = self.bar.add_task(description, total=total, rate="")

    def embedded(self, n: int) -> None:
        self.bar.advance(self.task, n)
        task = next(t for t in self.bar.tasks if t.id == self.task)
        if task.speed:
            self.bar.update(self.task, rate=f"{task.speed:.1f} {self.what}/s")


def passage_text(hit, query: str, answer_spans: list[tuple[int, int]], translated: tuple[str, ...] = ()) -> Text:
    from semsearch.interfaces.highlight import term_spans

    text = Text(hit.text)
    for start, end in answer_spans:
        text.stylize("underline", start, end)
    for start, end in term_spans(hit.text, query, translated):
        text.stylize("bold yellow", start, end)
    return text


def print_hits(hits, query: str, answer=None, explain: bool = False, translated: tuple[str, ...] = ()) -> None:
    if explain and translated:
        out.print(Text(f"Also searched as: {' '.join(translated)}", style="magenta"))
    for hit in hits:
        header = Text()
        header.append(f"[{hit.rank}] ", style="bold cyan")
        header.append(hit.source.cite(), style="green")
        header.append(f"  score {hit.score:.3f}", style="dim")
        if hit.title:
            header.append(f"  {hit.title}", style="dim italic")
        out.print(header)
        if explain:
            e = hit.explanation()
            cosine = "-" if e["cosine"] is None else f"{e['cosine']:.3f}"
            signals = f", document names {e['document_names']}" if e["document_names"] else ""
            if e["states_asked_count"] is not None:
                signals += ", states the count asked" if e["states_asked_count"] else ", no count in the unit asked"
            reranked = "" if e["best_sentence"] is None else f", best sentence {e['best_sentence']:.3f}"
            out.print(Text(f"    keyword rank {e['keyword_rank'] or '-'}, dense rank {e['dense_rank'] or '-'} "
                           f"(cosine {cosine}){signals}, fused {e['fused']:.3f}{reranked}", style="magenta"))
        spans = []
        if answer is not None:
            spans = [(s.char_start - hit.source.char_start, s.char_end - hit.source.char_start)
                     for s in answer.sentences if s.citation == hit.rank and s.char_start is not None]
        body = passage_text(hit, query, spans, translated)
        body.pad_left(4)
        out.print(body)
        out.print()
