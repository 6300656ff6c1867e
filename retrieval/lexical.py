"""The lexical channel: BM25 over SQLite FTS5, fused with dense results by reciprocal rank.

Chroma's local mode has no sparse index, so the chunks' text is also kept in an FTS5 table
(in the ledger, see ``kb.entity_index``). This module holds the pure parts (the FTS5 query
for a question, reciprocal-rank fusion) and the SQL on a connection it is handed.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence

RRF_K = 60  # the usual constant of reciprocal-rank fusion (Cormack et al. 2009)

_TOKEN = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    """a an the of in on at to for from by with and or but is are was were be been being has have had do does did what which who
    whom whose when where why how that this these those it its as into than then there their they he she his her him we you i
    not no yes if so such also can could may might will would shall should about after before during many much more most other
    same one some any all each both either neither first last name named""".split()
)


def fts_query(text: str, max_terms: int = 32) -> str:
    """An FTS5 MATCH expression: the text's content words, each quoted, OR-ed ("" when none)."""
    seen: dict[str, None] = {}
    for tok in _TOKEN.findall(text.casefold()):
        if tok not in _STOPWORDS and (len(tok) > 1 or tok.isdigit()):
            seen.setdefault(tok.replace('"', ""), None)
    terms = list(seen)[:max_terms]
    return " OR ".join(f'"{t}"' for t in terms)


def rrf(rankings: Iterable[Sequence[str]], k: int = RRF_K, weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of ranked id lists: sum of weight / (k + rank); ties break on the id."""
    scores: dict[str, float] = {}
    for n, ranking in enumerate(rankings):
        w = 1.0 if weights is None else weights[n]
        for rank, item in enumerate(dict.fromkeys(ranking), start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse_scores(
    dense: Sequence[tuple[str, float]], lexical: Sequence[str], k: int = RRF_K, lexical_weight: float = 1.0
) -> list[tuple[str, float]]:
    """Dense hits (best first) and BM25 hits fused by reciprocal rank; returns (id, fused score) best first."""
    return rrf([[i for i, _ in dense], list(lexical)], k=k, weights=[1.0, lexical_weight])


# SQL ------------------------------------------------------------------------------------
FTS_TABLE = "chunk_fts"


def create_fts(db: sqlite3.Connection, table: str = FTS_TABLE) -> None:
    """An FTS5 table of chunk titles and text keyed by rowid; porter stemming, diacritics folded."""
    db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5(title, text, tokenize = 'porter unicode61 remove_diacritics 2')")


def index_rows(db: sqlite3.Connection, rows: Iterable[tuple[int, str, str]], table: str = FTS_TABLE) -> None:
    """Add (rowid, title, text) rows."""
    db.executemany(f"INSERT INTO {table}(rowid, title, text) VALUES (?,?,?)", list(rows))


def search(
    db: sqlite3.Connection, query: str, limit: int, table: str = FTS_TABLE, *, select: str = "", join: str = "", where: str = ""
) -> list[tuple]:
    """BM25 hits, best first: (rowid, bm25 score (lower is better), *``select`` columns); ``join``/``where`` restrict them."""
    expr = fts_query(query)
    if not expr or limit < 1:
        return []
    sql = (
        f"SELECT {table}.rowid, bm25({table}) AS s{', ' + select if select else ''} FROM {table} {join} "
        f"WHERE {table} MATCH ? {'AND ' + where if where else ''} ORDER BY s, {table}.rowid LIMIT ?"
    )
    try:
        return [tuple(r) for r in db.execute(sql, [expr, limit]).fetchall()]
    except sqlite3.OperationalError:  # a query FTS5 cannot parse: no lexical hits rather than an error
        return []
