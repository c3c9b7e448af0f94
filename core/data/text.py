"""The text pipeline of the seed report, and the vocabulary built from its tokens.

A review goes through named stages, each switched by a flag of :class:`core.config.TextConfig`,
always in this order (``STAGES``):

1. ``lowercase``
2. ``expand_abbreviations``: chat abbreviations as whole words ("u" -> "you", "idk" -> "i do not
   know"); matched case-insensitively, so the stage also works with ``lowercase`` off.
   A whole word is delimited by anything but a letter, digit, underscore, apostrophe or ``&``;
   a dot, slash or hyphen followed by a letter joins words, so "u.s.", "r&b", "r-rated" and
   "tour" stay as they are.
3. ``strip_html``: every tag (``<br />``, ``<i>``) becomes a space; HTML entities are decoded.
4. ``remove_non_alnum``: every character that is not a letter or digit becomes whitespace.
   Letters and digits are Unicode ones (``str.isalnum``), so "café" and Cyrillic or Japanese
   text survive; emoji, punctuation and underscores do not. Apostrophes (the ASCII one and its
   look-alikes ’ ‘ ´ and the backtick, all found in IMDB):
   the negating contraction *n't* is joined to its word ("don't" -> "dont", "isn't" -> "isnt",
   "can't" -> "cant"), so a negation stays one token that the stop-word stage can recognise;
   every other apostrophe splits like any punctuation ("it's" -> "it s", "film's" -> "film s"),
   which leaves the clitic pieces NLTK's list was made for ("s", "ll", "re", "ve", "d", "m").
5. ``strip_whitespace``: runs of whitespace collapse to one space; the ends are stripped.
6. ``remove_stopwords``: NLTK's English list. Because of the joining above, the list is
   extended with each entry's apostrophe-free spelling ("don't" also as "dont"), so removal
   behaves the same whichever of the two spellings a review used.
   With ``keep_negations`` the negations are kept: "no", "nor", "not", every *n't* entry of the
   list in both spellings ("don't", "dont") and the bare stems the list also holds for
   "don t"-style text ("don", "isn"). They are derived from the list itself (see :func:`negations`).

Finally the text is split on whitespace. Every stage is linear in the length of the text (no
regular expression here can backtrack catastrophically), so a 5 MB review is no problem.

The vocabulary (:class:`Vocabulary`) maps tokens to ids: 0 = ``<unk>`` (the seed's convention),
1 = ``<pad>``, then the training words by decreasing frequency.

:func:`reading` tells, word by word as the user wrote it, what the model reads and why the rest is
not read (a stop word, unknown to the vocabulary, cut by ``max_len``, or removed as HTML or
punctuation): the dropped words of a text are shown, not silently lost.

Not here: reading the archive (``core.data.imdb``), encoding and batching (``core.data.batching``), the
cached encoded corpus (``core.data.corpus``).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from rnnlab.core import atomic
from rnnlab.core.config import VOCAB_MAX, TextConfig

STAGES: tuple[str, ...] = (
    "lowercase",
    "expand_abbreviations",
    "strip_html",
    "remove_non_alnum",
    "strip_whitespace",
    "remove_stopwords",
)

# Bump when a change here alters the tokens a configuration produces, so cached encodings
# (core.data.corpus) keyed on it are rebuilt.
PIPELINE_VERSION = 1

UNK, PAD = "<unk>", "<pad>"
UNK_ID, PAD_ID = 0, 1
VOCAB_FORMAT = "rnnlab-vocabulary"  # the "format" of every vocabulary file
VOCAB_LEN_MAX = VOCAB_MAX + 2  # the words and <unk>, <pad> (ModelConfig.vocab_size's bound)

# Common chat abbreviations -> expansion (lowercase, letters and spaces only). Ambiguous short
# forms are left out on purpose: "n" (and / the letter), "2" and "4" (numbers), "y" (a stop word),
# "im" (a word in other languages), "yr" (year).
ABBREVIATIONS: dict[str, str] = {
    "u": "you",
    "ur": "your",
    "ya": "you",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "thanx": "thanks",
    "ty": "thank you",
    "imo": "in my opinion",
    "imho": "in my humble opinion",
    "btw": "by the way",
    "omg": "oh my god",
    "lol": "laughing out loud",
    "lmao": "laughing my ass off",
    "rofl": "rolling on the floor laughing",
    "idk": "i do not know",
    "idc": "i do not care",
    "dunno": "do not know",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "got to",
    "b4": "before",
    "gr8": "great",
    "l8r": "later",
    "2nite": "tonight",
    "w/": "with",
    "w/o": "without",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "tho": "though",
    "thru": "through",
    "ppl": "people",
    "luv": "love",
    "fav": "favourite",
    "fave": "favourite",
    "wat": "what",
    "nvm": "never mind",
    "tbh": "to be honest",
    "smh": "shaking my head",
    "fyi": "for your information",
    "asap": "as soon as possible",
    "afaik": "as far as i know",
    "irl": "in real life",
    "jk": "just kidding",
    "np": "no problem",
    "bf": "boyfriend",
    "gf": "girlfriend",
}

_APOSTROPHES = "'’‘`´"


def _abbreviation_regex(table: dict[str, str]) -> re.Pattern[str]:
    # Longest first so "w/o" wins over "w/". A key ending in a letter or digit must not be
    # followed by a word character, an apostrophe or "&", nor by ".", "/" or "-" and a word
    # character ("u.s.", "r&b", "r-rated"); a key ending in "/" ("w/") may touch the next word.
    tail = rf"(?![\w{_APOSTROPHES}&]|[./-]\w)"
    keys = sorted(table, key=lambda k: (-len(k), k))
    alts = [re.escape(k) + (tail if k[-1].isalnum() else "") for k in keys]
    return re.compile(rf"(?<![\w{_APOSTROPHES}&./-])(?:{'|'.join(alts)})", re.IGNORECASE)


_ABBREV_RE = _abbreviation_regex(ABBREVIATIONS)
# A review can only hold an abbreviation if, with every ASCII character other than a letter or
# digit turned into a space (and A-Z lowercased), one of its words is the abbreviation's first
# letter/digit run ("w/o" -> "w"). The check runs at C speed and spares ~85% of IMDB reviews
# the (slow, position-by-position) abbreviation regex; non-ASCII reviews always take the regex.
_ASCII_WORDS = str.maketrans({c: (c.lower() if c.isalnum() else " ") for c in map(chr, range(128))})
_ABBREV_HEADS = frozenset(re.split(r"[\W_]", k)[0] for k in ABBREVIATIONS)
# Tags start with a letter, "/" or "!" ("<br />", "</i>", "<!-- -->"), so "a < b > c" is left alone.
# [^<>]* cannot run past the next "<", so unclosed tags cost linear time, not quadratic.
_TAG_RE = re.compile(r"<[/!]?[A-Za-z!][^<>]*>")
# "don't" -> "dont" (n, apostrophe, t, after a letter, ending the word). The pattern starts with
# the literal n so the regex engine can skip ahead to candidates; the lookbehind then checks the
# letter before it.
_NT_RE = re.compile(rf"([nN])(?<=[^\W\d_][nN])[{_APOSTROPHES}]([tT])(?![^\W_])")
_NON_ALNUM_RE = re.compile(r"[\W_]+")
_ASCII_NON_ALNUM = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})


# -- the stages, one pure function each -------------------------------------------------------------
def lowercase(text: str) -> str:
    return text.lower()


def _expansion(m: re.Match[str]) -> str:
    key = m.group(0).lower()
    # "w/friends" -> "with friends": a key ending in a symbol may touch the next word
    return ABBREVIATIONS[key] if key[-1].isalnum() else ABBREVIATIONS[key] + " "


def expand_abbreviations(text: str) -> str:
    if text.isascii() and _ABBREV_HEADS.isdisjoint(text.translate(_ASCII_WORDS).split()):
        return text
    return _ABBREV_RE.sub(_expansion, text)


def strip_html(text: str) -> str:
    text = _TAG_RE.sub(" ", text) if "<" in text else text
    return html.unescape(text) if "&" in text else text


def remove_non_alnum(text: str) -> str:
    text = _NT_RE.sub(r"\1\2", text)
    # each ASCII symbol becomes a space (str.translate is ~7x faster than the regex); runs of
    # non-ASCII symbols become one space; the whitespace stage collapses either
    return text.translate(_ASCII_NON_ALNUM) if text.isascii() else _NON_ALNUM_RE.sub(" ", text)


def strip_whitespace(text: str) -> str:
    return " ".join(text.split())  # str.split() splits on exactly the characters the regex \s matches


def remove_stopwords(text: str, stop: frozenset[str]) -> str:
    return " ".join(w for w in text.split() if w not in stop)


_TEXT_STAGES: dict[str, Callable[[str], str]] = {
    "lowercase": lowercase,
    "expand_abbreviations": expand_abbreviations,
    "strip_html": strip_html,
    "remove_non_alnum": remove_non_alnum,
    "strip_whitespace": strip_whitespace,
}


# -- stop words ------------------------------------------------------------------------------------
class StopwordsUnavailable(RuntimeError):
    """NLTK's English stop-word list is neither installed nor downloadable."""


_LIST_CACHE: dict[tuple[str, ...], tuple[str, ...]] = {}  # search path -> NLTK's list
_STOP_CACHE: dict[tuple[tuple[str, ...], bool], frozenset[str]] = {}  # (list, keep_negations) -> set


def _search_paths() -> tuple[str, ...]:
    # NLTK reads NLTK_DATA once, when it is first imported; read it again on every call so a
    # variable set later (by a test, or by the dashboard's settings) still counts.
    import nltk

    env = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    return tuple(dict.fromkeys([*env, *nltk.data.path]))


def _read_list(paths: Sequence[str]) -> tuple[str, ...]:
    import nltk

    # nltk.data.find also looks inside corpora/stopwords.zip
    pointer = nltk.data.find("corpora/stopwords/english", paths=list(paths))
    with pointer.open() as f:
        words = f.read().decode("utf-8").split()
    return tuple(w.strip().lower() for w in words if w.strip())


def nltk_stopword_list() -> tuple[str, ...]:
    """NLTK's English stop-word list, exactly as shipped (cached per search path).

    Looked up through ``$NLTK_DATA`` and NLTK's default folders; if it is missing,
    ``nltk.download('stopwords')`` is tried once. Raises :class:`StopwordsUnavailable` otherwise.
    """
    paths = _search_paths()
    if paths in _LIST_CACHE:
        return _LIST_CACHE[paths]
    try:
        words = _read_list(paths)
    except LookupError:
        import nltk

        try:
            ok = bool(nltk.download("stopwords", quiet=True, raise_on_error=True))
        except Exception:  # no network, proxy errors, unwritable folders: all mean "not available"
            ok = False
        try:
            words = _read_list(_search_paths()) if ok else None
        except LookupError:
            words = None
        if words is None:
            raise StopwordsUnavailable(
                "NLTK's English stop-word list was not found (searched: " + ", ".join(paths) + ") and could "
                "not be downloaded (no network?). Install it with `python -m nltk.downloader stopwords` (the "
                "Overview page has a button for it), or copy a corpora/stopwords folder into one of those "
                "folders, or point NLTK_DATA at one that holds it; or train without removing stop words "
                "(`--no-stopwords`; on the Train page, untick *remove stopwords* under More settings)."
            ) from None
    _LIST_CACHE[paths] = words
    return words


def stopwords_found() -> str | None:
    """Where NLTK's English stop-word list is installed (a path), or None -- never downloads (cheap, offline)."""
    import nltk

    try:
        return str(nltk.data.find("corpora/stopwords/english", paths=list(_search_paths())))
    except LookupError:
        return None


def download_stopwords() -> str:
    """Fetch NLTK's stop-word corpus into the first folder NLTK searches that can be written; its path.

    Raises :class:`StopwordsUnavailable` saying what to do instead when there is no network or no
    writable folder (not "try again": the same click would fail the same way).
    """
    import nltk

    for folder in _search_paths():
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                continue
            ok = bool(nltk.download("stopwords", download_dir=folder, quiet=True, raise_on_error=True))
        except Exception as e:  # noqa: BLE001 - no network, proxies, permissions: all mean "not fetched"
            raise StopwordsUnavailable(
                f"Could not download NLTK's stop-word list into {folder} ({type(e).__name__}: {e}). Without a "
                "network: copy a corpora/stopwords folder from a machine that has one into one of "
                f"{', '.join(_search_paths())} (or set NLTK_DATA to a folder holding it), or train without "
                "removing stop words (`--no-stopwords`; on the Train page, untick *remove stopwords*)."
            ) from None
        _not_group_writable(Path(folder) / "corpora")  # NLTK 3.10 refuses what a umask of 002 would write
        _LIST_CACHE.clear()
        found = stopwords_found()
        if ok and found:
            return found
    raise StopwordsUnavailable("None of NLTK's data folders (" + ", ".join(_search_paths()) + ") can be written: "
                               "set NLTK_DATA to a folder you own, then download again.")


def _not_group_writable(root: Path) -> None:
    """Take group and world write permission off ``root`` and everything below it (what can be changed)."""
    for path in [root, *root.rglob("*")] if root.exists() else []:
        try:
            path.chmod(path.stat().st_mode & ~0o022)
        except OSError:  # not ours: NLTK will say what it refuses
            continue


def _joined(word: str) -> str:
    return word.replace("'", "")


def negations(words: Iterable[str] | None = None) -> frozenset[str]:
    """The negations in a stop-word list, in every spelling the pipeline can produce.

    "no", "nor", "not", each *n't* entry ("don't") with its joined spelling ("dont") and its
    bare stem ("don", which the list holds for text split as "don t").
    """
    words = frozenset(nltk_stopword_list() if words is None else words)
    found = {w for w in ("no", "nor", "not") if w in words}
    for w in words:
        if w.endswith("n't"):
            found |= {w, _joined(w)}
            if w[:-2] in words:
                found.add(w[:-2])
    return frozenset(found)


def stopwords(cfg: TextConfig) -> frozenset[str]:
    """The words the ``remove_stopwords`` stage drops under ``cfg`` (whether or not it is on).

    NLTK's list plus the apostrophe-free spelling of each entry, less :func:`negations` when
    ``cfg.keep_negations`` is set.
    """
    words = nltk_stopword_list()
    key = (words, cfg.keep_negations)
    if key not in _STOP_CACHE:
        stop = frozenset(words) | {_joined(w) for w in words}
        _STOP_CACHE[key] = stop - negations(words) if cfg.keep_negations else stop
    return _STOP_CACHE[key]


# -- the pipeline ----------------------------------------------------------------------------------
def _enabled(cfg: TextConfig) -> list[str]:
    return [s for s in STAGES if getattr(cfg, s)]


def preprocess(text: str, cfg: TextConfig, stop: frozenset[str] | None = None) -> list[str]:
    """The tokens of one review under ``cfg``: every enabled stage, then a whitespace split.

    ``stop`` overrides the stop-word set (default :func:`stopwords`); it is only consulted when
    ``cfg.remove_stopwords`` is on.
    """
    for name in _enabled(cfg):
        if name == "remove_stopwords":
            stop = stopwords(cfg) if stop is None else stop
            return [w for w in text.split() if w not in stop]
        text = _TEXT_STAGES[name](text)
    return text.split()


def preprocess_stages(text: str, cfg: TextConfig) -> list[tuple[str, str]]:
    """``[("input", text), (stage, text after it), ...]`` for each enabled stage, in order.

    The last entry's text split on whitespace equals :func:`preprocess`. Use
    :func:`stage_diff` on consecutive entries to list the words a stage removed.
    """
    out = [("input", text)]
    for name in _enabled(cfg):
        if name == "remove_stopwords":
            text = remove_stopwords(text, stopwords(cfg))
        else:
            text = _TEXT_STAGES[name](text)
        out.append((name, text))
    return out


def stage_diff(before: str, after: str) -> tuple[Counter[str], Counter[str]]:
    """Words (whitespace-separated) that a stage removed and that it added, with counts."""
    b, a = Counter(before.split()), Counter(after.split())
    return b - a, a - b


@dataclass(frozen=True)
class WordInfo:
    """What became of one word of a review (see :func:`align_tokens`)."""

    word: str  # as in the review after lowercasing and HTML removal
    start: int  # character offsets of ``word`` in that text
    end: int
    fate: str  # "kept" (at least one token survived), "stopword" or "non_alnum" (nothing left)
    tokens: tuple[str, ...]  # the tokens it produced that survived
    positions: tuple[int, ...]  # their indices in preprocess(text, cfg)
    removed: tuple[str, ...]  # the tokens it produced that were stop words


_PRE_STAGES = ("lowercase", "strip_html")


def align_tokens(text: str, cfg: TextConfig) -> list[WordInfo]:
    """Map every word of the review to its fate under ``cfg``, for introspection.

    The words are the whitespace-separated pieces of the review after the ``lowercase`` and
    ``strip_html`` stages (each as enabled in ``cfg``); the other stages act within a word, so
    running them word by word gives the tokens of :func:`preprocess`, and ``positions`` index
    into its result. A word whose stages leave nothing (punctuation, emoji) is "non_alnum"; one
    whose tokens were all stop words is "stopword".
    """
    for name in _PRE_STAGES:
        if getattr(cfg, name):
            text = _TEXT_STAGES[name](text)
    rest = [_TEXT_STAGES[s] for s in _enabled(cfg) if s not in _PRE_STAGES and s != "remove_stopwords"]
    stop = stopwords(cfg) if cfg.remove_stopwords else frozenset()
    out: list[WordInfo] = []
    pos = 0
    for m in re.finditer(r"\S+", text):
        piece = m.group(0)
        for f in rest:
            piece = f(piece)
        produced = piece.split()
        kept = tuple(t for t in produced if t not in stop)
        removed = tuple(t for t in produced if t in stop)
        fate = "kept" if kept else ("stopword" if removed else "non_alnum")
        positions = tuple(range(pos, pos + len(kept)))
        out.append(WordInfo(m.group(0), m.start(), m.end(), fate, kept, positions, removed))
        pos += len(kept)
    return out


# -- what the model reads, word by word -----------------------------------------------------------
STOP_WORD, UNKNOWN, TRUNCATED, REMOVED = "stop word", "unknown", "truncated", "removed"
REASONS: tuple[str, ...] = (STOP_WORD, UNKNOWN, TRUNCATED, REMOVED)  # why a word is not read


@dataclass(frozen=True)
class WordFate:
    """One token a word of the text became (or, when it became none, the word alone), and whether it is read.

    A word that became several tokens ("idk" -> "i do not know", "it's" -> "it s") has one fate per
    token, all with the same ``word`` and ``index``.
    """

    word: str  # the word as the user wrote it (HTML tags are words of their own)
    token: str | None  # the token it became; None when preprocessing left nothing of it
    reason: str | None  # None: the model reads it; else one of REASONS
    index: int  # which word of the text (fates of one word share it)

    @property
    def read(self) -> bool:
        return self.reason is None


def _words(text: str, tags: bool) -> list[str]:
    """The whitespace-separated words of ``text``; with ``tags`` every HTML tag is a word of its own."""
    if not tags or "<" not in text:
        return text.split()
    out: list[str] = []
    pos = 0
    for m in _TAG_RE.finditer(text):
        out += text[pos:m.start()].split()
        out.append(m.group(0))
        pos = m.end()
    return out + text[pos:].split()


def _word_tokens(word: str, stages: Sequence[Callable[[str], str]]) -> list[str]:
    for f in stages:
        word = f(word)
    return word.split()


def _grouped(text: str, cfg: TextConfig, tokens: list[str]) -> list[tuple[str, list[str]]]:
    """``(word, tokens it became)`` per word, whose tokens concatenated equal ``tokens`` (before stop words).

    Every stage acts within a whitespace-separated word (an HTML tag becomes a space), so running
    the stages word by word gives the pipeline's tokens. Where that fails (a tag that an abbreviation
    expansion creates across a space), the words in between are merged into one, so that the
    tokens stay exactly the pipeline's.
    """
    stages = [_TEXT_STAGES[s] for s in _enabled(cfg) if s != "remove_stopwords"]
    groups = [(w, _word_tokens(w, stages)) for w in _words(text, cfg.strip_html)]
    if [t for _, toks in groups for t in toks] == tokens:
        return groups
    i = p = 0  # words (and tokens) that agree from the start
    while i < len(groups) and tokens[p:p + len(groups[i][1])] == groups[i][1]:
        p += len(groups[i][1])
        i += 1
    j, q = len(groups), len(tokens)  # and from the end
    while j > i and q - len(groups[j - 1][1]) >= p and tokens[q - len(groups[j - 1][1]):q] == groups[j - 1][1]:
        q -= len(groups[j - 1][1])
        j -= 1
    middle = (" ".join(w for w, _ in groups[i:j]), tokens[p:q])
    return [*groups[:i], *([middle] if middle[0] or middle[1] else []), *groups[j:]]


def reading(text: str, cfg: TextConfig, vocab: Mapping[str, int] | None = None) -> list[WordFate]:
    """Every word of ``text`` with what the model reads of it under ``cfg`` (and ``vocab``, if given).

    The fates marked read, in order, are exactly the tokens a model of this pipeline reads:
    :func:`preprocess`, cut to ``cfg.max_len`` (``truncate="pre"`` cuts the start, ``"post"`` the
    end), each in ``vocab`` with an id other than 0 (``<unk>``). A token not read is a "stop word"
    (dropped by ``remove_stopwords``), "truncated" (cut by ``max_len``) or "unknown" (not in
    ``vocab``), checked in that order; a word that left no token at all (an HTML tag, punctuation,
    an emoji) is "removed".
    """
    stop = stopwords(cfg) if cfg.remove_stopwords else frozenset()
    produced = preprocess(text, replace(cfg, remove_stopwords=False))
    groups = _grouped(text, cfg, produced)
    n_kept = sum(1 for t in produced if t not in stop)
    cut = max(0, n_kept - cfg.max_len)
    first, last = (cut, n_kept) if cfg.truncate == "pre" else (0, cfg.max_len)  # kept positions read
    out: list[WordFate] = []
    pos = 0  # position among the tokens that survive the stop words
    for index, (word, toks) in enumerate(groups):
        if not toks:
            out.append(WordFate(word, None, REMOVED, index))
        for t in toks:
            if t in stop:
                reason: str | None = STOP_WORD
            else:
                reason = None if first <= pos < last else TRUNCATED
                if reason is None and vocab is not None and vocab.get(t, UNK_ID) == UNK_ID:
                    reason = UNKNOWN
                pos += 1
            out.append(WordFate(word, t, reason, index))
    return out


# -- whole corpora ---------------------------------------------------------------------------------
# Below this many reviews a worker pool costs more to start than it saves.
POOL_MIN_TEXTS = 20000


def _tokenize_chunk(texts: Sequence[str], cfg: TextConfig, stop: frozenset[str]) -> list[list[str]]:
    return [preprocess(t, cfg, stop) for t in texts]


def _tokenize_chunk_joined(texts: Sequence[str], cfg: TextConfig, stop: frozenset[str]) -> list[str]:
    # A worker sends back one space-joined string per review: pickling 100,000 strings instead
    # of ~12 million tokens makes the transfer several times cheaper, and tokens hold no
    # whitespace, so split() in the parent gives them back exactly.
    return [" ".join(preprocess(t, cfg, stop)) for t in texts]


def _can_spawn() -> bool:
    """Whether a spawned worker can import this program again (not when it was read from stdin)."""
    import sys

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return getattr(main, "__spec__", None) is not None or path is None or os.path.isfile(path)


def tokenize_corpus(
    texts: Sequence[str],
    cfg: TextConfig,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> list[list[str]]:
    """:func:`preprocess` every text, in order; ``progress(done, total)`` is called as it goes.

    ``workers``: processes to use; ``None`` picks 2 for corpora of at least ``POOL_MIN_TEXTS``
    reviews when the machine has 2 cores or more (see ``bench/bench_text.py`` for the gain), else 1.
    """
    n = len(texts)
    stop = stopwords(cfg) if cfg.remove_stopwords else frozenset()  # looked up once, here
    if workers is None:
        workers = 2 if n >= POOL_MIN_TEXTS and (os.cpu_count() or 1) >= 2 and _can_spawn() else 1
    chunk = 2000
    out: list[list[str]] = []
    chunks = (texts[i:i + chunk] for i in range(0, n, chunk))
    if workers <= 1:
        for part in map(partial(_tokenize_chunk, cfg=cfg, stop=stop), chunks):
            out.extend(part)
            if progress is not None:
                progress(len(out), n)
        return out
    import multiprocessing

    # "spawn", never "fork": the jobs that tokenise run a heartbeat thread (and torch's threads), and a
    # process forked while another thread holds a lock inherits the lock held, forever -- a pool that
    # forked mid-heartbeat hung a training at "preprocessing" (found running two trainings at once)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for joined in pool.imap(partial(_tokenize_chunk_joined, cfg=cfg, stop=stop), chunks):
            out.extend(s.split() for s in joined)
            if progress is not None:
                progress(len(out), n)
    return out


# -- the vocabulary --------------------------------------------------------------------------------
def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def vocabulary_problem(d: Any) -> str | None:
    """Why ``d`` (a vocabulary file's JSON) is not an RNN Lab vocabulary; None when it is one.

    What :meth:`Vocabulary.from_dict` needs, checked without building anything: the format, a list of
    words starting with ``<unk>``, ``<pad>``, no word twice, at most :data:`VOCAB_LEN_MAX` entries, one
    non-negative count per word. The run store reads every ``vocab.json`` through it.
    """
    if not isinstance(d, dict):
        return f"expected a JSON object, got {type(d).__name__}"
    missing = [k for k in ("format", "itos", "counts") if k not in d]
    if missing:
        return f"missing {', '.join(missing)}"
    if d["format"] != VOCAB_FORMAT:
        return f"format: expected one of ({VOCAB_FORMAT!r},), got {_show(d['format'])}"
    version = d.get("version")
    if version is not None and not (_is_count(version) and version >= 1):
        return f"version: expected an integer >= 1, got {_show(version)}"
    for key in ("total_tokens", "total_types"):
        if d.get(key) is not None and not _is_count(d[key]):
            return f"{key}: expected an integer >= 0, got {_show(d[key])}"
    itos, counts = d["itos"], d["counts"]
    for key, value, ok, what in (("itos", itos, lambda w: isinstance(w, str), "a string"),
                                 ("counts", counts, _is_count, "an integer >= 0")):
        if not isinstance(value, list):
            return f"{key}: expected a list, got {_show(value)}"
        bad = next((i for i, v in enumerate(value) if not ok(v)), None)
        if bad is not None:
            return f"{key}: item {bad}: expected {what}, got {_show(value[bad])}"
    if len(itos) > VOCAB_LEN_MAX:
        return f"{len(itos):,} entries, more than the {VOCAB_LEN_MAX:,} a vocabulary may hold"
    if itos[:2] != [UNK, PAD]:
        return f"must start with {UNK!r}, {PAD!r}, not {_show(itos[:2])}"
    if len(counts) != len(itos):
        return f"{len(itos)} words but {len(counts)} counts"
    if len(set(itos)) != len(itos):
        return "a word appears twice"
    return None


class Vocabulary:
    """Token <-> id maps built from the training split.

    Index 0 is ``<unk>`` (the seed's convention: unknown words map to it), index 1 is ``<pad>``
    (a separate index so that an embedding with ``padding_idx=1`` keeps padding a zero vector
    that receives no gradient, while ``<unk>`` is learned). Words follow from index 2 by
    decreasing training frequency, ties broken alphabetically, so the same tokens always give
    the same vocabulary.

    ``max_size`` caps the number of *words* (the two special entries are not counted:
    ``len(vocab) <= max_size + 2``); ``min_freq`` drops words seen fewer times. Build it from the
    training split only, so validation and test words it never met read as ``<unk>``.
    """

    def __init__(self, itos: Sequence[str], counts: Sequence[int], total_tokens: int = 0,
                 total_types: int = 0) -> None:
        if list(itos[:2]) != [UNK, PAD]:
            raise ValueError(f"a vocabulary starts with {UNK!r}, {PAD!r}; got {list(itos[:2])}")
        if len(counts) != len(itos):
            raise ValueError("itos and counts must have the same length")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate words in itos")
        self.counts: list[int] = [int(c) for c in counts]  # training count per id (0 for the specials)
        self.total_tokens = int(total_tokens)  # training tokens seen, kept or not
        self.total_types = int(total_types)  # distinct training words seen, kept or not

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], max_size: int | None = None,
              min_freq: int = 1) -> Vocabulary:
        """Count the tokens of ``token_lists`` (the training split) and keep the frequent ones."""
        counter: Counter[str] = Counter()
        for tokens in token_lists:
            counter.update(tokens)
        for special in (UNK, PAD):  # a literal "<pad>" in a review must not get its own id
            counter.pop(special, None)
        words = sorted((w for w, c in counter.items() if c >= min_freq), key=lambda w: (-counter[w], w))
        if max_size is not None:
            words = words[:max(0, max_size)]
        return cls([UNK, PAD, *words], [0, 0, *(counter[w] for w in words)],
                   total_tokens=sum(counter.values()), total_types=len(counter))

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: object) -> bool:
        return word in self.stoi

    @property
    def freqs(self) -> dict[str, int]:
        """Training counts of the kept words, most frequent first (the word-frequency chart)."""
        return {w: c for w, c in zip(self.itos[2:], self.counts[2:], strict=True)}

    @property
    def coverage(self) -> float:
        """Share of training tokens that map to a word rather than ``<unk>``."""
        return sum(self.counts) / self.total_tokens if self.total_tokens else 0.0

    def encode(self, tokens: Iterable[str]) -> list[int]:
        get = self.stoi.get
        return [get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"format": VOCAB_FORMAT, "version": 1, "itos": self.itos, "counts": self.counts,
                "total_tokens": self.total_tokens, "total_types": self.total_types}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        if not isinstance(d, dict) or d.get("format") != VOCAB_FORMAT:
            raise ValueError("not an RNN Lab vocabulary file")
        itos, counts = d.get("itos"), d.get("counts")
        if not isinstance(itos, list) or not all(isinstance(w, str) for w in itos):
            raise ValueError("a vocabulary's itos must be a list of words")
        if (not isinstance(counts, list) or len(counts) != len(itos)
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)):
            raise ValueError("a vocabulary's counts must be one non-negative integer per word")
        return cls(itos, counts, int(d.get("total_tokens", 0) or 0), int(d.get("total_types", 0) or 0))

    def save(self, path: str | os.PathLike) -> None:
        """Write JSON to a temporary name and rename it into place (readers never see half a file)."""
        atomic.write_text(path, json.dumps(self.to_dict(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} entries, coverage {self.coverage:.1%})"
