"""Text plumbing shared by the checks: normalisation, lines, code fences, sentences, negation.

Everything here is linear in the input: patterns anchor on literal words, windows are bounded,
and no pattern nests quantifiers. A :class:`Doc` is built once per response and shared by checks.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

try:  # Python 3.11+
    import re._parser as _sre_parser
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parser  # type: ignore[no-redef]

# Sentence / clause windows never look further than this many characters from a match.
WINDOW = 320
CLAUSE_WINDOW = 90
# At most this many matches per Lexicon pattern are looked at: real answers have a handful, and the
# cap keeps adversarial inputs ("no no no ..." for megabytes) linear and fast.
MAX_HITS = 200

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})", re.M)
_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$", re.M)
_MARKUP = re.compile(r"[*_`~]+")
_WS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize(response: object, max_chars: int) -> tuple[str, bool]:
    """Make any input a clean ``str``: ``None`` → ``""``, bytes decoded, lone surrogates replaced,
    CRLF/CR → LF, control characters (other than tab/newline) blanked.

    Returns the text and whether it was shortened: texts longer than ``max_chars`` keep their first
    and last ``max_chars // 2`` characters, joined by a blank line.
    """
    if response is None:
        text = ""
    elif isinstance(response, bytes | bytearray):
        text = bytes(response).decode("utf-8", "replace")
    elif isinstance(response, str):
        text = response
    else:
        text = str(response)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    truncated = False
    if len(text) > max_chars:
        half = max_chars // 2
        text = text[:half] + "\n\n" + text[-half:]
        truncated = True
    return text, truncated


def strip_markup(s: str) -> str:
    """Remove emphasis/code markers and collapse whitespace."""
    return _WS.sub(" ", _MARKUP.sub("", s)).strip()


def has_content(s: str) -> bool:
    """True when the text holds at least one letter or digit."""
    return any(ch.isalnum() for ch in s)


def slug(name: str) -> str:
    """``Uncertainty Factors`` → ``uncertainty_factors`` (for check ids)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "field"


def name_pattern(name: str) -> str:
    """A regex matching a name with any run of spaces, hyphens or underscores between its words."""
    words = [re.escape(w) for w in re.split(r"[\s_\-]+", name.strip()) if w]
    return r"[\s_\-]{1,3}".join(words) if words else re.escape(name)


@dataclass(frozen=True)
class Heading:
    """A markdown heading outside code fences."""

    level: int
    title: str
    start: int  # offset of the heading line
    end: int  # offset just past the heading line


def lower_same_length(text: str) -> str:
    """``text.lower()``, keeping offsets aligned (characters whose lower form is longer are kept)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(ch if len(ch.lower()) != 1 else ch.lower() for ch in text)


_TOKEN_CHARS = re.compile(r"[a-z0-9]+")
_TOKEN_TABLE = bytes(c if (48 <= c <= 57 or 97 <= c <= 122) else 32 for c in range(256))


class WordIndex:
    """The set of ASCII alphanumeric tokens of a lower-case text, for O(1) "is this word here" tests.

    Built in one C-speed pass (encode, byte-translate, split). Used to skip patterns whose anchor word
    cannot occur, which keeps scoring fast: most cue patterns never have to scan the text at all.
    """

    def __init__(self, low: str) -> None:
        raw = low.encode("utf-8", "surrogatepass").translate(_TOKEN_TABLE).decode("ascii")
        self.low = low
        self.words = set(raw.split())
        # the tokens joined by spaces (only [a-z0-9 ] remain): a token starts with p iff " " + p occurs
        self._spaced = " " + raw
        self._positions: dict[str, list[int]] = {}
        self._sorted: list[str] | None = None
        self._prefix: dict[str, bool] = {}

    def has(self, word: str) -> bool:
        """Whether ``word`` is a token of the text."""
        return word in self.words

    def has_prefix(self, prefix: str) -> bool:
        """Whether some token starts with ``prefix``."""
        hit = self._prefix.get(prefix)
        if hit is not None:
            return hit
        if prefix in self.words:
            hit = True
        elif _TOKEN_CHARS.fullmatch(prefix):
            hit = (" " + prefix) in self._spaced
        else:
            if self._sorted is None:
                self._sorted = sorted(self.words)
            i = bisect_left(self._sorted, prefix)
            hit = i < len(self._sorted) and self._sorted[i].startswith(prefix)
        self._prefix[prefix] = hit
        return hit

    def positions(self, word: str) -> list[int]:
        """Offsets where ``word`` occurs in the text (anywhere, not only at word starts), capped."""
        got = self._positions.get(word)
        if got is None:
            got = []
            find = self.low.find
            i = find(word)
            while i >= 0 and len(got) < MAX_HITS * 4:
                got.append(i)
                i = find(word, i + 1)
            self._positions[word] = got
        return got

    def live(self, lex: Lexicon) -> list[int]:
        """Indices of the patterns of ``lex`` whose anchor can occur in the text (memoised per lexicon)."""
        memo: dict[int, list[int]] = self.__dict__.setdefault("_live", {})
        got = memo.get(id(lex))
        if got is None:
            got = list(lex._always)
            for w in lex._exact.keys() & self.words:
                got.extend(lex._exact[w])
            for p, ids in lex._prefix_groups:
                if self.has_prefix(p):
                    got.extend(ids)
            got.sort()
            memo[id(lex)] = got
        return got


def pattern_anchor(pattern: str) -> tuple[str, bool] | None:
    """The longest alphanumeric word of a pattern's literal prefix and whether it must be a whole token
    (see :func:`anchor_info`)."""
    info = anchor_info(pattern)
    return None if info is None else (info[0], info[1])


def anchor_info(pattern: str) -> tuple[str, bool, int] | None:
    """The longest word of a pattern's literal prefix: (word, must be a whole token, offset in the pattern).

    ``"no need (?:for|to)"`` → ``("need", True, 3)``; ``"degrad[a-z]*"`` → ``("degrad", False, 0)``;
    ``"#+ ?\\["`` → ``None`` (no literal prefix: the pattern is always scanned).
    """
    try:
        parsed = _sre_parser.parse(pattern)
    except Exception:
        return None
    chars: list[str] = []
    items = list(parsed)
    k = 0
    while k < len(items) and str(items[k][0]) == "LITERAL" and isinstance(items[k][1], int):
        chars.append(chr(items[k][1]))
        k += 1
    # a word boundary right after the literal (\b or a negative lookahead) makes its last word whole
    bounded = k < len(items) and (str(items[k][0]) == "ASSERT_NOT" or (
        str(items[k][0]) == "AT" and str(items[k][1]) == "AT_BOUNDARY"))
    lit = "".join(chars)
    best: tuple[str, bool, int] | None = None
    for m in re.finditer(r"[a-z0-9]+", lit):
        after = lit[m.end():m.end() + 1]
        whole = (after != "" and not after.isalnum()) or (after == "" and bounded)
        cand = (m.group(0), whole, m.start())
        if best is None or len(cand[0]) > len(best[0]):
            best = cand
    return best


def required_literals(pattern: str) -> set[str] | None:
    """Literals of which at least one must occur (lower-cased) in any match of ``pattern``; None if unknown.

    Understands sequences, groups, alternations and repeats with a minimum of one; picks the most
    selective requirement. Used to skip scenario evidence patterns that cannot match.
    """
    try:
        parsed = _sre_parser.parse(pattern)
    except Exception:
        return None
    return _req_seq(list(parsed))


def _req_seq(items: list[Any]) -> set[str] | None:
    cands: list[set[str]] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= 3:
            cands.append({"".join(run)})
        run.clear()

    for op, av in items:
        name = str(op)
        if name == "LITERAL" and isinstance(av, int) and av < 128:
            run.append(chr(av).lower())
            continue
        flush()
        sub: set[str] | None = None
        if name == "SUBPATTERN":
            sub = _req_seq(list(av[-1]))
        elif name == "BRANCH":
            alts = [_req_seq(list(a)) for a in av[1]]
            if alts and all(a is not None for a in alts):
                sub = set().union(*[a for a in alts if a is not None])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[0] >= 1:
            sub = _req_seq(list(av[2]))
        if sub:
            cands.append(sub)
    flush()
    good = [c for c in cands if c and all(len(x) >= 3 for x in c)]
    if not good:
        return None
    return max(good, key=lambda c: (min(len(x) for x in c), -len(c)))


def _match_order(m: re.Match[str]) -> tuple[int, int]:
    return (m.start(), -m.end())


class Lexicon:
    """Alternative patterns scanned on lower-case text, skipping those whose anchor word is absent.

    Each pattern is compiled on its own (no flags; lower-case) and, ideally, starts with a literal:
    its longest word is its *anchor*. With the doc's :class:`WordIndex`, a pattern whose anchor is not
    in the text is skipped outright, and on the doc's own text the others are tried only where the
    anchor occurs (``str.find`` then an anchored match) instead of scanning. Matches are kept only at a
    word start, at most :data:`MAX_HITS` per pattern.
    """

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = list(dict.fromkeys(patterns))
        self._rx = [re.compile(p) for p in self.patterns]
        self._info = [anchor_info(p) for p in self.patterns]
        self._anchors = [None if a is None else (a[0], a[1]) for a in self._info]
        self._always: list[int] = []
        self._exact: dict[str, list[int]] = {}
        self._prefixed: list[tuple[str, int]] = []
        for i, a in enumerate(self._anchors):
            if a is None:
                self._always.append(i)
            elif a[1]:
                self._exact.setdefault(a[0], []).append(i)
            else:
                self._prefixed.append((a[0], i))
        # prefixed patterns grouped by anchor, so each distinct prefix is looked up once per text
        groups: dict[str, list[int]] = {}
        for p, i in self._prefixed:
            groups.setdefault(p, []).append(i)
        self._prefix_groups: list[tuple[str, list[int]]] = list(groups.items())

    def _iter(self, low: str, start: int, end: int | None, index: WordIndex | None) -> Iterator[re.Match[str]]:
        stop = len(low) if end is None else end
        idxs = range(len(self._rx)) if index is None else index.live(self)
        by_position = index is not None and index.low is low
        for i in idxs:
            rx, info = self._rx[i], self._info[i]
            n = 0
            if by_position and info is not None:
                assert index is not None
                word, _whole, off = info
                positions = index._positions.get(word)  # memo hit without a method call
                if positions is None:
                    positions = index.positions(word)
                # positions are ascending: jump to the first candidate at or after ``start``
                for k in range(bisect_left(positions, start + off) if start else 0, len(positions)):
                    cand = positions[k] - off
                    if cand < start:
                        continue
                    if cand >= stop:
                        break
                    if cand > 0 and (low[cand - 1].isalnum() or low[cand - 1] == "_"):
                        continue
                    m = rx.match(low, cand, stop)
                    if m is not None:
                        yield m
                        n += 1
                        if n >= MAX_HITS:
                            break
                continue
            for m in rx.finditer(low, start, stop):
                j = m.start()
                if j > 0 and (low[j - 1].isalnum() or low[j - 1] == "_"):
                    continue
                yield m
                n += 1
                if n >= MAX_HITS:
                    break

    def finditer(self, low: str, start: int = 0, end: int | None = None, index: WordIndex | None = None
                 ) -> list[re.Match[str]]:
        """All word-start matches, sorted by position."""
        out = list(self._iter(low, start, end, index))
        out.sort(key=_match_order)
        return out

    def search(self, low: str, start: int = 0, end: int | None = None, index: WordIndex | None = None
               ) -> re.Match[str] | None:
        """Some word-start match (not necessarily the first)."""
        return next(self._iter(low, start, end, index), None)

    def count(self, low: str, limit: int, start: int = 0, end: int | None = None, index: WordIndex | None = None
              ) -> int:
        """Number of word-start matches, counting stops at ``limit``."""
        n = 0
        for _m in self._iter(low, start, end, index):
            n += 1
            if n >= limit:
                break
        return n


@dataclass
class Doc:
    """A response prepared for scanning: text, its lower-case twin, fenced regions and headings."""

    text: str
    truncated: bool = False
    _fences: list[tuple[int, int]] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.low = lower_same_length(self.text)
        spans: list[tuple[int, int]] = []
        if "```" in self.text or "~~~" in self.text:
            open_at: int | None = None
            marker = ""
            for m in _FENCE.finditer(self.text):
                tok = m.group(1)
                if open_at is None:
                    open_at, marker = m.start(), tok[0] * 3
                elif tok.startswith(marker):
                    eol = self.text.find("\n", m.end())
                    spans.append((open_at, len(self.text) if eol < 0 else eol))
                    open_at = None
            if open_at is not None:  # unclosed fence: runs to the end
                spans.append((open_at, len(self.text)))
        self._fences = spans
        self._fence_starts = [s for s, _ in spans]

    @cached_property
    def index(self) -> WordIndex:
        """The word index of the lower-case text."""
        return WordIndex(self.low)

    @cached_property
    def line_starts(self) -> list[int]:
        """Offsets where each line starts."""
        starts = [0]
        find = self.text.find
        i = find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = find("\n", i + 1)
        return starts

    def in_fence(self, pos: int) -> bool:
        """Whether an offset lies inside a fenced code block (fence lines included)."""
        i = bisect_right(self._fence_starts, pos) - 1
        return i >= 0 and pos <= self._fences[i][1]

    @property
    def fences(self) -> list[tuple[int, int]]:
        """(start, end) offsets of fenced blocks."""
        return self._fences

    @cached_property
    def headings(self) -> list[Heading]:
        """Markdown headings outside fences, in order."""
        out: list[Heading] = []
        t = self.text
        if "#" not in t:
            return out
        i = t.find("#")
        while i >= 0:
            ls = t.rfind("\n", 0, i) + 1
            if t[ls:i].strip(" \t") == "" and i - ls <= 3:
                m = _HEADING.match(t, ls)
                if m and not (self._fences and self.in_fence(ls)):
                    out.append(Heading(len(m.group(1)), m.group(2).strip(), m.start(), m.end()))
                nl = t.find("\n", i)
                if nl < 0:
                    break
                i = t.find("#", nl)
            else:
                nl = t.find("\n", i)
                if nl < 0:
                    break
                i = t.find("#", nl)
        return out

    @cached_property
    def heading_starts(self) -> list[int]:
        """Offsets of the headings, for bisecting."""
        return [h.start for h in self.headings]

    def line_bounds(self, pos: int) -> tuple[int, int]:
        """(start, end) of the line holding ``pos``."""
        s = self.text.rfind("\n", 0, pos) + 1
        e = self.text.find("\n", pos)
        return s, (len(self.text) if e < 0 else e)

    def line_at(self, pos: int) -> str:
        """The line holding ``pos``."""
        s, e = self.line_bounds(pos)
        return self.text[s:e]

    def section_of(self, pos: int) -> Heading | None:
        """The nearest heading before ``pos`` (outside fences)."""
        i = bisect_right(self.heading_starts, pos) - 1
        return self.headings[i] if i >= 0 else None

    def sentence(self, start: int, end: int) -> tuple[int, int]:
        """Bounds of the sentence around ``[start, end)``: split at line breaks and ``. ! ?`` + space."""
        t = self.text
        lo = max(0, start - WINDOW)
        s = lo
        nl = t.rfind("\n", lo, start)
        if nl >= 0:
            s = nl + 1
        for p in (". ", "! ", "? ", ".\t"):
            k = t.rfind(p, s, start)
            if k >= 0:
                s = max(s, k + 2)
        hi = min(len(t), end + WINDOW)
        e = t.find("\n", end, hi)
        if e < 0:
            e = hi
        for p in (". ", "! ", "? "):
            k = t.find(p, end, e)
            if k >= 0:
                e = min(e, k + 1)
        return s, e

    def clause_prefix(self, sent_start: int, pos: int) -> str:
        """Text of the clause before ``pos``: from the last clause break (``, ; : ( — –``) or the
        sentence start, at most :data:`CLAUSE_WINDOW` characters, lower-cased."""
        lo = max(sent_start, pos - CLAUSE_WINDOW)
        seg = self.text[lo:pos]
        cut = max(seg.rfind(c) for c in (",", ";", ":", "(", "—", "–", " - ", "|"))
        if cut >= 0:
            seg = seg[cut + 1 :]
        low = seg.lower()
        for conj in (" but ", " however ", " so ", " because ", " though ", " whereas "):
            k = low.rfind(conj)
            if k >= 0:
                low = low[k + len(conj) :]
        return low


# ---------------------------------------------------------------- negation / context vocabularies

# The one home of the negation and conditional cue words. Two compiled forms: the scorers' general one
# (word boundaries, any case) and the Never screen's (lower-cased text, letter-boundary lookarounds).
NEGATION_WORDS = (r"no|not|never|without|nor|cannot|avoid|avoiding|refuse|decline|instead of|rather than|neither|"
                  r"nothing|against|won't|don't|doesn't|didn't|isn't|aren't|shouldn't|mustn't|wouldn't|can't|"
                  r"couldn't|needn't|hasn't|haven't")
CONDITIONAL_WORDS = (r"if|unless|in case|whether|when|whenever|once|"
                     r"should (?:the|it|this|that|we|you|they|there|any|a|an")
NEGATION = re.compile(rf"(?:\b(?:{NEGATION_WORDS}|none|unnecessary)\b|n't\b|n’t\b)", re.I)
CONDITIONAL = re.compile(rf"\b(?:{CONDITIONAL_WORDS}|traffic|confidence))\b", re.I)
NEGATION_LOW = re.compile(rf"(?<![a-z])(?:{NEGATION_WORDS}|won’t|don’t|doesn’t|isn’t|can’t)(?![a-z])")
CONDITIONAL_LOW = re.compile(rf"(?<![a-z])(?:{CONDITIONAL_WORDS}))(?![a-z])")
REPORTED = re.compile(
    r"\b(?:you (?:asked|want|wanted|suggested|proposed|mentioned|said|requested)|asked (?:me|us|to)|"
    r"the (?:request|suggestion|proposal|idea|temptation|ask|plan) (?:to|of)|tempting|pressure to|"
    r"(?:team|manager|pm|lead|stakeholders?|they|someone) (?:wants?|suggests?|suggested|proposes?|"
    r"proposed|asked|asks) (?:to|that|us|me)|proposal to|the option (?:to|of)|quick fix of|shortcut of)\b",
    re.I,
)


def negated(prefix: str) -> bool:
    """True when a clause prefix (text just before a cue) holds a negation."""
    return NEGATION.search(prefix) is not None


def odd_quotes(s: str) -> bool:
    """True when ``s`` leaves a double quote open (the cue sits inside a quotation)."""
    return (s.count('"') % 2 == 1) or (s.count("“") > s.count("”"))


def clip_words(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a word boundary with ``…`` when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: max(1, limit - 1)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def word_window(text: str, start: int, end: int, *, pad: int = 20, limit: int = 160) -> str:
    """The span ``text[start:end]`` with up to ``pad`` characters of context each side, widened or narrowed
    to whole words (never cut mid-word), ``…`` marking each cut side, at most ``limit`` characters."""
    s = max(0, start - pad)
    if s > 0 and text[s - 1].isalnum():
        nxt = next((i for i in range(s, start) if text[i].isspace()), None)
        s = nxt + 1 if nxt is not None else start
    e = min(len(text), end + pad)
    if e < len(text) and text[e].isalnum():
        prev = next((i for i in range(e, end, -1) if text[i - 1].isspace()), None)
        e = prev - 1 if prev is not None else end
    body = clip_words(text[s:e], limit - 2)
    return ("…" if s > 0 else "") + body + ("…" if e < len(text) and not body.endswith("…") else "")
