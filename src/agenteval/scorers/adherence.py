"""Cognitive-mode and ensemble-role adherence, rule coverage and task correctness.

Mode adherence (contract): *informative* presents options with tradeoffs and does not advocate one;
*evaluative* gives a recommendation backed by a comparison; *critical* gives findings/issues;
*generative* gives an architecture/design with an implementation strategy.

Role adherence: *solo* flags uncertainties; *panel_member* stakes a clear position; *auditor* is
adversarial and verifies or challenges claims; *input_provider* provides expertise but does not
decide the architecture; *decision_maker* synthesises the panel's inputs and owns the decision.

Modes and roles the detectors do not know are reported not applicable (never guessed). Each detector
is a set of cue patterns evaluated outside code fences, with negation handled at the clause level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from agenteval.inputs.card import AgentCard
from agenteval.inputs.scenario import Evidence, Scenario
from agenteval.scorers.text import (
    CONDITIONAL,
    NEGATION,
    Doc,
    Lexicon,
    WordIndex,
    has_content,
    required_literals,
    strip_markup,
)


@dataclass
class Verdict:
    """A boolean judgement with its reason; ``applicable=False`` when it cannot be judged."""

    applicable: bool
    ok: bool
    reason: str


def _prose(doc: Doc) -> str:
    """The response without fenced code, lower-cased (cached on the doc)."""
    cached = doc.cache.get("prose")
    if cached is not None:
        return cached
    if not doc.fences:
        out = doc.low
    else:
        parts: list[str] = []
        last = 0
        for s, e in doc.fences:
            parts.append(doc.low[last:s])
            last = e
        parts.append(doc.low[last:])
        out = "\n".join(parts)
    doc.cache["prose"] = out
    return out


_B = r"(?![a-z])"


def _lex(*pats: str) -> Lexicon:
    """A Lexicon of cue phrases; phrases ending in a letter must end a word (stems end in ``[a-z]*``)."""
    return Lexicon([p + _B if p[-1].isalpha() else p for p in pats])


def _clause_before(text: str, pos: int) -> str:
    lo = max(0, pos - 60)
    pre = text[lo:pos]
    cut = max(pre.rfind(c) for c in (",", ";", ":", "\n", ". ", "(", "—"))
    return pre[cut + 1 :] if cut >= 0 else pre


def _hits(lex: Lexicon, text: str, *, neg_ok: bool = False, cond_ok: bool = True, limit: int = 50,
          post_cond: bool = False, index: WordIndex | None = None, not_after: re.Pattern[str] | None = None
          ) -> list[str]:
    """Cue matches whose clause is not negated (and optionally not conditional, not right after
    ``not_after``)."""
    out: list[str] = []
    for m in lex.finditer(text, index=index):
        if not_after is not None and not_after.search(text, max(0, m.start() - 24), m.start()):
            continue
        clause = _clause_before(text, m.start())
        if not neg_ok and NEGATION.search(clause):
            continue
        if not cond_ok and CONDITIONAL.search(clause):
            continue
        if post_cond and re.match(r"[^.\n;]{0,50}?\b(?:if|when|for teams|for cases|in cases|unless)\b",
                                  text[m.end():m.end() + 60]):
            continue
        out.append(m.group(0))
        if len(out) >= limit:
            break
    return out


# ------------------------------------------------------------------------------------- mode cues

_ADVOCACY = _lex(
    "i recommend", "i'd recommend", "i would recommend", "we recommend", "i strongly recommend", "i suggest",
    "i'd suggest", "i advocate", "i favor", "i favour", "i prefer", "i'd pick", "i'd choose", "i'd go with",
    "i would go with", "i would pick", "i would choose", "i'd use", "i lean", "i'd lean", "my recommendation",
    "my pick", "my choice", "my preference", "my vote", "my advice", "the best choice", "the best option",
    "the right choice", "the clear winner", "clear winner", "the obvious choice", "the winning", "go with",
    "you should use", "you should choose", "you should pick", "you should go with", "you should adopt",
    "you should start", "you should just", "recommendation:", "verdict:", "is the best choice",
    "best fit overall", "best fit for you", "hands down", "we should use", "we should adopt", "we should go with",
    "opt for", "wins",
)
_OPTIONS = _lex("option", "options", "alternative", "alternatives", "approach", "approaches", "strategy", "strategies",
                "vs", "versus", "trade-off", "trade-offs", "tradeoff", "tradeoffs", "pros", "cons", "when to use",
                "best for", "best suited", "suited to", "suited for", "use it when", "use when", "suits", "fits",
                "characteristics", "depends on", "depending on", "fit", "suit", "typically", "usually", "common",
                "tend to", "tends to", "compar[a-z]*", "both", "overlap", "differ[a-z]*", "whereas", "while",
                r"\|")
_DECISION_CUES = ("recommend", "recommends", "recommended", "recommendation", "recommending", "going with",
                  "made the call", "make the call", "decided on", "i've decided", "we've decided", "we'll use",
                  "we will use", "lean toward", "lean towards", "leaning toward", "leaning towards", "my lean",
                  "my position", "my view", "my take", "my answer", "my verdict", "verdict", "i'd avoid",
                  "i would avoid", "i'd decline", "decline", "our pick", "decision:", "i'd lean", "i would lean",
                  "we should use", "we should go", "we should pick", "we should choose", "we should adopt",
                  "we should decline", "we should avoid", "we would use", "i would use", "suggest", "suggests",
                  "the best choice", "the right choice", "best option", "best fit", "clear winner", "winner",
                  "opt for")
_RECOMMEND = _lex(
    *_DECISION_CUES,
    "go with", "i'd pick", "i'd choose", "i'd go with", "i'd use", "i pick", "i choose", "i prefer", "i favor",
    "i favour", "i would pick", "i would choose", "i would prefer", "my pick", "my choice", "my vote",
    "my preference",
)
_COMPARE = _lex("vs", "versus", "compar[a-z]*", "trade-off", "tradeoff", "pros", "cons", "whereas", "on the other hand",
                "than", "outperform[a-z]*", "in contrast", "unlike", "relative to", "instead of", "rather than",
                "replac[a-z]*",
                "current", "currently", "alternative", "alternatives", "option", "options", "against", "while",
                "but", r"\|")
_STRONG_FINDING = Lexicon([r"##* ?\[[a-z]+\]", r"##* ?findings" + _B, r"findings:", r"\*\*issue\*\*:",
                           r"\*\*issue:\*\*", r"issues found", r"issues identified", r"problems found",
                           r"problems identified", r"defects found", r"gaps found", r"risks identified",
                           r"root cause", r"finding \d", r"critical severity", r"high severity", r"high-severity",
                           r"critical-severity", r"high risk", r"high-risk"])
_FINDINGS = _lex("finding", "findings", "issue", "issues", "risk", "risks", "problem", "problems", "defect",
                 "defects", "gap", "gaps", "missing", "lack", "lacks", "lacking", "flaw", "flaws", "bug", "bugs",
                 "vulnerab[a-z]*", "concern", "concerns", "leak", "leaks", "leakage", "doesn't", "does not",
                 "incorrect",
                 "broken", "wrong", "unsafe", "fails to", "caused by", "degrad[a-z]*", "regress[a-z]*", "inflated",
                 "not independent", "isn't independent", "isn't safe", "isn't enough", "isn't sufficient", "fix",
                 "fixed", "weak", "single point of failure", "fragil[a-z]*", "not safe", "not sufficient", "not enough",
                 "mismatch", "stale", "should be fixed", "no rollback", "no validation", "no gate", "no tracking",
                 "no monitoring", "no versioning", "no test", "no tests")
_NO_FINDINGS = _lex("no issues", "no problems", "no findings", "no concerns", "nothing to flag",
                    "anything to flag", "everything looks solid", "everything looks good", "everything looks fine",
                    "everything looks correct", "no defects", "no gaps", "looks solid", "no red flags")
_TOOLS = _lex("mlflow", "kubeflow", "airflow", "argo", "feast", "tecton", "kafka", "flink", "spark", "redis", "s3",
              "gcs", "bigquery", "snowflake", "redshift", "sagemaker", "vertex", "kserve", "seldon", "kubernetes",
              "k8s", "eks", "gke", "aks", "docker", "helm", "terraform", "prometheus", "grafana", "evidently",
              "great expectations", "optuna", "ray", "dvc", "onnx", "triton", "fastapi", "postgres", "dynamodb",
              "istio", "knative", "datadog", "pagerduty", "opsgenie", "lambda", "ec2", "glue", "athena", "dbt",
              "delta", "iceberg", "parquet", "pytorch", "tensorflow", "xgboost", "lightgbm", "sklearn", "w&b",
              "wandb", "bentoml", "cron", "dag", "psi", "canary", "shadow", "blue-green", "registry", "api",
              "endpoint", "sla", "p99", "p95", "grpc", "rest", "slack", "ci", "github actions", "jenkins",
              "gitlab", "pipeline", "schema", "json", "yaml", "sql", "→", "->")
_DIGITS = re.compile(r"\d+")
_LABEL_PREFIX = re.compile(r"^[ \t>]*(?:[-*+][ \t]+)?(?:#{1,6}[ \t]*)?(?:\*\*|__)?[\w /-]{1,40}(?:\*\*|__)?[ \t]*:"
                           r"(?:\*\*|__)?", re.M)
_BOLD_LEAD = re.compile(r"^[ \t]*\*\*[^*\n]{2,60}\*\*", re.M)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+\S", re.M)
_DECLINE_DESIGN = _lex(
    "not something i can design", "not something we can design", "not something i can propose",
    "i can't design", "i cannot design", "i won't design", "we can't design", "we cannot design",
    "i'm not going to design", "i am not going to design", "i'm unable to design", "i am unable to design",
    "hold off on a design", "hold off on the design", "holding off on a design", "holding off on the design",
    "before i commit to a design", "before we commit to a design", "before i propose a design",
    "no design yet", "no design until", "won't propose a design", "won't produce a design",
)

# ------------------------------------------------------------------------------------- role cues

_UNCERTAIN = _lex(
    "uncertain", "uncertainty", "uncertainties", "assum[a-z]*", "unknown", "unknowns", "unclear", "not sure", "unsure",
    "unverified", "caveat", "caveats", "limitation", "limitations", "open question", "open questions",
    "depends on", "depend on", "may not", "might not", "could not verify", "can't resolve", "cannot resolve",
    "can't verify", "cannot verify", "can't confirm", "cannot confirm", "can't tell", "can't know",
    "can't be sure", "cannot determine", "haven't verified", "haven't measured", "haven't tested", "haven't seen",
    "haven't checked", "haven't confirmed", "not yet verified", "not yet measured", "not yet validated",
    "not yet tested", "not yet known", "not yet tuned", "not yet agreed", "not yet confirmed", "not verified",
    "not measured", "not validated", "not tested", "not known", "not tuned", "not agreed", "not confirmed",
    "not clear", "not certain", "guess", "to be confirmed", "tbd", "unvalidated", "untested", "speculat[a-z]*",
    "i don't know", "no data on", "unconfirmed", "no precedent", "no evidence", "within the noise",
    "within noise", "within the variance", "hard to say", "hard to know", "hard to tell", "hard to predict",
    "not something i can settle", "not something we can settle", "can't settle", "cannot settle", "risk",
    "risks", "debatable", "estimate", "estimated", "approximate", "roughly")
_POSITION = _lex(
    "i recommend", "i strongly recommend", "i'd recommend", "i would recommend", "i advocate", "i propose",
    "i argue", "i'd argue", "i favor", "i favour", "i prefer", "i support", "i oppose", "i disagree",
    "i strongly disagree", "i agree", "i back", "i believe", "i vote", "i insist", "i push back", "i'd push back",
    "i object", "i'd choose", "i'd pick", "i'd go with", "i'd ship", "i'd use", "i'd not", "i would not",
    "i side", "we should", "we must", "my position", "my stance", "my view", "my recommendation", "my vote",
    "my pick", "my proposal", "my take", "my answer", "position:", "stance:", "i'm for", "i'm against",
    "i am against", "i'm in favor", "i'm in favour", "the right call is", "the right choice is",
    "the right answer is", "do not ship", "do not deploy", "don't ship", "no-go", "no go", "go with",
    "i strongly", "i firmly")
_HEDGE_ONLY = _lex("it depends", "no right answer", "no single right answer", "both are valid", "both are fine",
                   "both are good", "leave it to the panel", "up to the panel", "leave that to the panel")
_CHALLENGE_STRONG = _lex(
    "i tested", "tested each", "i checked", "checked each", "i verified", "verified against", "i re-ran", "i reran",
    "re-running", "rerunning", "re-ran", "reproduc[a-z]*", "not reproduced", "could not be reproduced", "does not hold",
    "doesn't hold", "holds only", "challeng[a-z]*", "disagree", "push back", "pushing back", "refut[a-z]*",
    "contradict[a-z]*",
    "no evidence", "unverified", "not supported", "unsupported", "overstat[a-z]*", "inflated", "misleading",
    "doesn't match", "does not match", "don't match", "do not match", "is wrong", "is incorrect", "cross-check",
    "spot-check", "spot check", "validated against", "compared against", "independently", "i read", "i ran",
    "i measured", "i inspected", "i traced", "in fact", "actually", "claim fails", "claims fail", "fails at",
    "not borne out", "isn't true", "is not true", "not accurate", "questionable", "dubious", "suspicious",
    "skeptic[a-z]*", "sceptic[a-z]*", "too good to be true", "can't confirm", "cannot confirm", "could not confirm")
_CHALLENGE_WEAK = _lex(
    "claim", "claims", "claimed", "evidence", "verify", "verif[a-z]*", "assert", "validat[a-z]*", "check",
                       "checked", "test", "tested", "however", "but")
_ACCEPTS_ON_FAITH = _lex("good reputation", "on reputation", "per their benchmark", "take their word",
                         "take the vendor's word", "trust their", "as claimed", "their benchmark reports",
                         "we can trust")
_DECIDES = _lex(
    "i decided", "i've decided", "i have decided", "we decided", "we've decided", "we have decided", "my decision",
    "my final decision", "final decision", "i'm going with", "i am going with", "we're going with",
    "we are going with", "i'm choosing", "we're choosing", "i'm selecting", "i'm deciding", "i will go with",
    "i'll go with", "we will go with", "we'll go with", "decision:", "the decision is", "i decide",
    "we're going to use", "we're going to build", "we're going to adopt", "the architecture will be",
    "the architecture shall be", "we will use", "we will adopt", "we will build", "we will standardise on",
    "we will standardize on", "i'm making the call", "i'm taking the call", "i am making the call",
    "i've made the call", "i have made the call", "made the call", "decided:", "i own this", "i own the",
    "i'll own", "i will own", "this is my call", "my call", "i'm approving", "approved:", "go decision",
    "going with", "we go with", "final call", "we'll ship", "we will ship", "we'll proceed with",
    "we'll standardise", "we'll standardize", "i choose", "we choose", "i select", "we select", "verdict:",
    "i'm calling", "i take ownership", "i take responsibility", "i've asked the", "i have asked the")
_DEFERS = _lex(
    "decision is yours", "decision remains with", "decision rests with", "decision sits with", "decision stays with",
    "decision belongs to", "the decision is yours", "defer[a-z]*", "deferring", "your call", "up to you", "up to the",
    "up to them", "leave the decision", "leave this decision", "leave that decision", "leave the choice",
    "leave the call", "to decide", "to choose", "should decide", "will decide", "can decide", "gets to decide",
    "make the call", "make the decision", "not my decision", "not mine to decide", "not mine to settle",
    "not my call", "i'm not deciding", "i am not deciding", "not making the call", "input to", "input for",
    "my input", "as input", "i won't decide", "i won't pick", "i won't choose", "without deciding",
    "without picking", "without choosing", "owns the decision", "own the decision", "owns the call",
    "decides", "decision-maker", "decision maker", "is hers", "are hers", "is his", "are his", "is theirs",
    "are theirs", "is yours", "are yours", "owns the go", "her decision", "his decision", "their decision",
    "your decision")
_STRONG_DEFER = _lex(
    "decision is yours", "decision remains with", "decision rests with", "decision sits with", "decision stays with",
    "decision belongs to", "is hers", "are hers", "is his", "are his", "is theirs", "are theirs", "is yours",
    "are yours", "your call", "up to you", "owns the go", "owns the decision", "own the decision",
    "leave the decision", "leave the call", "leave the final", "not my decision", "not mine to decide",
    "not my call", "her decision", "his decision", "their decision", "your decision")
_OTHERS = re.compile(r"(?:'s|’s|\bfor|\bher|\bhis|\btheir|\byour)\s*\**\s*$")
_SYNTH = _lex("panel", "input", "inputs", "synthes[a-z]*", "weigh", "weighing", "considering the", "considering all",
              "considering both", "as noted", "pointed out", "point from", "points from", "concern from",
              "concerns from", "view from", "argument from", "proposal from", "both", "agree with",
              "disagree with", "combin[a-z]*", "into account", "raised by", "noted by", "argued by", "proposed by",
              "summarising", "summarizing", "pulling together", "said", "argued", "suggested", "proposed")
_OWNS = _lex(
    "decision:", "my decision", "final decision", "i decided", "i've decided", "i have decided", "we decided",
    "we've decided", "we have decided", "going with", "we'll go with", "we will go with", "i'll own", "i will own",
    "i own", "ownership", "i'm making the call", "i am making the call", "i'm taking the call", "my call",
    "the call:", "final call", "we will use", "we'll use", "we will adopt", "we'll adopt", "we will build",
    "we'll build", "we will ship", "we'll ship", "we will proceed", "we'll proceed", "we will deploy",
    "we'll deploy", "we will run", "we'll run", "we shall", "i'm choosing", "i'm selecting", "i'm approving",
    "verdict:", "approved", "go/no-go:", "go or no-go:", "the plan is", "the plan will be", "i'll take responsib",
    "i will take responsib", "i'll be accountab", "responsibility", "accountab[a-z]*", "we go with", "our decision",
    "decided:", "i'm deciding", "no-go", "i own the outcome", "i'll own the outcome")
_DECLINES = _lex(
    "leave the final call", "leave the call", "leave the decision", "leave the final decision",
    "not mine to settle", "not mine to decide", "not my call", "not my decision", "up to the team",
    "up to you", "your call", "the team to decide", "the team should decide", "the team can decide",
    "i won't make the call", "i won't decide", "i'd rather not decide", "i don't think this is mine")


# A card's own modes and roles are judged by the canonical detector their name or description is
# closest to (first match wins); canonical names map to themselves.
_MODE_KINDS: list[tuple[str, str]] = [
    ("informative", r"\b(?:inform\w*|present\w*|explain\w*|without advocat\w*|educat\w*|options?\b)"),
    ("critical", r"\b(?:critic\w*|audit\w*|review\w*|assess\w* (?:risk|issue)|find\w* (?:issue|flaw)|verif\w*|"
                 r"red[- ]team\w*|adversar\w*)"),
    ("evaluative", r"\b(?:evaluat\w*|converg\w*|weigh\w*|compar\w*|select\w*|decid\w*|recommend\w*|"
                   r"trade-?offs?|choos\w*|rank\w*)"),
    ("generative", r"\b(?:generat\w*|design\w*|creat\w*|innovat\w*|build\w*|diverg\w*|propos\w*|ideat\w*)"),
]
_ROLE_KINDS: list[tuple[str, str]] = [
    ("input_provider", r"\b(?:input|advis\w*|consult\w*|without deciding|provide expertise|expert witness)"),
    ("auditor", r"\b(?:audit\w*|review\w*|adversar\w*|verif\w*|challeng\w*|critic\w*|red[- ]team)"),
    ("decision_maker", r"\b(?:decid\w*|decision|tie-?break\w*|select\w*|synthes\w*|own\w* (?:the )?outcome|arbit\w*|"
                       r"final call)"),
    ("panel_member", r"\b(?:panel\w*|stake\w*|position|strateg\w*|debat\w*|argu\w*)"),
    ("solo", r"\b(?:solo|alone|comprehensive|independent\w*|flag all|advisee)"),
]


def _kind_of(name: str, description: str, kinds: list[tuple[str, str]]) -> str | None:
    names = [k for k, _ in kinds]
    if name in names:
        return name
    for text in (name.replace("_", " "), description):
        for kind, rx in kinds:
            if re.search(rx, text, re.I):
                return kind
    return None


class AdherenceSpec:
    """Mode and role detectors; the card's own mode/role names map to the closest canonical detector."""

    def __init__(self, card: AgentCard | None = None) -> None:
        self.mode_kind: dict[str, str | None] = {}
        self.role_kind: dict[str, str | None] = {}
        if card is not None:
            for m in card.modes:
                self.mode_kind[m] = _kind_of(m, card.mode_description(m) + " " + card.cognitive_modes[m].output,
                                             _MODE_KINDS)
            for r in card.roles:
                self.role_kind[r] = _kind_of(r, card.ensemble_roles[r], _ROLE_KINDS)

    def mode(self, mode: str, doc: Doc, uncertainty: str | None) -> Verdict:
        """Judge cognitive-mode adherence for ``mode``."""
        kind = self.mode_kind.get(mode, mode)
        fn = _MODE_FNS.get(kind) if kind else None
        if fn is None:
            return Verdict(False, True, f"no detector for mode '{mode}'")
        if not has_content(doc.text):
            return Verdict(True, False, "empty response")
        v = fn(doc)
        if kind != mode:
            v = Verdict(v.applicable, v.ok, f"mode '{mode}' judged as {kind}: {v.reason}")
        return v

    def role(self, role: str, doc: Doc, uncertainty: str | None, scenario: Scenario | None) -> Verdict:
        """Judge ensemble-role adherence for ``role``."""
        kind = self.role_kind.get(role, role)
        if kind is not None and kind != role:
            v = self.role(kind, doc, uncertainty, scenario)
            return Verdict(v.applicable, v.ok, f"role '{role}' judged as {kind}: {v.reason}")
        if not has_content(doc.text):
            return Verdict(True, False, "empty response")
        if role == "solo":
            return _solo(doc, uncertainty)
        if role == "panel_member":
            return _panel_member(doc)
        if role == "auditor":
            return _auditor(doc)
        if role == "input_provider":
            return _input_provider(doc)
        if role == "decision_maker":
            return _decision_maker(doc, scenario)
        return Verdict(False, True, f"no detector for role '{role}'")


def _strip_headings(prose: str) -> str:
    if "#" not in prose:
        return prose
    return re.sub(r"^[ \t]*#{1,6}[^\n]*$", "", prose, flags=re.M)


def _informative(doc: Doc) -> Verdict:
    prose = _prose(doc)
    adv = _hits(_ADVOCACY, _strip_headings(prose), cond_ok=False, limit=1, post_cond=True, index=doc.index)
    if adv:
        return Verdict(True, False, f"advocates an option: '{adv[0]}'")
    if _OPTIONS.count(prose, 2, index=doc.index) < 2:
        return Verdict(True, False, "does not present options with tradeoffs")
    return Verdict(True, True, "presents options without advocating one")


def _evaluative(doc: Doc) -> Verdict:
    prose = _prose(doc)
    rec = _hits(_RECOMMEND, _strip_headings(prose), limit=1, index=doc.index)
    if not rec:
        return Verdict(True, False, "no recommendation")
    if _COMPARE.search(prose, index=doc.index) is None:
        return Verdict(True, False, "recommendation without a comparison")
    return Verdict(True, True, f"recommends ('{rec[0]}') with a comparison")


def _critical(doc: Doc) -> Verdict:
    prose = _prose(doc)
    strong = _hits(_STRONG_FINDING, prose, limit=1, index=doc.index)
    if strong:
        return Verdict(True, True, f"gives findings ('{strong[0].strip()}')")
    if _hits(_NO_FINDINGS, prose, neg_ok=True, limit=1, index=doc.index):
        return Verdict(True, False, "reports no findings or issues")
    if len(_hits(_FINDINGS, prose, limit=3, index=doc.index)) >= 3:
        return Verdict(True, True, "gives findings")
    return Verdict(True, False, "no findings or issues identified")


def _generative(doc: Doc) -> Verdict:
    prose = _prose(doc)
    if _DECLINE_DESIGN.search(prose, index=doc.index):
        return Verdict(True, False, "declines to give a design")
    words = prose.count(" ") + prose.count("\n")
    if words < 60:
        return Verdict(True, False, "too short to give a design with an implementation strategy")
    steps = len(_LIST_ITEM.findall(prose)) + 2 * len(doc.headings) + len(_BOLD_LEAD.findall(prose))
    if steps < 3:
        return Verdict(True, False, "no concrete design with an implementation strategy")
    concrete = prose.count("`") // 2 + len(_DIGITS.findall(prose, 0, 4000)) + _TOOLS.count(prose, 6, index=doc.index)
    if concrete < 4:
        return Verdict(True, False, "generic principles, no concrete architecture or implementation")
    return Verdict(True, True, "gives a structured, concrete design with steps")


_MODE_FNS: dict[str, Callable[[Doc], Verdict]] = {
    "informative": _informative,
    "evaluative": _evaluative,
    "critical": _critical,
    "generative": _generative,
}


def _solo(doc: Doc, uncertainty: str | None) -> Verdict:
    if uncertainty is not None:
        u = strip_markup(uncertainty).strip().lower()
        if has_content(u) and not re.match(r"^(?:none|n/?a|nil|no(?:ne)? (?:known|significant|major)?\b.{0,20}$|"
                                           r"-|—|nothing)\W*$", u):
            return Verdict(True, True, "flags uncertainties in the Uncertainty Factors field")
    prose = _LABEL_PREFIX.sub(" ", _prose(doc))
    hits = _hits(_UNCERTAIN, prose, neg_ok=True, limit=1, index=doc.index)
    if hits:
        return Verdict(True, True, f"flags uncertainties in prose ('{hits[0]}')")
    return Verdict(True, False, "flags no uncertainties")


def _panel_member(doc: Doc) -> Verdict:
    prose = _strip_headings(_prose(doc))
    pos = _hits(_POSITION, prose, limit=1, index=doc.index)
    if pos:
        return Verdict(True, True, f"stakes a position ('{pos[0]}')")
    if _HEDGE_ONLY.search(prose, index=doc.index):
        return Verdict(True, False, "hedges without taking a position")
    return Verdict(True, False, "no clear position")


def _auditor(doc: Doc) -> Verdict:
    prose = _prose(doc)
    strong = _hits(_CHALLENGE_STRONG, prose, neg_ok=True, limit=1, index=doc.index)
    if strong:
        return Verdict(True, True, f"verifies or challenges claims ('{strong[0]}')")
    if _ACCEPTS_ON_FAITH.search(prose, index=doc.index):
        return Verdict(True, False, "accepts claims without verifying them")
    weak = _hits(_CHALLENGE_WEAK, prose, neg_ok=True, limit=3, index=doc.index)
    if len(weak) >= 3:
        return Verdict(True, True, f"checks claims ('{weak[0]}')")
    return Verdict(True, False, "does not verify or challenge claims")


def _input_provider(doc: Doc) -> Verdict:
    prose = _strip_headings(_prose(doc))
    dec = _hits(_DECIDES, prose, limit=1, index=doc.index, not_after=_OTHERS)
    defer = _hits(_DEFERS, prose, neg_ok=True, limit=5, index=doc.index)
    if dec and not defer:
        return Verdict(True, False, f"decides the architecture ('{dec[0]}')")
    if dec and defer:
        strong = _hits(_STRONG_DEFER, prose, neg_ok=True, limit=1, index=doc.index)
        if strong:
            return Verdict(True, True, f"defers the decision ('{strong[0]}')")
        return Verdict(True, False, f"decides the architecture ('{dec[0]}')")
    return Verdict(True, True, "provides input without deciding" + (f" ('{defer[0]}')" if defer else ""))


def _decision_maker(doc: Doc, scenario: Scenario | None) -> Verdict:
    prose = _strip_headings(_prose(doc))
    declines = _hits(_DECLINES, prose, limit=1, index=doc.index)
    if declines:
        return Verdict(True, False, f"declines to own the decision ('{declines[0]}')")
    owns = _hits(_OWNS, prose, limit=1, index=doc.index)
    if not owns:
        return Verdict(True, False, "does not own a decision")
    synth = _SYNTH.search(prose, index=doc.index) is not None
    if not synth and scenario is not None:
        for p in scenario.panel:
            key = p.who.lower().split("(")[0].strip()
            if key and key in prose:
                synth = True
                break
    if not synth:
        return Verdict(True, False, "decides without synthesising the inputs")
    return Verdict(True, True, f"synthesises inputs and owns the decision ('{owns[0]}')")


# ------------------------------------------------------------------------------------- task

@dataclass
class ElementResult:
    """Whether one planted defect / required element was found."""

    id: str
    kind: str  # "defect" or "element"
    rule: str | None
    found: bool
    hits: int
    need: int


class TaskSpec:
    """A scenario's evidence regexes compiled once (keyed by scenario content)."""

    def __init__(self, scenario: Scenario) -> None:
        self.items: list[tuple[Evidence, str, list[tuple[re.Pattern[str], set[str] | None]]]] = []
        for kind, lst in (("defect", scenario.expect.planted_defects), ("element", scenario.expect.required_elements)):
            for ev in lst:
                pats: list[tuple[re.Pattern[str], set[str] | None]] = []
                for p in ev.evidence:
                    try:
                        pats.append((re.compile(p, re.I | re.S), required_literals(p)))
                    except re.error:
                        continue
                self.items.append((ev, kind, pats))

    def check(self, doc: Doc) -> list[ElementResult]:
        """Evaluate every element against the response (patterns whose required words are absent are
        skipped without scanning)."""
        out: list[ElementResult] = []
        low = doc.low
        for ev, kind, pats in self.items:
            hits = 0
            for p, req in pats:
                if req is not None and not any(x in low for x in req):
                    continue
                if p.search(doc.text):
                    hits += 1
                    if hits >= ev.min_evidence:
                        break
            out.append(ElementResult(ev.id, kind, ev.rule, hits >= ev.min_evidence, hits, ev.min_evidence))
        return out
