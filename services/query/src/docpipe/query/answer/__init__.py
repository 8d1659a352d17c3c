"""Grounded answers: retrieve, then answer from the numbered sources only (Bedrock Converse,
:mod:`docpipe.query.answer.converse`, imported only when configured), or quote the best
passages offline (extractive)."""

from docpipe.query.answer.extractive import ExtractiveAnswerer
from docpipe.query.answer.rewrite import HeuristicRewriter, Rewriter
from docpipe.query.answer.service import (
    NOTHING_FOUND,
    PreparedTurn,
    answer_turn,
    prepare_turn,
    relevant_hits,
    stream_turn,
)
from docpipe.query.answer.types import Answer, Answerer

__all__ = [
    "NOTHING_FOUND",
    "Answer",
    "Answerer",
    "ExtractiveAnswerer",
    "HeuristicRewriter",
    "PreparedTurn",
    "Rewriter",
    "answer_turn",
    "prepare_turn",
    "relevant_hits",
    "stream_turn",
]
