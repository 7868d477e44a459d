"""Escalation: does the response itself escalate, to whom, citing which triggers.

Contract (``docs/scoring-contract.md``): the response escalates when it hands off / defers / routes
the decision to the card's ``escalate_to``, names an escalation it is making now, or states that it
is escalating. Negated or conditional mentions ("no need to escalate", "if X we would escalate"),
alert-escalation policies ("PagerDuty escalates to on-call") and escalation as a topic are not.

Detection works sentence by sentence around cue words, outside code fences:

* an ``Escalation: <value>`` label line is judged by its value (``none``/``not required`` → no);
* a sentence naming the escalation target counts when it also carries a hand-off cue (review,
  sign-off, defer, route, decide, ...) and is neither negated, conditional, hedged nor a question;
* without the target, only committing forms of *escalate* count ("I am escalating", "Escalating
  this to ...", "this requires escalation", "should be escalated").

Triggers are matched by concept patterns derived from each trigger's words (with a small synonym
table keyed by those words), in the paragraphs that carry the escalation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import islice

from agenteval.inputs.card import AgentCard
from agenteval.scorers.text import CONDITIONAL, Doc, Lexicon, name_pattern

MAX_CUES = 200  # escalation cues looked at per response
_LABEL = re.compile(
    r"^[ \t>]*(?:[-*+][ \t]+)?(?:#{1,6}[ \t]*)?(?:\*\*|__)?[ \t]*(?P<key>escalat\w*(?:[ \t]+[\w/-]+){0,4}?)"
    r"[ \t]*(?:\*\*|__)?[ \t]*[:：](?:\*\*|__)?[ \t]*(?P<v>[^\n]*)$",
    re.I | re.M,
)
_LABEL_SKIP = re.compile(r"\b(?:polic\w*|path|chain|matrix|tiers?|timeouts?|rules?|contacts?|levels?|sla)\b", re.I)
_NEG_VALUE = re.compile(
    r"^\W*(?:no\b|none\b|not\b|n/?a\b|nil\b|false\b|nope\b|unnecessary|unwarranted|not needed|not required|"
    r"no need|nothing|negative\b|-\s*$|—\s*$|0\b)",
    re.I,
)
_COND_VALUE = re.compile(r"^\W*(?:only\s+)?(?:if|when|unless|should|in case|conditional|contingent|"
                         r"only if|pending|potentially|possibly|maybe|may|might|could)\b", re.I)
_POLICY = re.compile(
    r"\b(?:pagerduty|opsgenie|victorops|on-?call|alert\w*|pager|paging|pages\b|paged\b|sev-?\d|p[0-4]\b|"
    r"incident\w*|escalation (?:polic\w*|paths?|chains?|matrix|tiers?|levels?|rules?)|auto-?escalat\w*|"
    r"after \d+\s?(?:min|minutes|m)\b|support tickets?|tier[- ]?\d|runbook)",
    re.I,
)
_COMMIT = re.compile(
    r"(?:\b(?:i|we)\s*(?:am|are|'m|’m|'re|’re|will|'ll|’ll|must|should|need to|have to|"
    r"would|'d|’d|am going to|are going to|recommend|strongly recommend|hereby|formally)\s+(?:\w+\s+){0,2}"
    r"escalat\w*|\brecommend(?:ing|ed)?\s+(?:an?\s+)?escalat\w*|^\W*escalat(?:ing|e)\b|"
    r"\bescalat(?:ing|e)\s+(?:this|it|the\s+\w+|now|immediately|to\b)|"
    r"\b(?:requires?|needs?|warrants?|merits?|calls? for|triggers?|justif(?:y|ies))\s+(?:\w+\s+){0,2}escalation|"
    r"\b(?:should|must|needs? to|has to|will|is being|are being|to)\s+be\s+escalated|"
    r"\bescalation\s+(?:is|was)\s+(?:\w+\s+)?(?:required|needed|necessary|warranted|recommended|appropriate|"
    r"advised|justified|triggered)|\b(?:flag\w*|mark\w*|rais\w*|send\w*|pass\w*)\s+(?:this|it)?\s*"
    r"(?:up\s+)?for\s+escalation|\bescalation\s+to\s+\S+\s+(?:is\s+)?(?:required|needed|recommended|warranted))",
    re.I,
)
_HANDOFF = re.compile(
    r"\b(?:review\w*|sign[- ]?off|signs? off|approv\w*|decid\w*|decision|hand\w*[- ]?(?:off|over)|"
    r"defer\w*|rout\w*|consult\w*|input|weigh(?:s|ing)? in|loop\w* in|bring\w* in|escalat\w*|validat\w*|"
    r"confirm\w*|own\w*|assess\w*|take (?:over|a look)|look (?:at|over)|evaluat\w*|guidance|involv\w*|"
    r"pull\w* in|engag\w*|rais\w*|flag\w*|ask\w*|check\w*|vet\w*|call|judg\w*|opinion|go/no-go|"
    r"green[- ]?light|blessing|needs? to|should|must|before)\b",
    re.I,
)
_POST_NEG = re.compile(
    r"^[^.\n]{0,60}?(?:\b(?:is|are|was|seems?|feels?|appears?|be)\s+)?(?:\bnot\b|n't|n’t)\s+(?:\w+\s+)?"
    r"(?:needed|necessary|required|warranted|justified|appropriate|called for|needed here)\b|"
    r"^[^.\n]{0,40}?\b(?:unnecessary|unwarranted|not needed|not required|not necessary|isn't needed|"
    r"is unneeded)\b",
    re.I,
)
_HEDGE = re.compile(r"\b(?:may|might|could|can|optionally|possibly|potentially|later|normally|usually|typically|"
                    r"otherwise|ordinarily|generally|often|sometimes)\b", re.I)
_LEAD_COND = re.compile(r"^\W*(?:should|were|had|if|unless|when|whenever|once|in case|in the event)\b", re.I)
_POST_COND = re.compile(r"\b(?:if|unless|in case|whenever|when|once|should (?:the|it|this|that|we|any))\b",
                        re.I)
_REASON_CUT = re.compile(r"\b(?:because|since|given|as|due to)\b|[:—–(]", re.I)
_PRE_NEG = re.compile(
    r"\b(?:no|not|never|without|nor|cannot|avoid\w*|rather than|instead of|neither|nothing|"
    r"unnecessary|won't|don't|doesn't|didn't|isn't|aren't|shouldn't|wouldn't|can't|needn't|"
    r"no need|no reason)\b|n't\b|n’t\b",
    re.I,
)
_TARGET_OTHER = re.compile(
    r"\bescalat\w*\s+(?:this\s+|it\s+|the\s+\w+\s+)?to\s+(?:the\s+|a\s+|an\s+|our\s+|your\s+)?"
    r"(?P<t>[A-Za-z][\w-]*(?:[ \t][A-Za-z][\w-]*){0,2})",
    re.I,
)
# an escalation chain / path / runbook that names the target: a policy the answer designs, not a hand-off
_CHAIN = re.compile(
    r"→|->|⟶|=>|\bescalation (?:polic\w*|paths?|chains?|matrix|ladders?|tiers?|levels?|trees?|routes?|"
    r"procedures?|rules?)\b|\bon-?call\b|\bpag(?:es|ed|ing)\b|\bpager\w*|\brunbooks?\b|"
    r"\bafter \d+\s?(?:min\w*|m|h|hours?|hrs?)\b|\bfor (?:[\w/-]+[ -]){0,3}incidents?\b",
    re.I,
)
# the response acting now in its own voice ("I'm escalating", "we are handing ...")
_OWN_ACT = re.compile(r"\b(?:i|we)\s*(?:am|'m|’m|are|'re|’re|will|'ll|’ll|have|'ve|’ve|hereby)\s+(?:\w+\s+)?"
                      r"(?:escalat|hand|kick|bump|push|send|pass|loop|pull|rout|defer|refer|rais|flag)\w*", re.I)
# colloquial hand-off verbs: "kicking the go/no-go up to X", "passing this over to X"
_COLLOQUIAL = re.compile(r"\b(?:kick|bump|push|send|pass|hand|toss|punt|throw|shunt|bounc)\w*\s+(?:[\w/'’-]+\s+){0,4}?"
                         r"(?:up|over|upstairs|across)\s+to\b", re.I)
# a terse status line in the answer's own voice: "Go/no-go escalated." / "Decision escalated to X."
_STATUS = re.compile(r"^\W*(?:[\w/'’-]+\s+){0,3}?(?:go/nx-go|decision|call|question|choice|sign-?off|approval|"
                     r"matter|issue|this|it|review|request|blocker|design(?: choice)?|architecture|trade-?off|"
                     r"risk acceptance|final say)\s+(?:now\s+|been\s+|is\s+|has been\s+)?escalated"
                     r"(?:\s+to\s+[\w -]{1,40})?\W*$", re.I)
_NOGO = re.compile(r"no-go", re.I)
_TRIGGER_REF = re.compile(r"\btrigger(?:s)?[ .#]?(?:no\.?\s*)?(?P<n>\d)\b", re.I)

# Synonym table for trigger concepts, keyed by a stem of the trigger's own words. A card whose
# triggers use other words still gets the literal and word-overlap matching.
_DOMAINS = ("legal", "security", "compliance", "networking", "hardware", "regulatory", "privacy", "finance",
            "financial", "medical", "clinical", "fpga", "embedded", "firmware", "database", "safety", "actuarial",
            "econometric", "econometrics", "auction", "fda", "hipaa", "gdpr", "data protection", "dpo")
_TRIGGER_SYNONYMS: dict[str, list[str]] = {
    "complex": [r"complex[a-z]*", r"non-?standard", r"beyond (?:the |our )?standard", r"exceeds? (?:the )?standard",
                r"standard patterns?", r"off[- ]the[- ]shelf patterns? (?:do ?n.t|does ?n.t|won.t)",
                r"no (?:established|standard|known) pattern", r"unusual(?:ly)? (?:complex|architecture|design)",
                r"intricate", r"multi[- ]stage cascade", r"cascad[a-z]*"],
    "novel": [r"novel[a-z]*", r"unprecedented", r"no (?:clear |known |established |prior )?precedent",
              r"without (?:clear |known |established |prior |a )?precedent", r"first[- ]of[- ]its[- ]kind",
              r"never been done", r"new territory", r"uncharted", r"no prior art",
              r"no existing (?:reference|playbook)", r"greenfield"],
    "precedent": [r"no (?:clear |known |established |prior )?precedent",
                  r"without (?:clear |known |established |prior |a )?precedent", r"unprecedented"],
    "cross": [r"cross[- ]domain", r"outside (?:my|our|the|this|mlops)\b[a-z -]{0,20}(?:domain|expertise|area|scope|"
              r"remit)", r"beyond (?:my|our|mlops|the mlops)\b[a-z -]{0,20}(?:domain|expertise|remit|scope)",
              r"multi[- ]domain", r"requires? (?:[a-z]+ )?expertise (?:in|from|outside)", r"domain experts?",
              r"other domains?"] + [rf"{d}\s+(?:expertise|knowledge|review|specialists?|experts?|sign[- ]?off|team|"
                                    r"input|question|dimensions?)" for d in _DOMAINS],
    "expertise": [r"expertise (?:in|from|outside|beyond)", r"specialist (?:knowledge|expertise|review)"],
}
_STOP = {"the", "a", "an", "of", "and", "or", "to", "for", "in", "on", "with", "without", "required", "requires",
         "exceeds", "is", "are", "be", "by"}


@dataclass
class EscalationResult:
    """What the escalation analysis found."""

    escalated: bool
    target: str | None
    evidence: str  # the sentence that decided it (or why not)
    triggers: list[str] = field(default_factory=list)  # trigger ids cited
    mentions: int = 0  # escalation-related sentences looked at


class EscalationSpec:
    """The card's escalation settings compiled into patterns (built once per card)."""

    def __init__(self, card: AgentCard) -> None:
        # the card's own hand-off target(s): zero or more
        self.targets = [t for t in card.escalation.targets if t.strip()]
        self.escalate_to = self.targets[0] if self.targets else ""
        self.threshold = card.escalation.confidence_threshold
        alt = "|".join(name_pattern(t) for t in self.targets) or r"(?!x)x"
        self.target = re.compile(r"(?<![\w-])(?:" + alt + r")(?![\w-])", re.I)
        self.target_each = [re.compile(r"(?<![\w-])" + name_pattern(t) + r"(?![\w-])", re.I) for t in self.targets]
        self.cue = re.compile(r"(?<![\w-])(?:" + alt + r")(?![\w-])|\bescalat\w*", re.I)
        self.target_word_sets = [[w for w in re.split(r"[^a-z0-9]+", t.lower()) if w] for t in self.targets]
        self.target_words = self.target_word_sets[0] if self.target_word_sets else []
        self.target_lows = [re.compile(name_pattern(t.lower()) + r"(?![\w-])") for t in self.targets]
        self.trigger_ids = list(card.trigger_ids)
        self.trigger_rx: list[Lexicon] = [self._trigger_pattern(t) for t in card.escalation.triggers]

    @staticmethod
    def _trigger_pattern(text: str) -> Lexicon:
        words = [w for w in re.findall(r"[a-z][a-z-]+", text.lower()) if w not in _STOP]
        alts: list[str] = [re.escape(text.lower())]
        for w in words:
            for stem, syn in _TRIGGER_SYNONYMS.items():
                if w.startswith(stem):
                    alts.extend(syn)
        # word-overlap: two of the trigger's content words close together (in either order)
        stems = [re.escape(w[:6]) for w in words if len(w) >= 4]
        for i in range(len(stems)):
            for j in range(len(stems)):
                if i != j:
                    alts.append(rf"{stems[i]}[a-z-]*\W+(?:[a-z0-9-]+\W+){{0,3}}?{stems[j]}[a-z]*")
        return Lexicon(alts)

    # ------------------------------------------------------------------ detection

    def _label_verdict(self, key: str, value: str) -> bool | None:
        """Judge an ``Escalation...: value`` line; None when the line is not about escalating now."""
        if _LABEL_SKIP.search(key):
            return None
        k = key.lower()
        v = value.strip().strip("*_` ").strip()
        if not v:
            return None
        if re.match(r"^escalat(?:ing|ed|e)\s+(?:this\s+|it\s+|the\s+\w+\s+)?to\b", k.strip()):
            # "Escalating to senior-architect: <reason>" escalates unless the value is a bare "no"
            return not re.match(r"^\W*(?:no|none|not|n/?a|false|nope)\W*$|^\W*(?:no|not)\s+(?:needed|required|"
                                r"necessary|now)\b", v, re.I)
        if re.search(r"\b(?:needed|required|necessary|recommended|warranted)\b", k) or k.strip().startswith(
            "escalate"
        ):
            # "Escalation needed: No" / "Escalate to X: yes"
            if re.match(r"^\W*(?:no|none|false|n/?a|not)\b", v, re.I):
                return False
            if re.match(r"^\W*(?:yes|true|required|recommended)\b", v, re.I):
                return True
        if re.search(r"\btrigger", k):
            return None
        if _NEG_VALUE.match(v) or _COND_VALUE.match(v):
            return False
        if _PRE_NEG.search(v[:30]) and not self.target.search(v[:30]):
            return False
        return not _POST_NEG.match(v)

    def _cue_spans(self, doc: Doc) -> list[tuple[int, int]]:
        low = doc.low
        spans: list[tuple[int, int]] = []
        i = low.find("escalat")
        while i >= 0:
            if i == 0 or not (low[i - 1].isalnum() or low[i - 1] in "-_"):
                e = i + 7
                while e < len(low) and (low[e].isalnum() or low[e] == "_"):
                    e += 1
                spans.append((i, e))
            i = low.find("escalat", i + 7)
        for words, target_low in zip(self.target_word_sets, self.target_lows, strict=True):
            w = words[0] if words else ""
            if w and all(doc.index.has(x) for x in words):
                i = low.find(w)
                while i >= 0:
                    if i == 0 or not (low[i - 1].isalnum() or low[i - 1] in "-_"):
                        m = target_low.match(low, i)
                        if m:
                            spans.append((m.start(), m.end()))
                    i = low.find(w, i + len(w))
        if len(self.target_word_sets) > 1:
            spans = sorted(set(spans))
        spans.sort()
        if len(spans) > MAX_CUES:  # adversarial input: keep the head and, above all, the tail
            spans = spans[: MAX_CUES // 4] + spans[-(MAX_CUES - MAX_CUES // 4):]
        return spans

    def detect(self, doc: Doc) -> EscalationResult:
        """Decide whether the response escalates; collect target and triggers."""
        text = doc.text
        idx = doc.index
        if not idx.has_prefix("escalat") and not any(
            all(idx.has(x) for x in ws) for ws in (self.target_word_sets or [["\0"]]) if ws
        ):
            return EscalationResult(False, None, "no escalation language", [], 0)
        cues = self._cue_spans(doc)
        positives: list[tuple[int, int]] = []  # sentence spans that escalate
        evidence = ""
        neg_evidence = ""
        mentions = 0
        label_lines: set[int] = set()
        # 1. label lines ("Escalation: ...")
        seen_lines: set[int] = set()
        label_matches: list[re.Match[str]] = []
        for cs, _ce in cues:
            ls = text.rfind("\n", 0, cs) + 1
            if ls in seen_lines:
                continue
            seen_lines.add(ls)
            lm = _LABEL.match(text, ls)
            if lm:
                label_matches.append(lm)
        for m in label_matches:
            if doc.fences and doc.in_fence(m.start()):
                continue
            label_lines.add(m.start())
            verdict = self._label_verdict(m.group("key"), m.group("v"))
            mentions += 1
            if verdict is True:
                positives.append((m.start(), m.end()))
                evidence = evidence or text[m.start():m.end()].strip()[:200]
            elif verdict is False:
                neg_evidence = neg_evidence or text[m.start():m.end()].strip()[:200]
        # 2. sentences around cues
        done: set[tuple[int, int]] = set()
        for pos, pend in cues:
            if doc.fences and doc.in_fence(pos):
                continue
            ls = text.rfind("\n", 0, pos) + 1
            if ls in label_lines:
                continue
            s, e = doc.sentence(pos, pend)
            if (s, e) in done:
                continue
            sent = text[s:e]
            if _LABEL.match(sent):
                continue
            done.add((s, e))
            mentions += 1
            verdict, why = self._sentence_verdict(sent)
            if verdict:
                positives.append((s, e))
                evidence = evidence or sent.strip()[:200]
            else:
                neg_evidence = neg_evidence or f"{why}: {sent.strip()[:160]}"
        if not positives:
            return EscalationResult(False, None, neg_evidence or "no escalation language", [], mentions)
        # target
        target: str | None = None
        for s, e in positives:
            if self.target.search(text, s, e):
                target = self._which_target(text, s, e)
                break
        if target is None:
            for s, e in positives:
                tm = _TARGET_OTHER.search(text, s, e)
                if tm:
                    target = self._clean_target(tm.group("t"))
                    break
        return EscalationResult(True, target, evidence, self._triggers(doc, positives[:20]), mentions)

    def _clean_target(self, t: str) -> str | None:
        words = t.split()
        stop = {"because", "since", "for", "as", "before", "with", "if", "now", "immediately", "and", "so", "given"}
        out: list[str] = []
        for w in words:
            if w.lower() in stop:
                break
            out.append(w)
        res = " ".join(out).strip(" .,;:")
        if self.target.fullmatch(res):
            return self._which_target(res, 0, len(res))
        return res or None

    def _which_target(self, text: str, s: int, e: int) -> str:
        """The card target named first in ``text[s:e]``."""
        if len(self.target_each) <= 1:
            return self.escalate_to
        hits = [(m.start(), t) for t, rx in zip(self.targets, self.target_each, strict=True)
                if (m := rx.search(text, s, e))]
        return min(hits)[1] if hits else self.escalate_to

    def _sentence_verdict(self, sent: str) -> tuple[bool, str]:
        # "go/no-go" is a decision, not a negation (same length, offsets keep)
        low = _NOGO.sub("nx-go", sent.lower()) if "no-go" in sent.lower() else sent.lower()
        stripped = sent.strip().rstrip("*_ )\"'")
        if stripped.endswith("?"):
            return False, "question"
        if _LEAD_COND.match(low):
            return False, "conditional"
        has_target = self.target.search(sent) is not None
        if has_target and _CHAIN.search(sent) and not _OWN_ACT.search(low):
            return False, "escalation policy"
        if _STATUS.match(low) and not _POLICY.search(low) and not _PRE_NEG.search(low):
            return True, "states its escalation"
        found: tuple[bool, str] | None = None
        first_neg = ""
        for m in islice(self.cue.finditer(sent), 12):
            verdict, why = self._cue_verdict(low, m, has_target)
            if verdict is False and why == "negated":
                return False, why  # an explicit refusal in the sentence dominates
            if verdict and found is None:
                found = (True, why)
            elif verdict is False and not first_neg:
                first_neg = why
        if found is not None:
            return found
        return False, first_neg or "mention only"

    def _cue_verdict(self, low: str, m: re.Match[str], has_target: bool) -> tuple[bool | None, str]:
        """Verdict of one cue: True (escalates), False (negated/conditional/...), None (no signal)."""
        cue_is_target = not m.group(0).lower().startswith("escalat")
        before = low[: m.start()]
        cut = max(before.rfind(c) for c in (",", ";", "—", "–", "(", ":"))
        clause = before[cut + 1 :] if cut >= 0 else before
        for conj in (" but ", " however ", " so ", " therefore ", " hence ", " thus "):
            k = clause.rfind(conj)
            if k >= 0:
                clause = clause[k + len(conj) :]
        clause = clause[-90:]
        spre = before
        for conj in (" but ", " however ", "; ", " therefore ", " so ", " hence "):
            k = spre.rfind(conj)
            if k >= 0:
                spre = spre[k + len(conj) :]
        after = low[m.end(): m.end() + 160]
        if _PRE_NEG.search(clause) or _POST_NEG.match(after):
            return False, "negated"
        if CONDITIONAL.search(spre):
            return False, "conditional"
        first_person_now = re.search(r"\b(?:i|we)\s*(?:am|'m|’m|are|'re|’re|have|'ve|’ve)\s+(?:\w+\s+)?$", clause)
        if _HEDGE.search(clause) and not first_person_now:
            return False, "hedged"
        reason_cut = _REASON_CUT.search(after)
        post = after[: reason_cut.start()] if reason_cut else after
        window = low[max(0, m.start() - 120): m.end() + 160]
        if not cue_is_target:
            seg = low[max(0, m.start() - 80): m.end() + 60]
            lead = re.match(r"^\W*(?:\*\*)?escalat(?:ing|e|ed)\b", low[max(0, m.start() - 12):]) is not None and \
                re.match(r"^\W*$", before)
            progressive = bool(first_person_now) or lead
            if not progressive and _POST_COND.search(post):
                return False, "conditional"
            if (_COMMIT.search(seg) or lead) and (
                    progressive or re.search(r"\b(?:i|we)\b", clause) or not _POLICY.search(window)):
                return True, "states it is escalating"
            if _POLICY.search(window) and not has_target:
                return False, "alert policy"
            if has_target and re.search(r"\bescalat\w*\s+(?:\w+\s+){0,3}?to\b", seg):
                return True, "escalation to target"
            if re.search(r"\b(?:was|were|been|has been|have been|got)\s+escalated\b", seg) and has_target:
                return True, "reports its escalation"
            return None, "mention only"
        # the target's name
        if _POST_COND.search(post) and not first_person_now:
            return False, "conditional"
        if self._historical(low):
            return None, "past mention"
        if _HANDOFF.search(window.replace(m.group(0).lower(), " ")) or _COLLOQUIAL.search(window):
            return True, "hands off to target"
        return None, "mention only"

    def _historical(self, low: str) -> bool:
        t = self.target.pattern
        past = (r"(?:approved|reviewed|signed off|validated|decided|designed|built|wrote|owned|assessed|evaluated|"
                r"confirmed|checked|vetted|looked at|said|noted|suggested|recommended|mentioned|set|chose|picked|"
                r"defined|agreed|proposed|drew up|created|authored)")
        if re.search(rf"{t}\s+(?:\w+\s+)?{past}\b", low, re.I) or re.search(rf"{past}\s+by\s+(?:the\s+)?{t}",
                                                                             low, re.I):
            return not re.search(r"\b(?:should|will|'ll|needs?|must|please|ask\w*|escalat\w*|hand\w*|defer\w*|"
                                 r"rout\w*|loop\w*|want|request\w*)\b", low)
        return False

    def _triggers(self, doc: Doc, positives: list[tuple[int, int]]) -> list[str]:
        text, low = doc.text, doc.low
        spans: list[tuple[int, int]] = []
        for s, e in positives:
            ps = text.rfind("\n\n", 0, s)
            ps = 0 if ps < 0 else ps
            pe = text.find("\n\n", e)
            pe = len(text) if pe < 0 else pe
            # include the neighbouring paragraph on each side, bounded
            ps2 = text.rfind("\n\n", 0, max(0, ps - 1))
            pe2 = text.find("\n\n", pe + 2)
            spans.append((max(0, ps2 if ps2 >= 0 else 0, s - 1500), min(len(text), pe2 if pe2 >= 0 else len(text),
                                                                         e + 1500)))
        cited: list[str] = []
        for tid, rx in zip(self.trigger_ids, self.trigger_rx, strict=True):
            n = int(tid.split(".")[1])
            hit = False
            for s, e in spans:
                for m in rx.finditer(low, s, e, index=doc.index):
                    ls = max(low.rfind("\n", 0, m.start()), low.rfind(". ", 0, m.start()), s - 1)
                    pre = low[max(ls + 1, m.start() - 60): m.start()]
                    if re.search(r"\b(?:no|not|without|neither|nor|none of|nothing|never)\b\W*(?:\w+\W+){0,2}$|"
                                 r"n't\s+(?:\w+\s+)?$",
                                 pre):
                        continue
                    hit = True
                    break
                if not hit:
                    for rm in _TRIGGER_REF.finditer(text, s, e):
                        if int(rm.group("n")) == n:
                            hit = True
                            break
                if hit:
                    break
            if hit:
                cited.append(tid)
        return cited
